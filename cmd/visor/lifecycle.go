package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/console"
	"github.com/podvisor/podvisor/internal/sandbox/container"
)

// createFlags are shared by create and run.
type createFlags struct {
	bundle        string
	pidFile       string
	consoleSocket string
	// testOnlyOpenHostFile is the hidden --TESTONLY-open-host-file: the
	// Sentry tries to open this host file after confinement and logs
	// the refusal (see bootconfig.Config.TestOnlyOpenHostFile).
	testOnlyOpenHostFile string
}

func (c *createFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&c.bundle, "bundle", "b", ".", "path to the bundle directory (config.json and rootfs)")
	f.StringVar(&c.pidFile, "pid-file", "", "file to write the sandbox's host PID to")
	f.StringVar(&c.consoleSocket, "console-socket", "", "AF_UNIX socket that receives the pty master of a terminal container")
	f.Bool("no-pivot", false, "accepted for runc compatibility (the sandbox always pivots)")
	f.Bool("no-new-keyring", false, "accepted for runc compatibility (the Sentry has no host keyring)")
	f.StringVar(&c.testOnlyOpenHostFile, "TESTONLY-open-host-file", "", "testing only: the Sentry tries to open this host file before and after its seccomp filter is installed and logs both results")
	f.MarkHidden("TESTONLY-open-host-file")
}

func oneID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s needs exactly one container ID, got %d arguments", cmd.Name(), len(args))
	}
	return nil
}

func newCreateCommand(g *globals) *cobra.Command {
	var cf createFlags
	cmd := &cobra.Command{
		Use:   "create [flags] ID",
		Short: "create a container from a bundle; its process starts with `visor start`",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			c, err := rt.Create(cmd.Context(), args[0], container.CreateOptions{
				Bundle: cf.bundle, PIDFile: cf.pidFile, ConsoleSocket: cf.consoleSocket,
				Stdio:                [3]*os.File{os.Stdin, os.Stdout, os.Stderr},
				TestOnlyOpenHostFile: cf.testOnlyOpenHostFile,
			})
			if err != nil {
				return err
			}
			c.Close()
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}

func newStartCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start ID",
		Short: "start the process of a created container",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			return rt.Start(cmd.Context(), args[0])
		},
	}
}

func newStateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state ID",
		Short: "print the container's OCI state as JSON",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			info, err := rt.State(args[0])
			if err != nil {
				return err
			}
			return printJSON(info)
		},
	}
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newKillCommand(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [--all] ID [SIGNAL]",
		Short: "send a signal (default SIGTERM) to the container's process, or all its processes",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("kill needs a container ID and optionally a signal, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				s, err := parseSignal(args[1])
				if err != nil {
					return err
				}
				sig = s
			}
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			return rt.Kill(cmd.Context(), args[0], sig, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "send the signal to every process of the container")
	return cmd
}

// parseSignal accepts "KILL", "SIGKILL", "sigkill" and "9".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range 1..64", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func newDeleteCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [--force] ID",
		Short: "delete a stopped or created container; --force kills a running one",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			return rt.Delete(cmd.Context(), args[0], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container if it is running")
	return cmd
}

func newRunCommand(g *globals) *cobra.Command {
	var cf createFlags
	var detach bool
	cmd := &cobra.Command{
		Use:   "run [flags] ID",
		Short: "create and start a container; in the foreground, wait for it, delete it and exit with its code",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			return runContainer(cmd.Context(), rt, args[0], cf, detach)
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return after starting the container")
	return cmd
}

// runContainer is `visor run`: create, start, and in the foreground
// forward signals, proxy the terminal, wait, delete and pass the exit code
// on (as an *exitError).
func runContainer(ctx context.Context, rt *container.Runtime, id string, cf createFlags, detach bool) error {
	c, err := rt.Create(ctx, id, container.CreateOptions{
		Bundle: cf.bundle, PIDFile: cf.pidFile, ConsoleSocket: cf.consoleSocket,
		KeepConsole:          !detach && cf.consoleSocket == "",
		Stdio:                [3]*os.File{os.Stdin, os.Stdout, os.Stderr},
		TestOnlyOpenHostFile: cf.testOnlyOpenHostFile,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := rt.Start(ctx, id); err != nil {
		rt.Delete(context.WithoutCancel(ctx), id, true)
		return err
	}
	if detach {
		return nil
	}
	st, err := foreground(ctx, c.Console,
		func(sig unix.Signal) error { return rt.Kill(ctx, id, sig, false) },
		func(ctx context.Context) (bootconfig.ExitStatus, error) { return rt.Wait(ctx, c) })
	if derr := rt.Delete(context.WithoutCancel(ctx), id, true); derr != nil && err == nil {
		err = derr
	}
	if err != nil {
		return err
	}
	return &exitError{st}
}

// foreground forwards the CLI's signals to the process (resizing the
// terminal on SIGWINCH), proxies the terminal if there is one, and waits.
func foreground(ctx context.Context, master *os.File, signalFn func(unix.Signal) error, wait func(context.Context) (bootconfig.ExitStatus, error)) (bootconfig.ExitStatus, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 32)
	// Everything a user can send, except what the Go runtime or the
	// terminal machinery needs for itself.
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
		unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGALRM)
	defer signal.Stop(sigs)

	done := make(chan struct{})
	defer func() { <-done }()
	var proxyErr error
	if master != nil {
		if console.IsTerminal(os.Stdin) {
			if sz, err := console.GetSize(os.Stdin); err == nil {
				console.SetSize(master, sz)
			}
			if restore, err := console.MakeRaw(os.Stdin); err == nil {
				defer restore()
			}
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				sig := s.(unix.Signal)
				if sig == unix.SIGWINCH {
					if master != nil {
						if sz, err := console.GetSize(os.Stdin); err == nil {
							console.SetSize(master, sz)
						}
					}
					continue
				}
				signalFn(sig) // a process already gone is not an error here
			}
		}
	}()
	proxyDone := make(chan struct{})
	if master != nil {
		go func() {
			defer close(proxyDone)
			proxyErr = console.Proxy(ctx, master, os.Stdin, os.Stdout)
		}()
	} else {
		close(proxyDone)
	}
	st, err := wait(ctx)
	if master != nil {
		// Let the output drain: the proxy ends when the sandbox closes the
		// slave, or shortly after the process ended.
		select {
		case <-proxyDone:
		case <-time.After(time.Second):
			cancel()
			<-proxyDone
		}
	}
	cancel()
	if err == nil {
		err = proxyErr
	}
	return st, err
}

func newListCommand(g *globals) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			infos, err := rt.List()
			if err != nil {
				return err
			}
			switch {
			case quiet:
				for _, i := range infos {
					fmt.Println(i.ID)
				}
				return nil
			case format == "json":
				if infos == nil {
					infos = []*container.Info{}
				}
				return printJSON(infos)
			case format == "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, i := range infos {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", i.ID, i.Pid, i.Status, i.Bundle, i.Created.Format(time.RFC3339Nano), i.Owner)
				}
				return w.Flush()
			}
			return fmt.Errorf("--format %q: want table or json", format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only IDs")
	return cmd
}
