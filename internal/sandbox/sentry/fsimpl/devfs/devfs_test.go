package devfs_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/devfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

var creds = vfs.RootCredentials()

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}

func setup(t *testing.T) (context.Context, *vfs.VirtualFilesystem, vfs.VirtualDentry) {
	ctx := context.Background()
	mf := memfile.New(t, 16<<20)
	v := vfs.New(vfs.Config{})
	if err := devfs.RegisterDevices(v, devfs.Deps{Memfds: tmpfs.NewMemfdFS(v, mf), Random: bytes.NewReader(bytes.Repeat([]byte{7}, 1<<20))}); err != nil {
		t.Fatal(err)
	}
	fs, root, err := devfs.New(ctx, v, mf)
	if err != nil {
		t.Fatal(err)
	}
	ns := v.NewMountNamespaceFrom(fs, root, "devfs", vfs.MountFlags{})
	rd := ns.Root()
	t.Cleanup(func() { rd.DecRef(ctx); ns.DecRef(ctx) })
	return ctx, v, rd
}

func TestDevices(t *testing.T) {
	ctx, v, rd := setup(t)
	for _, tc := range []struct {
		path      string
		wantRead  []byte
		writeErr  abi.Errno
		wantWrote int64
	}{
		{path: "/null", wantRead: []byte{}, wantWrote: 5},
		{path: "/zero", wantRead: make([]byte, 10), wantWrote: 5},
		{path: "/full", wantRead: make([]byte, 10), writeErr: abi.ENOSPC},
		{path: "/urandom", wantRead: bytes.Repeat([]byte{7}, 10), wantWrote: 5},
		{path: "/random", wantRead: bytes.Repeat([]byte{7}, 10), wantWrote: 5},
	} {
		t.Run(tc.path, func(t *testing.T) {
			fd, err := v.OpenAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: tc.path, FollowFinalSymlink: true}, &vfs.OpenOptions{Flags: abi.O_RDWR})
			if err != nil {
				t.Fatal(err)
			}
			defer fd.DecRef(ctx)
			buf := make([]byte, 10)
			n, err := fd.Read(ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
			if err != nil || !bytes.Equal(buf[:n], tc.wantRead) {
				t.Errorf("read = %v, %v; want %v", buf[:n], err, tc.wantRead)
			}
			n, err = fd.Write(ctx, &vfs.BytesSrc{Buf: []byte("hello")}, vfs.WriteOptions{})
			if errnoOf(err) != tc.writeErr || n != tc.wantWrote {
				t.Errorf("write = %d, %v; want %d, %v", n, err, tc.wantWrote, tc.writeErr)
			}
			st, err := fd.Stat(ctx, abi.STATX_TYPE)
			if err != nil || st.Mode&abi.S_IFMT != abi.S_IFCHR || st.RdevMajor != 1 {
				t.Errorf("stat: mode %o rdev %d:%d, %v", st.Mode, st.RdevMajor, st.RdevMinor, err)
			}
		})
	}
}

func TestTreeAndTTY(t *testing.T) {
	ctx, v, rd := setup(t)
	for path, want := range map[string]string{"/fd": "/proc/self/fd", "/stdin": "/proc/self/fd/0", "/ptmx": "pts/ptmx"} {
		got, err := v.ReadlinkAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: path})
		if err != nil || got != want {
			t.Errorf("readlink %s = %q, %v; want %q", path, got, err, want)
		}
	}
	st, err := v.StatAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: "/shm"}, abi.STATX_MODE)
	if err != nil || st.Mode != abi.S_IFDIR|0o1777 {
		t.Errorf("/shm mode %o, %v", st.Mode, err)
	}
	// Without a controlling terminal, /dev/tty is ENXIO.
	if _, err := v.OpenAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: "/tty"}, &vfs.OpenOptions{Flags: abi.O_RDWR}); errnoOf(err) != abi.ENXIO {
		t.Errorf("open /dev/tty without a terminal: got %v, want ENXIO", err)
	}
}

func TestZeroMMap(t *testing.T) {
	ctx, v, rd := setup(t)
	fd, err := v.OpenAt(ctx, creds, &vfs.PathOperation{Root: rd, Start: rd, Path: "/zero"}, &vfs.OpenOptions{Flags: abi.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(ctx)
	priv := memmap.MMapOpts{Length: 2 * abi.PageSize, Private: true, Perms: memmap.ReadWrite, MaxPerms: memmap.AnyAccess}
	if err := fd.ConfigureMMap(ctx, &priv); err != nil || priv.Mappable != nil {
		t.Errorf("private mapping of /dev/zero: mappable %v, %v; want anonymous", priv.Mappable, err)
	}
	shared := memmap.MMapOpts{Length: 2 * abi.PageSize, Perms: memmap.ReadWrite, MaxPerms: memmap.AnyAccess}
	if err := fd.ConfigureMMap(ctx, &shared); err != nil || shared.Mappable == nil {
		t.Fatalf("shared mapping of /dev/zero: mappable %v, %v", shared.Mappable, err)
	}
	defer shared.MappingIdentity.DecRef(ctx)
	ts, err := shared.Mappable.Translate(ctx, memmap.MappableRange{Start: 0, End: 2 * abi.PageSize}, memmap.MappableRange{Start: 0, End: 2 * abi.PageSize}, memmap.Write)
	if err != nil || len(ts) == 0 {
		t.Errorf("translate of shared /dev/zero memory: %v, %v", ts, err)
	}
}
