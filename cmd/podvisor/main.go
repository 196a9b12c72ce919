// Command podvisor is the orchestrator's single binary: `podvisor server`
// runs the control plane, `podvisor agent` a node, and `podvisor kubectl`
// the real kubectl preconfigured for the local cluster. It only parses
// flags and wires packages from internal/ together.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	// kubectl owns its whole command line, flags included, so it is
	// dispatched before cobra sees the arguments.
	if len(os.Args) > 1 && os.Args[1] == "kubectl" {
		os.Exit(runKubectl(os.Args[2:]))
	}
	// The per-container shim is started once per container: skip cobra.
	if len(os.Args) > 1 && os.Args[1] == shimCommand {
		os.Exit(runShim(os.Args[2:]))
	}
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "podvisor:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "podvisor",
		Short:         "A Kubernetes-compatible orchestrator with a sandboxed runtime",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServerCommand())
	root.AddCommand(newAgentCommand())
	root.AddCommand(newTokenCommand())
	root.AddCommand(&cobra.Command{
		Use:                "kubectl [args...]",
		Short:              "Run kubectl against the local cluster (admin kubeconfig by default)",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			os.Exit(runKubectl(args))
			return nil
		},
	})
	root.AddCommand(newImagesCommand())
	root.AddCommand(&cobra.Command{
		Use:    shimCommand,
		Short:  "Per-container monitor started by the agent (internal)",
		Hidden: true,
		// Dispatched in main before cobra; listed here so that help and
		// unknown-command errors know it.
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			os.Exit(runShim(args))
			return nil
		},
	})
	return root
}
