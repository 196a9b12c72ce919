// Package gofer is the trusted file server of a sandbox: it serves the
// container's root file system, and the host directory of each bind mount,
// to the Sentry over the protocol package, and nothing else.
//
// Every file it touches stays inside the tree it serves, whatever the
// tree's symbolic links or ".." say: the Sentry resolves paths itself and
// asks for single names, which the Gofer opens relative to a directory
// handle with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS) and O_NOFOLLOW, so it never follows a symbolic
// link on the host. Handles are O_PATH descriptors; files are reopened
// through /proc/self/fd, which names exactly the handle's inode. A
// read-only tree answers every change with EROFS.
//
// # Entry point
//
// `visor gofer`, started as root in new mount (and pid, ipc, uts, net)
// namespaces, calls Main with its bootconfig.GoferConfig, which does:
//
//	g, err := gofer.Open(gofer.Config{Mounts: mounts, Logger: logger})
//	err = g.Confine(gofer.ConfineOptions{Root: mounts[0].HostPath})
//	err = g.Serve(ctx, conns) // conns[i] serves mounts[i]; returns when all close
//
// Open opens every served directory and /proc/self/fd while the host's
// tree is visible. Confine then pivots the mount namespace into Root
// (ConfineMountNamespace), drops every capability but those file serving
// needs (DropCapabilities) and installs the Gofer's seccomp allow-list
// (SeccompFilter: no networking, no exec, no mount, no ptrace). Run does
// Open and Serve without confinement, for tests.
//
// Who may import it: the host side of visor (cmd/visor, internal/sandbox/
// container) and tests. It shares only the protocol package with the
// Sentry.
package gofer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/protocol"
)

// MountConfig is one tree the Gofer serves.
type MountConfig struct {
	// HostPath is the directory (or, for a bind mount of one file, the
	// regular file) served, as the Gofer sees it at Open.
	HostPath string
	// ReadOnly refuses every change (EROFS).
	ReadOnly bool
}

// Config configures a Gofer.
type Config struct {
	// Mounts are the trees served: Mounts[i] on the i-th connection.
	// Mounts[0] is usually the container's root file system.
	Mounts []MountConfig
	// Logger receives lifecycle messages; nothing is logged per request.
	Logger *slog.Logger
}

// Gofer serves trees opened by Open.
type Gofer struct {
	logger *slog.Logger
	roots  []root
	// procFD is /proc/self/fd, opened before confinement, for reopening
	// handles by their exact inode.
	procFD int
}

type root struct {
	fd       int
	readOnly bool
	path     string
}

// Open opens the directories of cfg.Mounts and /proc/self/fd. Call it
// before Confine.
func Open(cfg Config) (*Gofer, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Mounts) == 0 {
		return nil, errors.New("opening the gofer: no mounts to serve")
	}
	g := &Gofer{logger: logger, procFD: -1}
	procFD, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /proc/self/fd: %w", err)
	}
	g.procFD = procFD
	for _, m := range cfg.Mounts {
		fd, err := unix.Open(m.HostPath, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("opening the served tree %s: %w", m.HostPath, err)
		}
		g.roots = append(g.roots, root{fd: fd, readOnly: m.ReadOnly, path: m.HostPath})
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			g.Close()
			return nil, fmt.Errorf("opening the served tree %s: %w", m.HostPath, err)
		}
		if t := st.Mode & unix.S_IFMT; t != unix.S_IFDIR && t != unix.S_IFREG {
			g.Close()
			return nil, fmt.Errorf("serving %s: not a directory or a regular file", m.HostPath)
		}
	}
	// Modes of new files come from the Sentry, exactly.
	unix.Umask(0)
	return g, nil
}

// Close closes what Open opened.
func (g *Gofer) Close() {
	for _, r := range g.roots {
		unix.Close(r.fd)
	}
	g.roots = nil
	if g.procFD >= 0 {
		unix.Close(g.procFD)
		g.procFD = -1
	}
}

// Serve serves conns[i] with Mounts[i] (each a SOCK_SEQPACKET socket; see
// protocol.NewSocketPair) until every connection is closed by the Sentry,
// or ctx is done. It returns the first connection's error, if any. Serve
// takes over conns and closes the Gofer before returning.
func (g *Gofer) Serve(ctx context.Context, conns []*os.File) error {
	defer g.Close()
	if len(conns) != len(g.roots) {
		for _, c := range conns {
			c.Close()
		}
		return fmt.Errorf("serving: %d connections for %d mounts", len(conns), len(g.roots))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, f := range conns {
		conn, err := protocol.FileConn(f)
		if err != nil {
			errs[i] = err
			continue
		}
		h, err := g.newHandler(g.roots[i])
		if err != nil {
			conn.Close()
			errs[i] = err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.closeAll()
			if err := protocol.Serve(ctx, conn, h, protocol.ServeOptions{Logger: g.logger}); err != nil {
				errs[i] = fmt.Errorf("serving %s: %w", g.roots[i].path, err)
			}
		}()
	}
	g.logger.Info("gofer serving", "mounts", len(conns))
	wg.Wait()
	g.logger.Info("gofer done")
	return errors.Join(errs...)
}

// Main is `visor gofer` once its configuration is read: it opens the
// rootfs and the bind mounts' sources, confines itself to the rootfs
// (read-only if asked) and serves cfg.FDs.Sockets — Sockets[0] the root,
// Sockets[i+1] Mounts[i] — until the Sentry closes them all.
func Main(ctx context.Context, cfg *bootconfig.GoferConfig, logger *slog.Logger) error {
	if len(cfg.FDs.Sockets) != len(cfg.Mounts)+1 {
		return fmt.Errorf("gofer config: %d sockets for %d trees", len(cfg.FDs.Sockets), len(cfg.Mounts)+1)
	}
	mounts := []MountConfig{{HostPath: cfg.Root, ReadOnly: cfg.ReadonlyRoot}}
	for _, m := range cfg.Mounts {
		mounts = append(mounts, MountConfig{HostPath: m.Source, ReadOnly: m.Readonly})
	}
	conns := make([]*os.File, len(cfg.FDs.Sockets))
	for i, fd := range cfg.FDs.Sockets {
		conns[i] = os.NewFile(uintptr(fd), fmt.Sprintf("gofer-socket-%d", i))
	}
	g, err := Open(Config{Mounts: mounts, Logger: logger})
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		return err
	}
	if err := g.Confine(ConfineOptions{Root: cfg.Root, ReadOnlyRoot: cfg.ReadonlyRoot}); err != nil {
		g.Close()
		for _, c := range conns {
			c.Close()
		}
		return err
	}
	return g.Serve(ctx, conns)
}

// Run opens cfg's trees and serves conns without confinement (see the
// package doc for the confined sequence).
func Run(ctx context.Context, cfg Config, conns ...*os.File) error {
	g, err := Open(cfg)
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		return err
	}
	return g.Serve(ctx, conns)
}
