package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/podvisor/podvisor/internal/sandbox/container"
)

// globals are the flags every command shares (runc's global flags).
type globals struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	platform      string
	strace        bool
	systemdCgroup bool
	// sandboxBinary replaces the visor binary as `boot` and `gofer`
	// (hidden; tests use a stand-in).
	sandboxBinary string
	// logFile is the opened --log (closed by the root command).
	logFile *os.File
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:               "visor",
		Short:             "visor runs OCI containers in a gVisor-style sandbox",
		Long:              "visor runs OCI containers on a user-space kernel (the Sentry): the application's\nsystem calls never reach the host kernel. Its command line is runc's.",
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPostRun: func(*cobra.Command, []string) {
			if g.logFile != nil {
				g.logFile.Close()
			}
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&g.root, "root", "/run/visor", "directory for container state")
	f.StringVar(&g.log, "log", "", "log file (default: stderr); the sandbox processes log there too")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.debug, "debug", false, "debug logging, for visor and the Sentry")
	f.StringVar(&g.platform, "platform", "ptrace", "how the Sentry traps system calls: ptrace (kvm later)")
	f.BoolVar(&g.strace, "strace", false, "log every system call of the application (to the sandbox log)")
	f.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "use systemd cgroup paths (not supported: visor uses cgroupfs)")

	f.StringVar(&g.sandboxBinary, "sandbox-binary", "", "binary to run as boot and gofer (testing)")
	f.MarkHidden("sandbox-binary")

	root.AddCommand(
		newCreateCommand(g), newStartCommand(g), newStateCommand(g), newKillCommand(g),
		newDeleteCommand(g), newRunCommand(g), newExecCommand(g), newPsCommand(g),
		newListCommand(g), newEventsCommand(g), newDoCommand(g),
		newBootCommand(), newGoferCommand(),
	)
	return root
}

// logger builds the CLI's logger from --log, --log-format and --debug.
func (g *globals) logger() (*slog.Logger, error) {
	var w io.Writer = os.Stderr
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("opening log %s: %w", g.log, err)
		}
		g.logFile = f
		w = f
	}
	level := slog.LevelWarn
	if g.debug {
		level = slog.LevelDebug
	} else if g.log != "" {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", g.logFormat)
	}
}

// runtime builds the container runtime from the global flags.
func (g *globals) runtime() (*container.Runtime, error) {
	if g.systemdCgroup {
		return nil, fmt.Errorf("--systemd-cgroup is not supported: visor manages cgroupfs paths itself")
	}
	if g.platform != "ptrace" {
		return nil, fmt.Errorf("--platform %q: only ptrace is available", g.platform)
	}
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	return container.New(container.Config{
		Root: g.root, Binary: g.sandboxBinary, LogPath: g.log, LogFormat: g.logFormat, Debug: g.debug, Strace: g.strace, Platform: g.platform,
	}, log)
}
