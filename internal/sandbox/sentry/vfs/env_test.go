package vfs_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

var (
	rootCreds = vfs.RootCredentials()
	user      = &vfs.Credentials{UID: 1000, GID: 1000}
	other     = &vfs.Credentials{UID: 2000, GID: 2000}
)

// env is a VFS with a tmpfs root, as a sandbox's root would be.
type env struct {
	t    *testing.T
	ctx  context.Context
	vfs  *vfs.VirtualFilesystem
	mf   *memfile.File
	ns   *vfs.MountNamespace
	root vfs.VirtualDentry
}

func newEnv(t *testing.T) *env {
	return newEnvWithCache(t, 0)
}

// newEnvWithCache makes an env whose root keeps at most maxCached unused
// dentries (0: all).
func newEnvWithCache(t *testing.T, maxCached int) *env {
	t.Helper()
	ctx := context.Background()
	mf := memfile.New(t, 64<<20)
	v := vfs.New(vfs.Config{})
	if err := v.RegisterFilesystemType(tmpfs.FilesystemType{MemoryFile: mf}); err != nil {
		t.Fatal(err)
	}
	fs, root := tmpfs.New(v, mf, tmpfs.Options{Mode: 0o755, MaxCachedDentries: maxCached})
	ns := v.NewMountNamespaceFrom(fs, root, "none", vfs.MountFlags{})
	e := &env{t: t, ctx: ctx, vfs: v, mf: mf, ns: ns, root: ns.Root()}
	t.Cleanup(func() { e.root.DecRef(ctx) })
	return e
}

func (e *env) pop(path string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: e.root, Start: e.root, Path: path, FollowFinalSymlink: true}
}

func (e *env) lpop(path string) *vfs.PathOperation {
	p := e.pop(path)
	p.FollowFinalSymlink = false
	return p
}

func (e *env) mkdir(path string, mode uint32) {
	e.t.Helper()
	if err := e.vfs.MkdirAt(e.ctx, rootCreds, e.pop(path), &vfs.MkdirOptions{Mode: mode}); err != nil {
		e.t.Fatalf("mkdir %s: %v", path, err)
	}
}

func (e *env) write(creds *vfs.Credentials, path, content string, mode uint32) {
	e.t.Helper()
	fd, err := e.vfs.OpenAt(e.ctx, creds, e.pop(path), &vfs.OpenOptions{Flags: abi.O_WRONLY | abi.O_CREAT | abi.O_TRUNC, Mode: mode})
	if err != nil {
		e.t.Fatalf("create %s: %v", path, err)
	}
	defer fd.DecRef(e.ctx)
	if _, err := fd.Write(e.ctx, &vfs.BytesSrc{Buf: []byte(content)}, vfs.WriteOptions{}); err != nil {
		e.t.Fatalf("write %s: %v", path, err)
	}
}

func (e *env) symlink(target, path string) {
	e.t.Helper()
	if err := e.vfs.SymlinkAt(e.ctx, rootCreds, e.pop(path), target); err != nil {
		e.t.Fatalf("symlink %s -> %s: %v", path, target, err)
	}
}

func (e *env) chown(path string, uid, gid uint32) {
	e.t.Helper()
	if err := e.vfs.SetStatAt(e.ctx, rootCreds, e.lpop(path), &vfs.SetStatOptions{Mask: abi.STATX_UID | abi.STATX_GID, UID: uid, GID: gid}); err != nil {
		e.t.Fatalf("chown %s: %v", path, err)
	}
}

// readFile reads all of the file pop names.
func (e *env) readFile(creds *vfs.Credentials, pop *vfs.PathOperation) (string, error) {
	fd, err := e.vfs.OpenAt(e.ctx, creds, pop, &vfs.OpenOptions{Flags: abi.O_RDONLY})
	if err != nil {
		return "", err
	}
	defer fd.DecRef(e.ctx)
	return readAll(e.ctx, fd)
}

func readAll(ctx context.Context, fd *vfs.FileDescription) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1000)
	for {
		dst := &vfs.BytesDst{Buf: buf}
		n, err := fd.Read(ctx, dst, vfs.ReadOptions{})
		if err != nil {
			return b.String(), err
		}
		if n == 0 {
			return b.String(), nil
		}
		b.Write(buf[:n])
	}
}

// errnoOf returns err as an errno for comparisons (0 for nil).
func errnoOf(err error) abi.Errno {
	if err == nil {
		return 0
	}
	var e abi.Errno
	if errors.As(err, &e) {
		return e
	}
	return abi.Errno(9999)
}

func listDir(t *testing.T, e *env, path string) []string {
	t.Helper()
	fd, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop(path), &vfs.OpenOptions{Flags: abi.O_RDONLY | abi.O_DIRECTORY})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer fd.DecRef(e.ctx)
	var names []string
	if err := fd.IterDirents(e.ctx, func(d vfs.Dirent) error {
		names = append(names, d.Name)
		return nil
	}); err != nil {
		t.Fatalf("getdents %s: %v", path, err)
	}
	return names
}
