package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/boot"
	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/control"
	"github.com/podvisor/podvisor/internal/sandbox/gofer"
	"github.com/podvisor/podvisor/internal/sandbox/isolate"
	"github.com/podvisor/podvisor/internal/sandbox/seccomp"
)

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
	exitf := os.NewFile(uintptr(cfg.FDs.ExitStatus), "exit-status")
	fail := func(err error) error {
		log.Error("sandbox start failed", "err", err)
		// The host side reports this as create's error.
		if werr := bootconfig.WriteExitStatus(exitf, bootconfig.ExitStatus{Code: 1, StartError: err.Error()}); werr != nil {
			log.Error("recording the start error", "err", werr)
		}
		return &sandboxError{err}
	}
	host := cfg.Hostname
	if host == "" {
		host = "visor"
	}
	if err := unix.Sethostname([]byte(host)); err != nil {
		return fail(fmt.Errorf("setting hostname: %w", err))
	}
	var probe *boot.HostOpenProbe
	if cfg.TestOnlyOpenHostFile != "" {
		if probe, err = boot.NewHostOpenProbe(cfg.TestOnlyOpenHostFile); err != nil {
			return fail(err)
		}
		defer probe.Close()
	}
	// Nothing of the host is reachable by path from here on: the Sentry
	// is built from inherited descriptors only (the Gofer connections,
	// stdio, the control socket), then confined with seccomp.
	if err := isolate.EnterEmptyRoot(isolate.RootOptions{}); err != nil {
		return fail(err)
	}
	if err := isolate.DropCapabilities(nil); err != nil {
		return fail(err)
	}
	ctx := context.Background()
	s, err := boot.FromConfig(ctx, cfg, log)
	if err != nil {
		return fail(err)
	}
	ln, err := control.FileListener(os.NewFile(uintptr(cfg.FDs.Control), "control"))
	if err != nil {
		s.Shutdown(ctx)
		return fail(err)
	}
	var stdio [3]*os.File
	for i, fd := range cfg.FDs.Stdio {
		if fd >= 0 {
			stdio[i] = os.NewFile(uintptr(fd), fmt.Sprintf("stdio-%d", i))
		}
	}
	ctl := boot.NewController(s, cfg.Process, stdio)
	confine := boot.ConfineOptions{Extra: boot.ControlRules()}
	if cfg.Debug {
		// A call missing from the allow-list crashes with a Go stack
		// trace in the sandbox log instead of a silent kill.
		confine.DefaultAction = seccomp.Trap
	}
	if probe != nil {
		logProbe(log, probe, false)
	}
	if err := s.Confine(confine); err != nil {
		s.Shutdown(ctx)
		return fail(err)
	}
	log.Info("sentry confined", "platform", cfg.Platform)
	if probe != nil {
		logProbe(log, probe, true)
	}
	srvCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- control.NewServer(ctl, log, "sentry").Serve(srvCtx, ln) }()
	<-ctl.Done()
	status, err := ctl.Wait(ctx, 0)
	if err != nil {
		log.Error("waiting for the first process", "err", err)
	}
	s.Shutdown(ctx)
	if err := bootconfig.WriteExitStatus(exitf, status); err != nil {
		log.Error("recording the exit status", "err", err)
	}
	stop()
	if err := <-served; err != nil {
		log.Warn("control server", "err", err)
	}
	log.Info("sandbox exited", "status", status.String())
	return &exitError{status}
}

// logProbe logs the test-only host open attempt (--TESTONLY-open-host-file)
// with a fixed message the confinement test looks for.
func logProbe(log *slog.Logger, probe *boot.HostOpenProbe, confined bool) {
	if err := probe.TryOpen(); err != nil {
		log.Warn("TESTONLY host file open", "path", probe.Path(), "confined", confined, "result", "refused", "err", err)
		return
	}
	log.Warn("TESTONLY host file open", "path", probe.Path(), "confined", confined, "result", "opened")
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
			if err := gofer.Main(cmd.Context(), cfg, log); err != nil {
				log.Error("gofer failed", "err", err)
				return &sandboxError{err}
			}
			return nil
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
