package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/console"
	"github.com/podvisor/podvisor/internal/sandbox/container"
)

func newExecCommand(g *globals) *cobra.Command {
	var (
		processFile, consoleSocket, pidFile, cwd, user string
		env                                            []string
		groups                                         []string
		tty, detach                                    bool
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] ID [COMMAND [ARGS...]]",
		Short: "run a new process in a running container; in the foreground, exit with its code",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return fmt.Errorf("exec needs a container ID")
			}
			if processFile == "" && len(args) < 2 {
				return fmt.Errorf("exec needs a command (or --process)")
			}
			if processFile != "" && len(args) > 1 {
				return fmt.Errorf("exec takes either --process or a command, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			id := args[0]
			var p bootconfig.Process
			if processFile != "" {
				data, err := os.ReadFile(processFile)
				if err != nil {
					return fmt.Errorf("reading --process: %w", err)
				}
				if p, err = container.ParseProcess(data); err != nil {
					return err
				}
			} else {
				var gids []uint32
				for _, gs := range groups {
					n, err := strconv.ParseUint(gs, 10, 32)
					if err != nil {
						return fmt.Errorf("--additional-gids %q: not a number", gs)
					}
					gids = append(gids, uint32(n))
				}
				if p, err = rt.ExecProcess(id, container.ExecArgs{
					Args: args[1:], Env: env, Cwd: cwd, User: user, AdditionalGIDs: gids, Terminal: tty,
				}); err != nil {
					return err
				}
			}
			if p.Terminal && p.ConsoleSize == nil && consoleSocket == "" && console.IsTerminal(os.Stdin) {
				// A foreground exec's terminal starts with the caller's
				// size (later changes follow SIGWINCH).
				if sz, err := console.GetSize(os.Stdin); err == nil {
					p.ConsoleSize = &bootconfig.ConsoleSize{Height: sz.Rows, Width: sz.Cols}
				}
			}
			return execProcess(cmd.Context(), rt, id, p, consoleSocket, pidFile, detach)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&processFile, "process", "p", "", "process.json (an OCI process object) to run")
	f.StringVar(&consoleSocket, "console-socket", "", "AF_UNIX socket that receives the pty master (with --tty)")
	f.StringVar(&pidFile, "pid-file", "", "file to write the process's PID (inside the sandbox) to")
	f.StringVar(&cwd, "cwd", "", "working directory (default: the container's)")
	f.StringVarP(&user, "user", "u", "", "uid[:gid] (default: the container's user)")
	f.StringArrayVarP(&env, "env", "e", nil, "KEY=value added to the container's environment (repeatable)")
	f.StringSliceVarP(&groups, "additional-gids", "g", nil, "additional group IDs")
	f.BoolVarP(&tty, "tty", "t", false, "give the process a terminal")
	f.BoolVarP(&detach, "detach", "d", false, "do not wait for the process")
	// runc accepts flags after the ID only up to the command; everything
	// after the command belongs to it.
	f.SetInterspersed(false)
	return cmd
}

func execProcess(ctx context.Context, rt *container.Runtime, id string, p bootconfig.Process, consoleSocket, pidFile string, detach bool) error {
	if p.Terminal && detach && consoleSocket == "" {
		return fmt.Errorf("a detached exec with a terminal needs --console-socket")
	}
	e, err := rt.Exec(ctx, id, p, container.ExecOptions{
		Stdio:         [3]*os.File{os.Stdin, os.Stdout, os.Stderr},
		ConsoleSocket: consoleSocket,
		KeepConsole:   p.Terminal && consoleSocket == "",
		PIDFile:       pidFile,
	})
	if err != nil {
		return err
	}
	defer e.Close()
	if detach {
		return nil
	}
	st, err := foreground(ctx, e.Console,
		func(sig unix.Signal) error { return e.Signal(ctx, sig) },
		e.Wait)
	if err != nil {
		return err
	}
	return &exitError{st}
}

func newPsCommand(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [--format table|json] ID",
		Short: "list the processes running in the container (PIDs are the sandbox's)",
		Args:  oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			ps, err := rt.Processes(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				// runc prints the PIDs only; containerd parses that.
				pids := make([]int, 0, len(ps))
				for _, p := range ps {
					pids = append(pids, int(p.PID))
				}
				return json.NewEncoder(os.Stdout).Encode(pids)
			}
			w := tabwriter.NewWriter(os.Stdout, 4, 1, 2, ' ', 0)
			fmt.Fprint(w, "UID\tPID\tPPID\tSTAT\tSTIME\tTTY\tTIME\tCMD\n")
			for _, p := range ps {
				fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", p.UID, p.PID, p.PPID, p.State,
					p.Started.Local().Format("15:04"), p.TTY, cpuTime(p.CPU), p.Cmd)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return cmd
}

func cpuTime(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// event is one line of `visor events`, shaped like runc's.
type event struct {
	Type string           `json:"type"`
	ID   string           `json:"id"`
	Data *container.Stats `json:"data,omitempty"`
}

func newEventsCommand(g *globals) *cobra.Command {
	var stats bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "events [--stats] ID",
		Short: "print the container's stats (cgroup usage, Sentry counters and unimplemented system calls)",
		Long: "events prints one JSON stats event per interval until the container stops;\n" +
			"with --stats it prints one and exits. The Sentry's part lists the system calls\n" +
			"the application made that the Sentry does not implement (ENOSYS), with counts.",
		Args: oneID,
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return fmt.Errorf("--interval must be positive")
			}
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			for {
				s, err := rt.Stats(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if err := enc.Encode(event{Type: "stats", ID: args[0], Data: s}); err != nil {
					return err
				}
				if stats {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&stats, "stats", false, "print stats once and exit")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "how often to print stats")
	return cmd
}
