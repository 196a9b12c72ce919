// Package files is the `make bench` suite for the Sentry's file layer:
// the same file operations on the host (system calls), on the Sentry's
// tmpfs and on its Gofer-backed file system (a real Gofer in this process,
// over its socket), through the VFS as the system call layer calls it.
// It measures the file layer alone, without the cost of trapping the
// application's system calls. Only cmd/bench imports it.
package files

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/gofer"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/gofertest"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

// Run measures and returns the suite's table. binDir is unused: the suite
// runs in process.
func Run(ctx context.Context, _ string) (tables []*report.Table, err error) {
	tb := &harness{}
	defer func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
		if r := recover(); r != nil {
			f, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			tables, err = nil, fmt.Errorf("files bench: %s", string(f))
		}
		if err == nil && tb.err != nil {
			err = tb.err
		}
	}()
	table, err := measure(ctx, tb)
	if err != nil {
		return nil, err
	}
	return []*report.Table{table}, nil
}

// harness gives the test helpers (a Gofer, a memory file) what they need
// of a testing.TB outside a test: cleanups, temporary directories, and
// failure reporting.
type harness struct {
	testing.TB
	cleanups []func()
	err      error
}

type fatal string

func (h *harness) Helper()                      {}
func (h *harness) Cleanup(f func())             { h.cleanups = append(h.cleanups, f) }
func (h *harness) Fatal(args ...any)            { panic(fatal(fmt.Sprint(args...))) }
func (h *harness) Fatalf(f string, args ...any) { panic(fatal(fmt.Sprintf(f, args...))) }
func (h *harness) Errorf(f string, args ...any) {
	if h.err == nil {
		h.err = fmt.Errorf(f, args...)
	}
}

func (h *harness) TempDir() string {
	dir, err := os.MkdirTemp("", "podvisor-bench-files-")
	if err != nil {
		h.Fatal(err)
	}
	h.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// backend is one place the operations run: host paths, or a VFS root.
type backend struct {
	name string
	// host is the host directory (for the host backend and for setup).
	host string
	vfs  *vfs.VirtualFilesystem
	root vfs.VirtualDentry
}

func measure(ctx context.Context, t testing.TB) (*report.Table, error) {
	hostDir := t.TempDir()
	goferDir := t.TempDir()
	mf := memfile.New(t, 1<<30)
	creds := vfs.RootCredentials()

	tv := vfs.New(vfs.Config{})
	tfs, troot := tmpfs.New(tv, mf, tmpfs.Options{Mode: 0o755})
	tns := tv.NewMountNamespaceFrom(tfs, troot, "tmpfs", vfs.MountFlags{})
	defer tns.DecRef(ctx)
	gv := vfs.New(vfs.Config{})
	gfs, groot, err := gofer.New(ctx, gv, gofer.Options{Client: gofertest.Serve(t, goferDir, false), MemoryFile: mf})
	if err != nil {
		return nil, err
	}
	gns := gv.NewMountNamespaceFrom(gfs, groot, "rootfs", vfs.MountFlags{})
	defer gns.DecRef(ctx)

	backends := []*backend{
		{name: "host", host: hostDir},
		{name: "tmpfs", vfs: tv, root: tns.Root()},
		{name: "gofer", vfs: gv, root: gns.Root(), host: goferDir},
	}
	for _, b := range backends[1:] {
		defer b.root.DecRef(ctx)
	}
	// The same tree everywhere: /etc/passwd (4 KiB), /dir with 1000 files.
	page := make([]byte, 4096)
	for _, b := range backends {
		if err := b.mkdir(ctx, creds, "/etc"); err != nil {
			return nil, err
		}
		if err := b.mkdir(ctx, creds, "/dir"); err != nil {
			return nil, err
		}
		if err := b.writeFile(ctx, creds, "/etc/passwd", page); err != nil {
			return nil, err
		}
		for i := 0; i < 1000; i++ {
			if err := b.writeFile(ctx, creds, fmt.Sprintf("/dir/f%d", i), nil); err != nil {
				return nil, err
			}
		}
	}

	table := &report.Table{
		Title:   "Sentry file layer: host vs tmpfs vs Gofer-backed root",
		Columns: []string{"operation", "host", "tmpfs", "tmpfs/host", "gofer", "gofer/host"},
		Notes: []string{
			"In-process: host is direct system calls; tmpfs and gofer go through the VFS as the system call layer calls it,",
			"the Gofer running in this process over its socket pair (no confinement); no application system call is trapped.",
			"64 MiB rows are one sequential write then read of a 64 MiB file in 1 MiB calls.",
		},
	}
	type op struct {
		name string
		run  func(b *backend) error
	}
	buf := make([]byte, 4096)
	big := make([]byte, 1<<20)
	ops := []op{
		{"stat /etc/passwd", func(b *backend) error { return b.stat(ctx, creds, "/etc/passwd") }},
		{"open+read 4 KiB+close", func(b *backend) error { return b.readFile(ctx, creds, "/etc/passwd", buf) }},
		{"create+write 4 KiB+close+unlink", func(b *backend) error {
			if err := b.writeFile(ctx, creds, "/etc/new", page); err != nil {
				return err
			}
			return b.unlink(ctx, creds, "/etc/new")
		}},
		{"list 1000 names", func(b *backend) error { return b.list(ctx, creds, "/dir") }},
	}
	for _, o := range ops {
		var times []time.Duration
		for _, b := range backends {
			var opErr error
			r := testing.Benchmark(func(tb *testing.B) {
				for tb.Loop() {
					if err := o.run(b); err != nil {
						opErr = err
						tb.FailNow()
					}
				}
			})
			if opErr != nil {
				return nil, fmt.Errorf("%s on %s: %w", o.name, b.name, opErr)
			}
			times = append(times, time.Duration(r.NsPerOp()))
		}
		table.AddRow(o.name, times[0], times[1], ratio(times[1], times[0]), times[2], ratio(times[2], times[0]))
	}
	for _, dir := range []string{"write", "read"} {
		var times []time.Duration
		for _, b := range backends {
			start := time.Now()
			var err error
			if dir == "write" {
				err = b.sequential(ctx, creds, "/big", big, 64, true)
			} else {
				err = b.sequential(ctx, creds, "/big", big, 64, false)
			}
			if err != nil {
				return nil, fmt.Errorf("64 MiB %s on %s: %w", dir, b.name, err)
			}
			times = append(times, time.Since(start))
		}
		table.AddRow("64 MiB sequential "+dir, times[0], times[1], ratio(times[1], times[0]), times[2], ratio(times[2], times[0]))
	}
	return table, nil
}

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

func (b *backend) pop(p string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: b.root, Start: b.root, Path: p, FollowFinalSymlink: true}
}

