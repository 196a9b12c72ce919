package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
)

// defaultAgentDataDir is the agent's data dir when none is given.
const defaultAgentDataDir = "/var/lib/podvisor/agent"

func newImagesCommand() *cobra.Command {
	var dataDir string
	open := func() (*image.Store, error) {
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return image.New(image.Config{Root: image.RootIn(dataDir)}, image.Deps{Logger: log})
	}
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Manage the node's container images",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", defaultAgentDataDir, "agent data directory")
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE...",
		Short: "Import images from `docker save` or OCI layout archives",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			for _, f := range args {
				ims, err := s.Import(context.Background(), f)
				if err != nil {
					return fmt.Errorf("importing %s: %w", f, err)
				}
				for _, im := range ims {
					fmt.Fprintf(c.OutOrStdout(), "imported %s %s\n", shortID(im.ID), strings.Join(im.RepoTags, " "))
				}
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			ims, err := s.List()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tTAG\tIMAGE ID\tSIZE")
			for _, im := range ims {
				tags := im.RepoTags
				if len(tags) == 0 {
					tags = []string{"<none>:<none>"}
				}
				for _, t := range tags {
					i := strings.LastIndex(t, ":")
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t[:i], t[i+1:], shortID(im.ID), humanSize(im.Size))
				}
			}
			return tw.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "rm REF...",
		Aliases: []string{"remove"},
		Short:   "Remove images (by reference or ID) that no container uses",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			for _, ref := range args {
				im, err := s.Get(ref)
				if err != nil {
					return err
				}
				if err := s.Remove(ref); err != nil {
					return err
				}
				fmt.Fprintf(c.OutOrStdout(), "deleted %s\n", shortID(im.ID))
			}
			return nil
		},
	})
	var busyboxPath string
	bb := &cobra.Command{
		Use:    "build-busybox",
		Short:  "Build the busybox image from the host's busybox-static and store it (used by make run)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			img, err := busybox.Build(busyboxPath)
			if err != nil {
				return err
			}
			im, err := s.Add(context.Background(), img, []string{busybox.Ref})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "stored %s %s\n", shortID(im.ID), busybox.Ref)
			return nil
		},
	}
	bb.Flags().StringVar(&busyboxPath, "busybox", "/bin/busybox", "static busybox binary")
	cmd.AddCommand(bb)
	return cmd
}

func shortID(id string) string {
	h := strings.TrimPrefix(id, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fkB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
