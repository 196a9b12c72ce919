package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
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
// manager's flags and shares --cluster-cidr with the agent.
func TestServerFlags(t *testing.T) {
	cmd := newServerCommand()
	for _, name := range []string{"cluster-cidr", "controllers", "disable-controller-manager", "node-monitor-grace-period",
		"allocate-node-cidrs", "loadbalancer-ip-pool", "local-path-root", "disable-agent"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("podvisor server has no --%s", name)
		}
	}
}
