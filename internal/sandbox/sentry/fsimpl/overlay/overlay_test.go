package overlay_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/gofer"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/overlay"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/gofertest"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

var root = vfs.RootCredentials()

type env struct {
	t    *testing.T
	ctx  context.Context
	vfs  *vfs.VirtualFilesystem
	root vfs.VirtualDentry
	host string
}

// newEnv makes a read-only Gofer-backed lower layer of a host tree and an
// overlay on it, as the root of a VFS.
func newEnv(t *testing.T, files map[string]string) *env {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if strings.HasSuffix(p, "/") {
			os.MkdirAll(full, 0o755)
			continue
		}
		if strings.HasPrefix(c, "->") {
			os.Symlink(c[2:], full)
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	mf := memfile.New(t, 64<<20)
	v := vfs.New(vfs.Config{})
	lfs, lroot, err := gofer.New(ctx, v, gofer.Options{Client: gofertest.Serve(t, dir, true), MemoryFile: mf})
	if err != nil {
		t.Fatal(err)
	}
	fs, rd, err := overlay.New(ctx, v, mf, 0, lfs, lroot)
	if err != nil {
		t.Fatal(err)
	}
	ns := v.NewMountNamespaceFrom(fs, rd, "overlay", vfs.MountFlags{})
	e := &env{t: t, ctx: ctx, vfs: v, root: ns.Root(), host: dir}
	t.Cleanup(func() {
		e.root.DecRef(ctx)
		ns.DecRef(ctx)
	})
	return e
}

func (e *env) pop(p string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: e.root, Start: e.root, Path: p, FollowFinalSymlink: true}
}

