package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"

	"github.com/podvisor/podvisor/internal/sandbox/console"
	"github.com/podvisor/podvisor/internal/sandbox/container"
)

func newDoCommand(g *globals) *cobra.Command {
	var rootfs string
	cmd := &cobra.Command{
		Use:   "do [--rootfs DIR] -- COMMAND [ARGS...]",
		Short: "run one command sandboxed, seeing the host's files read-only",
		Long: "do runs COMMAND in a new sandbox whose root is the host's / (or --rootfs),\n" +
			"served read-only by the Gofer with an in-memory overlay for writes: the command\n" +
			"may write anywhere, the host is never modified. It has no network but the\n" +
			"Sentry's own loopback. The environment, working directory and user are the\n" +
			"caller's. visor exits with the command's exit code.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime()
			if err != nil {
				return err
			}
			return doCommand(cmd.Context(), rt, g, rootfs, args)
		},
	}
	cmd.Flags().StringVar(&rootfs, "rootfs", "/", "root file system to show the command (read-only, with a memory overlay)")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func doCommand(ctx context.Context, rt *container.Runtime, g *globals, rootfs string, args []string) error {
	rootfs, err := filepath.Abs(rootfs)
	if err != nil {
		return err
	}
	if st, err := os.Stat(rootfs); err != nil || !st.IsDir() {
		return fmt.Errorf("--rootfs %s is not a directory", rootfs)
	}
	cwd, err := os.Getwd()
	if err != nil || rootfs != "/" {
		cwd = "/"
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	id := "do-" + hex.EncodeToString(rnd[:])
	bundle, err := os.MkdirTemp("", "visor-do-")
	if err != nil {
		return fmt.Errorf("creating bundle: %w", err)
	}
	defer os.RemoveAll(bundle)
	spec := doSpec(rootfs, cwd, args, console.IsTerminal(os.Stdin) && console.IsTerminal(os.Stdout))
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	return runContainer(ctx, rt, id, createFlags{bundle: bundle}, false)
}

// doSpec is the container of `visor do`: the caller's view of the files
// (read-only, overlaid), identity, environment and directory; the usual
// /proc, /dev, /sys; no network.
func doSpec(rootfs, cwd string, args []string, terminal bool) *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: terminal,
			User:     specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())},
			Args:     args,
			Env:      os.Environ(),
			Cwd:      cwd,
		},
		Root:     &specs.Root{Path: rootfs, Readonly: true},
		Hostname: "visor",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Annotations: map[string]string{
			container.AnnotationRootOverlay: "true",
			container.AnnotationNetwork:     "none",
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}},
		},
	}
}
