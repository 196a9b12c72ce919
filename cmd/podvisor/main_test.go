package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/podvisor/podvisor/internal/agent"
)

// TestCommandsBuild builds the whole command tree and asks every command
// for its help: a flag defined twice (pflag panics) or a command that
// cannot describe itself fails here, not in a user's terminal.
func TestCommandsBuild(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.DisableFlagParsing {
			return
		}
		var out bytes.Buffer
		c.SetOut(&out)
		if err := c.Help(); err != nil {
			t.Errorf("%s --help: %v", c.CommandPath(), err)
		}
		if !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%s --help printed no usage:\n%s", c.CommandPath(), out.String())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
}

// TestServerFlags checks that the server command binds the controller
// manager's and the scheduler's flags and shares --cluster-cidr with the
// agent.
func TestServerFlags(t *testing.T) {
	cmd := newServerCommand()
	for _, name := range []string{"cluster-cidr", "controllers", "disable-controller-manager", "node-monitor-grace-period",
		"allocate-node-cidrs", "loadbalancer-ip-pool", "local-path-root", "disable-agent", "disable-scheduler", "scheduler-name"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("podvisor server has no --%s", name)
		}
	}
}

// TestAgentFlagChecks checks --route-protocol and --stats-interval on
// both commands that run an agent: parsed from the command line, checked
// by checkAgentFlags, defaults shown in the help.
func TestAgentFlagChecks(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error; "" means accepted
	}{
		{name: "defaults"},
		{name: "routes off", args: []string{"--route-protocol=-1"}},
		{name: "own protocol", args: []string{"--route-protocol=200"}},
		{name: "lowest allowed protocol", args: []string{"--route-protocol=5"}},
		{name: "static routes' protocol", args: []string{"--route-protocol=4"}, want: "--route-protocol 4: 0-4 are the kernel's"},
		{name: "unspec", args: []string{"--route-protocol=0"}, want: "--route-protocol 0"},
		{name: "too big", args: []string{"--route-protocol=256"}, want: "--route-protocol 256: want a routing protocol number 5-255, or -1"},
		{name: "too negative", args: []string{"--route-protocol=-2"}, want: "--route-protocol -2"},
		{name: "one second", args: []string{"--stats-interval=1s"}},
		{name: "a minute", args: []string{"--stats-interval=1m"}},
		{name: "too often", args: []string{"--stats-interval=500ms"}, want: "--stats-interval 500ms: want at least 1s"},
		{name: "zero", args: []string{"--stats-interval=0"}, want: "--stats-interval 0s: want at least 1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg agent.Config
			var dns string
			fs := pflag.NewFlagSet("agent", pflag.ContinueOnError)
			addAgentFlags(fs, &cfg, &dns)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatalf("parsing %v: %v", tc.args, err)
			}
			err := checkAgentFlags(&cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkAgentFlags: %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkAgentFlags: %v, want an error containing %q", err, tc.want)
			}
			if tc.want == "" {
				return
			}
			// Both commands refuse the value before starting anything.
			for _, cmd := range []*cobra.Command{newAgentCommand(), newServerCommand()} {
				cmd.SetArgs(append([]string{"--log-level=error"}, tc.args...))
				cmd.SetOut(io.Discard)
				cmd.SetErr(io.Discard)
				if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("podvisor %s %v: %v, want an error containing %q", cmd.Name(), tc.args, err, tc.want)
				}
			}
		})
	}
}

// TestAgentFlagDefaults checks the defaults of the agent flags both
// commands share, as their help shows them.
func TestAgentFlagDefaults(t *testing.T) {
	for _, cmd := range []*cobra.Command{newAgentCommand(), newServerCommand()} {
		var out bytes.Buffer
		cmd.SetOut(&out)
		if err := cmd.Help(); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"--route-protocol int", "-1 disables node routes", "(default 112)",
			"--stats-interval duration", "at least 1s", "(default 10s)",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s --help does not say %q:\n%s", cmd.Name(), want, out.String())
			}
		}
	}
}
