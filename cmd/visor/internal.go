package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/isolate"
)

// errSentryNotWired is what `visor boot` reports until the Sentry
// (internal/sandbox/boot) is wired in below; `visor create` shows it as
// the reason the sandbox exited during start.
var errSentryNotWired = errors.New("this visor build has no Sentry yet (internal/sandbox/boot is not wired into cmd/visor)")

// errGoferNotWired is the gofer's counterpart.
var errGoferNotWired = errors.New("this visor build has no gofer yet (internal/sandbox/gofer is not wired into cmd/visor)")

// newBootCommand is `visor boot`, the sandbox process started by `visor
// create` (see docs/visor.md for its namespaces and descriptors).
func newBootCommand() *cobra.Command {
	var configFD int
	cmd := &cobra.Command{
		Use:    "boot --config-fd N",
		Short:  "internal: the Sentry process of one sandbox",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBoot(configFD)
		},
	}
	cmd.Flags().IntVar(&configFD, "config-fd", 3, "descriptor to read the boot configuration from")
	return cmd
}

func runBoot(configFD int) error {
	f := os.NewFile(uintptr(configFD), "boot-config")
	cfg, err := bootconfig.Read(f)
	f.Close()
	if err != nil {
		// No log descriptor is known yet; the host side reports boot's
		// exit status.
		return &sandboxError{err}
	}
	logf := os.NewFile(uintptr(cfg.FDs.Log), "log")
	debug.SetCrashOutput(logf, debug.CrashOptions{})
	log := sandboxLogger(logf, cfg.LogFormat, cfg.Debug).With("container", cfg.ContainerID, "proc", "boot")
	fail := func(err error) error {
		log.Error("sandbox start failed", "err", err)
		return &sandboxError{err}
	}
	host := cfg.Hostname
	if host == "" {
		host = "visor"
	}
	if err := unix.Sethostname([]byte(host)); err != nil {
		return fail(fmt.Errorf("setting hostname: %w", err))
	}
	// Wiring point (the lead): open what the Sentry needs from the host
	// first (e.g. /dev/kvm, AF_PACKET sockets on the pod's interfaces),
	// then isolate, then build the Sentry from cfg, install its seccomp
	// filter and serve control on cfg.FDs.Control:
	//
	//	s, err := boot.New(cfg, ...)
	//	isolate.EnterEmptyRoot(...); isolate.DropCapabilities(nil)
	//	s.Confine()
	//	ln, _ := control.FileListener(os.NewFile(uintptr(cfg.FDs.Control), "control"))
	//	go control.NewServer(s, log, "sentry").Serve(ctx, ln)
	//	status := s.WaitInit(); bootconfig.WriteExitStatus(exitFile, status); os.Exit(status.ExitCode())
	if err := isolate.EnterEmptyRoot(isolate.RootOptions{}); err != nil {
		return fail(err)
	}
	if err := isolate.DropCapabilities(nil); err != nil {
		return fail(err)
	}
	return fail(errSentryNotWired)
}

// newGoferCommand is `visor gofer`, the file server of one sandbox.
func newGoferCommand() *cobra.Command {
	var configFD int
	cmd := &cobra.Command{
		Use:    "gofer --config-fd N",
		Short:  "internal: the file server (Gofer) of one sandbox",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := os.NewFile(uintptr(configFD), "gofer-config")
			cfg, err := bootconfig.ReadGofer(f)
			f.Close()
			if err != nil {
				return &sandboxError{err}
			}
			logf := os.NewFile(uintptr(cfg.FDs.Log), "log")
			debug.SetCrashOutput(logf, debug.CrashOptions{})
			log := sandboxLogger(logf, cfg.LogFormat, cfg.Debug).With("container", cfg.ContainerID, "proc", "gofer")
			// Wiring point (the lead): gofer.Serve(cfg, ...) confines
			// itself to cfg.Root and serves cfg.FDs.Sockets until the
			// Sentry closes them.
			log.Error("gofer start failed", "err", errGoferNotWired)
			return &sandboxError{errGoferNotWired}
		},
	}
	cmd.Flags().IntVar(&configFD, "config-fd", 3, "descriptor to read the gofer configuration from")
	return cmd
}

// sandboxLogger logs to the sandbox log in the CLI's format.
func sandboxLogger(w *os.File, format string, debugOn bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if debugOn {
		opts.Level = slog.LevelDebug
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
