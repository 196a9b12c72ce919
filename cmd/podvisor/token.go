package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podvisor/podvisor/internal/server"
)

func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage node join tokens",
	}
	var o server.JoinTokenOptions
	var kubeconfig string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a join token for `podvisor agent --token`",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				kubeconfig = os.Getenv("KUBECONFIG")
			}
			if kubeconfig == "" {
				dir := os.Getenv("PODVISOR_DATA_DIR")
				if dir == "" {
					dir = defaultDataDir
				}
				kubeconfig = filepath.Join(dir, "admin.kubeconfig")
			}
			rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("loading admin kubeconfig %s: %w", kubeconfig, err)
			}
			cs, err := kubernetes.NewForConfig(rc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tok, err := server.CreateJoinToken(ctx, cs, o)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), tok)
			return nil
		},
	}
	f := create.Flags()
	f.DurationVar(&o.TTL, "ttl", 24*time.Hour, "how long the token works (0: forever)")
	f.StringVar(&o.NodeName, "node-name", "", "bind the token to this node name")
	f.StringVar(&o.Description, "description", "", "a note kept with the token")
	f.StringVar(&kubeconfig, "kubeconfig", "", "admin kubeconfig (default: $KUBECONFIG, else <data dir>/admin.kubeconfig)")
	cmd.AddCommand(create)
	return cmd
}