func (b *backend) mkdir(ctx context.Context, creds *vfs.Credentials, p string) error {
	if b.vfs == nil {
		return os.Mkdir(filepath.Join(b.host, p), 0o755)
	}
	return b.vfs.MkdirAt(ctx, creds, b.pop(p), &vfs.MkdirOptions{Mode: 0o755})
}

func (b *backend) stat(ctx context.Context, creds *vfs.Credentials, p string) error {
	if b.vfs == nil {
		var st unix.Stat_t
		return unix.Stat(filepath.Join(b.host, p), &st)
	}
	_, err := b.vfs.StatAt(ctx, creds, b.pop(p), abi.STATX_BASIC_STATS)
	return err
}

func (b *backend) open(ctx context.Context, creds *vfs.Credentials, p string, flags uint32) (*vfs.FileDescription, error) {
	return b.vfs.OpenAt(ctx, creds, b.pop(p), &vfs.OpenOptions{Flags: flags, Mode: 0o644})
}

func (b *backend) readFile(ctx context.Context, creds *vfs.Credentials, p string, buf []byte) error {
	if b.vfs == nil {
		fd, err := unix.Open(filepath.Join(b.host, p), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		_, err = unix.Read(fd, buf)
		unix.Close(fd)
		return err
	}
	fd, err := b.open(ctx, creds, p, abi.O_RDONLY)
	if err != nil {
		return err
	}
	_, err = fd.Read(ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
	fd.DecRef(ctx)
	return err
}

func (b *backend) writeFile(ctx context.Context, creds *vfs.Credentials, p string, data []byte) error {
	if b.vfs == nil {
		fd, err := unix.Open(filepath.Join(b.host, p), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		_, err = unix.Write(fd, data)
		unix.Close(fd)
		return err
	}
	fd, err := b.open(ctx, creds, p, abi.O_WRONLY|abi.O_CREAT|abi.O_TRUNC)
	if err != nil {
		return err
	}
	_, err = fd.Write(ctx, &vfs.BytesSrc{Buf: data}, vfs.WriteOptions{})
	fd.DecRef(ctx)
	return err
}

func (b *backend) unlink(ctx context.Context, creds *vfs.Credentials, p string) error {
	if b.vfs == nil {
		return unix.Unlink(filepath.Join(b.host, p))
	}
	return b.vfs.UnlinkAt(ctx, creds, &vfs.PathOperation{Root: b.root, Start: b.root, Path: p})
}

func (b *backend) list(ctx context.Context, creds *vfs.Credentials, p string) error {
	if b.vfs == nil {
		_, err := os.ReadDir(filepath.Join(b.host, p))
		return err
	}
	fd, err := b.open(ctx, creds, p, abi.O_RDONLY|abi.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer fd.DecRef(ctx)
	return fd.IterDirents(ctx, func(vfs.Dirent) error { return nil })
}

// sequential writes (or reads) n chunks of len(buf) bytes at p.
func (b *backend) sequential(ctx context.Context, creds *vfs.Credentials, p string, buf []byte, n int, write bool) error {
	if b.vfs == nil {
		flags := unix.O_RDONLY
		if write {
			flags = unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC
		}
		fd, err := unix.Open(filepath.Join(b.host, p), flags|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for i := 0; i < n; i++ {
			if write {
				_, err = unix.Write(fd, buf)
			} else {
				_, err = unix.Read(fd, buf)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	flags := uint32(abi.O_RDONLY)
	if write {
		flags = abi.O_WRONLY | abi.O_CREAT | abi.O_TRUNC
	}
	fd, err := b.open(ctx, creds, p, flags)
	if err != nil {
		return err
	}
	defer fd.DecRef(ctx)
	for i := 0; i < n; i++ {
		if write {
			_, err = fd.Write(ctx, &vfs.BytesSrc{Buf: buf}, vfs.WriteOptions{})
		} else {
			_, err = fd.Read(ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
		}
		if err != nil {
			return err
		}
	}
	return nil
}