func (e *env) read(p string) (string, error) {
	fd, err := e.vfs.OpenAt(e.ctx, root, e.pop(p), &vfs.OpenOptions{Flags: abi.O_RDONLY})
	if err != nil {
		return "", err
	}
	defer fd.DecRef(e.ctx)
	buf := make([]byte, 64<<10)
	n, err := fd.Read(e.ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
	return string(buf[:n]), err
}

func (e *env) write(p, content string, flags uint32) error {
	fd, err := e.vfs.OpenAt(e.ctx, root, e.pop(p), &vfs.OpenOptions{Flags: abi.O_WRONLY | flags, Mode: 0o644})
	if err != nil {
		return err
	}
	defer fd.DecRef(e.ctx)
	_, err = fd.Write(e.ctx, &vfs.BytesSrc{Buf: []byte(content)}, vfs.WriteOptions{})
	return err
}

func (e *env) list(p string) []string {
	e.t.Helper()
	fd, err := e.vfs.OpenAt(e.ctx, root, e.pop(p), &vfs.OpenOptions{Flags: abi.O_RDONLY | abi.O_DIRECTORY})
	if err != nil {
		e.t.Fatalf("open %s: %v", p, err)
	}
	defer fd.DecRef(e.ctx)
	var names []string
	if err := fd.IterDirents(e.ctx, func(d vfs.Dirent) error {
		if d.Name != "." && d.Name != ".." {
			names = append(names, d.Name)
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func (e *env) hostFile(p string) string {
	b, err := os.ReadFile(filepath.Join(e.host, p))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}

var tree = map[string]string{
	"etc/passwd":        "root:x:0:0\n",
	"etc/hosts":         "127.0.0.1 localhost\n",
	"etc/ssl/certs/a":   "cert",
	"usr/bin/tool":      "#!/bin/sh\n",
	"usr/lib/libc.so":   "->libc.so.6",
	"usr/lib/libc.so.6": "ELF",
	"empty/":            "",
}

func TestCopyUp(t *testing.T) {
	e := newEnv(t, tree)
	if got, err := e.read("/etc/passwd"); err != nil || got != "root:x:0:0\n" {
		t.Errorf("read of a lower file: %q, %v", got, err)
	}
	if got, _ := e.read("/usr/lib/libc.so"); got != "ELF" {
		t.Errorf("read through a lower symlink: %q", got)
	}
	// Appending copies the file up; the host's stays as it was.
	if err := e.write("/etc/passwd", "user:x:1000:1000\n", abi.O_APPEND); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/etc/passwd"); got != "root:x:0:0\nuser:x:1000:1000\n" {
		t.Errorf("after append: %q", got)
	}
	if got := e.hostFile("etc/passwd"); got != "root:x:0:0\n" {
		t.Errorf("the host file changed: %q", got)
	}
	// chmod copies up metadata-only changes too, keeping the data.
	if err := e.vfs.SetStatAt(e.ctx, root, e.pop("/usr/bin/tool"), &vfs.SetStatOptions{Mask: abi.STATX_MODE, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	st, _ := e.vfs.StatAt(e.ctx, root, e.pop("/usr/bin/tool"), abi.STATX_MODE)
	if st.Mode&0o7777 != 0o755 {
		t.Errorf("mode after chmod %o", st.Mode)
	}
	if got, _ := e.read("/usr/bin/tool"); got != "#!/bin/sh\n" {
		t.Errorf("data after a chmod copy-up: %q", got)
	}
	if fi, _ := os.Stat(filepath.Join(e.host, "usr/bin/tool")); fi.Mode().Perm() != 0o644 {
		t.Errorf("the host file's mode changed: %v", fi.Mode())
	}
	// A new file deep in a lower directory.
	if err := e.write("/etc/ssl/certs/b", "new cert", abi.O_CREAT|abi.O_EXCL); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, e.list("/etc/ssl/certs")); diff != "" {
		t.Errorf("merged listing (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(e.host, "etc/ssl/certs/b")); !os.IsNotExist(err) {
		t.Errorf("the new file reached the host: %v", err)
	}
	// O_TRUNC on a lower file.
	if err := e.write("/etc/hosts", "::1 localhost\n", abi.O_TRUNC); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/etc/hosts"); got != "::1 localhost\n" {
		t.Errorf("after O_TRUNC: %q", got)
	}
}

func TestWhiteouts(t *testing.T) {
	e := newEnv(t, tree)
	unlink := func(p string) error {
		return e.vfs.UnlinkAt(e.ctx, root, &vfs.PathOperation{Root: e.root, Start: e.root, Path: p})
	}
	rmdir := func(p string) error {
		return e.vfs.RmdirAt(e.ctx, root, &vfs.PathOperation{Root: e.root, Start: e.root, Path: p})
	}
	if err := unlink("/etc/hosts"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.read("/etc/hosts"); errnoOf(err) != abi.ENOENT {
		t.Errorf("read of a removed lower file: %v, want ENOENT", err)
	}
	if diff := cmp.Diff([]string{"passwd", "ssl"}, e.list("/etc")); diff != "" {
		t.Errorf("/etc after unlink (-want +got):\n%s", diff)
	}
	if e.hostFile("etc/hosts") != "127.0.0.1 localhost\n" {
		t.Error("the host file was removed")
	}
	// The name can be made again.
	if err := e.write("/etc/hosts", "again", abi.O_CREAT|abi.O_EXCL); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/etc/hosts"); got != "again" {
		t.Errorf("recreated file reads %q", got)
	}
	// A lower directory is not empty until its lower names are gone.
	if err := rmdir("/etc/ssl/certs"); errnoOf(err) != abi.ENOTEMPTY {
		t.Errorf("rmdir of a non-empty lower directory: %v", err)
	}
	if err := unlink("/etc/ssl/certs/a"); err != nil {
		t.Fatal(err)
	}
	if err := rmdir("/etc/ssl/certs"); err != nil {
		t.Fatalf("rmdir once empty: %v", err)
	}
	// A directory made where a lower one was removed is opaque.
	if err := e.vfs.MkdirAt(e.ctx, root, e.pop("/etc/ssl/certs"), &vfs.MkdirOptions{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if got := e.list("/etc/ssl/certs"); len(got) != 0 {
		t.Errorf("a new directory over a removed one shows %v", got)
	}
	if _, err := e.read("/etc/ssl/certs/a"); errnoOf(err) != abi.ENOENT {
		t.Errorf("the lower file shows through an opaque directory: %v", err)
	}
}

func TestRenames(t *testing.T) {
	e := newEnv(t, tree)
	rename := func(a, b string) error {
		return e.vfs.RenameAt(e.ctx, root, &vfs.PathOperation{Root: e.root, Start: e.root, Path: a}, &vfs.PathOperation{Root: e.root, Start: e.root, Path: b}, &vfs.RenameOptions{})
	}
	if err := rename("/etc/passwd", "/passwd.bak"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/passwd.bak"); got != "root:x:0:0\n" {
		t.Errorf("renamed file reads %q", got)
	}
	if _, err := e.read("/etc/passwd"); errnoOf(err) != abi.ENOENT {
		t.Errorf("old name after rename: %v, want ENOENT", err)
	}
	// A lower file renamed over another lower file.
	if err := rename("/usr/lib/libc.so.6", "/etc/hosts"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/etc/hosts"); got != "ELF" {
		t.Errorf("replaced file reads %q", got)
	}
	// Directories with lower contents cannot move (mv copies instead).
	if err := rename("/usr/bin", "/bin"); errnoOf(err) != abi.EXDEV {
		t.Errorf("rename of a lower directory: %v, want EXDEV", err)
	}
	// An upper-only directory can, even over an empty lower one.
	if err := e.vfs.MkdirAt(e.ctx, root, e.pop("/newdir"), &vfs.MkdirOptions{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := e.write("/newdir/f", "x", abi.O_CREAT); err != nil {
		t.Fatal(err)
	}
	if err := rename("/newdir", "/empty"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"f"}, e.list("/empty")); diff != "" {
		t.Errorf("/empty (-want +got):\n%s", diff)
	}
	// Hard links copy the target up.
	if err := e.vfs.LinkAt(e.ctx, root, e.pop("/usr/bin/tool"), e.pop("/tool2")); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/tool2"); got != "#!/bin/sh\n" {
		t.Errorf("hard link reads %q", got)
	}
	if diff := cmp.Diff([]string{"empty", "etc", "passwd.bak", "tool2", "usr"}, e.list("/")); diff != "" {
		t.Errorf("/ (-want +got):\n%s", diff)
	}
}
