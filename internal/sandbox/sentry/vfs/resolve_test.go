package vfs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// TestResolve covers path resolution: symlinks, "..", trailing slashes.
func TestResolve(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/etc", 0o755)
	e.write(rootCreds, "/etc/passwd", "root:x:0:0", 0o644)
	e.mkdir("/a", 0o755)
	e.mkdir("/a/b", 0o755)
	e.write(rootCreds, "/a/b/file", "in b", 0o644)
	e.symlink("b", "/a/rel")
	e.symlink("/etc", "/a/abs")
	e.symlink("../../../../../../etc/passwd", "/a/b/escape")
	e.symlink("loop2", "/a/loop1")
	e.symlink("loop1", "/a/loop2")
	e.symlink("self", "/a/self")
	e.symlink("missing", "/a/dangling")
	e.symlink("file/", "/a/b/fileslash")
	// A chain of 40 links resolves, 41 do not.
	e.write(rootCreds, "/chainend", "end", 0o644)
	prev := "/chainend"
	for i := 1; i <= 41; i++ {
		name := fmt.Sprintf("/chain%d", i)
		e.symlink(prev, name)
		prev = name
	}

	for _, tc := range []struct {
		name    string
		path    string
		want    string
		wantErr abi.Errno
	}{
		{name: "plain", path: "/etc/passwd", want: "root:x:0:0"},
		{name: "double slashes and dots", path: "//etc/./passwd", want: "root:x:0:0"},
		{name: "dotdot at root stays", path: "/../../../etc/passwd", want: "root:x:0:0"},
		{name: "relative symlink", path: "/a/rel/file", want: "in b"},
		{name: "absolute symlink", path: "/a/abs/passwd", want: "root:x:0:0"},
		{name: "escaping symlink stays inside", path: "/a/b/escape", want: "root:x:0:0"},
		{name: "dotdot through symlink", path: "/a/rel/../b/file", want: "in b"},
		{name: "loop", path: "/a/loop1", wantErr: abi.ELOOP},
		{name: "self loop in middle", path: "/a/self/x", wantErr: abi.ELOOP},
		{name: "dangling", path: "/a/dangling", wantErr: abi.ENOENT},
		{name: "40 links", path: "/chain40", want: "end"},
		{name: "41 links", path: "/chain41", wantErr: abi.ELOOP},
		{name: "file with trailing slash", path: "/etc/passwd/", wantErr: abi.ENOTDIR},
		{name: "symlink target with trailing slash", path: "/a/b/fileslash", wantErr: abi.ENOTDIR},
		{name: "component through file", path: "/etc/passwd/x", wantErr: abi.ENOTDIR},
		{name: "missing component", path: "/nope/x", wantErr: abi.ENOENT},
		{name: "empty path", path: "", wantErr: abi.ENOENT},
		{name: "name too long", path: "/" + strings.Repeat("x", 256), wantErr: abi.ENAMETOOLONG},
		{name: "path too long", path: strings.Repeat("/a", 2100), wantErr: abi.ENAMETOOLONG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.readFile(rootCreds, e.pop(tc.path))
			if errnoOf(err) != tc.wantErr {
				t.Fatalf("read %q: got error %v, want %v", tc.path, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("read %q = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

// TestResolveChroot checks that a resolution root (a chroot, or the
// sandbox's root) is never left by "..", absolute symlinks or relative ones.
func TestResolveChroot(t *testing.T) {
	e := newEnv(t)
	e.write(rootCreds, "/secret", "host secret", 0o600)
	e.mkdir("/jail", 0o755)
	e.mkdir("/jail/etc", 0o755)
	e.write(rootCreds, "/jail/secret", "jail file", 0o600)
	e.symlink("/secret", "/jail/etc/abs")
	e.symlink("../../../secret", "/jail/etc/rel")
	jail, err := e.vfs.GetDentryAt(e.ctx, rootCreds, e.pop("/jail"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer jail.DecRef(e.ctx)
	for _, path := range []string{"/secret", "/../secret", "../secret", "/etc/abs", "/etc/rel", "etc/../../../secret"} {
		t.Run(path, func(t *testing.T) {
			got, err := e.readFile(rootCreds, &vfs.PathOperation{Root: jail, Start: jail, Path: path, FollowFinalSymlink: true})
			if err != nil {
				t.Fatalf("read %q: %v", path, err)
			}
			if got != "jail file" {
				t.Errorf("read %q = %q, want the jail's file", path, got)
			}
		})
	}
}

// TestTrailingSlash covers the trailing-slash rules of the operations
// that create and remove names.
func TestTrailingSlash(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/d", 0o755)
	e.write(rootCreds, "/f", "x", 0o644)
	e.symlink("d", "/ld")
	e.symlink("f", "/lf")
	for _, tc := range []struct {
		name string
		op   func() error
		want abi.Errno
	}{
		{"mkdir with slash", func() error {
			return e.vfs.MkdirAt(e.ctx, rootCreds, e.pop("/newdir/"), &vfs.MkdirOptions{Mode: 0o755})
		}, 0},
		{"mknod with slash", func() error {
			return e.vfs.MknodAt(e.ctx, rootCreds, e.pop("/newfifo/"), &vfs.MknodOptions{Mode: abi.S_IFIFO | 0o644})
		}, abi.ENOENT},
		{"symlink with slash over existing", func() error { return e.vfs.SymlinkAt(e.ctx, rootCreds, e.pop("/f/"), "x") }, abi.EEXIST},
		{"creat with slash", func() error {
			_, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop("/g/"), &vfs.OpenOptions{Flags: abi.O_CREAT | abi.O_WRONLY, Mode: 0o644})
			return err
		}, abi.EISDIR},
		{"open dir O_CREAT", func() error {
			_, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop("/d"), &vfs.OpenOptions{Flags: abi.O_CREAT | abi.O_RDONLY, Mode: 0o644})
			return err
		}, abi.EISDIR},
		{"unlink file with slash", func() error { return e.vfs.UnlinkAt(e.ctx, rootCreds, e.lpop("/f/")) }, abi.ENOTDIR},
		{"unlink dir", func() error { return e.vfs.UnlinkAt(e.ctx, rootCreds, e.lpop("/d")) }, abi.EISDIR},
		{"rmdir file", func() error { return e.vfs.RmdirAt(e.ctx, rootCreds, e.lpop("/f")) }, abi.ENOTDIR},
		{"rmdir dot", func() error { return e.vfs.RmdirAt(e.ctx, rootCreds, e.lpop("/d/.")) }, abi.EINVAL},
		{"rmdir root", func() error { return e.vfs.RmdirAt(e.ctx, rootCreds, e.lpop("/")) }, abi.EBUSY},
		{"mkdir root", func() error { return e.vfs.MkdirAt(e.ctx, rootCreds, e.pop("/"), &vfs.MkdirOptions{}) }, abi.EEXIST},
		{"rename file with slash", func() error {
			return e.vfs.RenameAt(e.ctx, rootCreds, e.lpop("/f/"), e.lpop("/f2"), &vfs.RenameOptions{})
		}, abi.ENOTDIR},
		{"lstat symlink to dir with slash follows", func() error {
			st, err := e.vfs.StatAt(e.ctx, rootCreds, e.lpop("/ld/"), abi.STATX_TYPE)
			if err == nil && st.Mode&abi.S_IFMT != abi.S_IFDIR {
				return fmt.Errorf("mode %o, want a directory", st.Mode)
			}
			return err
		}, 0},
		{"lstat symlink to file with slash", func() error {
			_, err := e.vfs.StatAt(e.ctx, rootCreds, e.lpop("/lf/"), abi.STATX_TYPE)
			return err
		}, abi.ENOTDIR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); errnoOf(err) != tc.want {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestOpenFlags covers O_NOFOLLOW, O_DIRECTORY, O_PATH, O_EXCL and
// O_CREAT through a dangling symlink.
func TestOpenFlags(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/d", 0o755)
	e.write(rootCreds, "/f", "data", 0o644)
	e.symlink("/f", "/lf")
	e.symlink("/d/created", "/dangling")
	for _, tc := range []struct {
		name  string
		path  string
		flags uint32
		want  abi.Errno
		// wantType is the type fstat must report on success.
		wantType uint32
	}{
		{"nofollow on symlink", "/lf", abi.O_RDONLY | abi.O_NOFOLLOW, abi.ELOOP, 0},
		{"path nofollow on symlink", "/lf", abi.O_PATH | abi.O_NOFOLLOW, 0, abi.S_IFLNK},
		{"nofollow on file", "/f", abi.O_RDONLY | abi.O_NOFOLLOW, 0, abi.S_IFREG},
		{"directory on file", "/f", abi.O_RDONLY | abi.O_DIRECTORY, abi.ENOTDIR, 0},
		{"directory on dir", "/d", abi.O_RDONLY | abi.O_DIRECTORY, 0, abi.S_IFDIR},
		{"write a dir", "/d", abi.O_WRONLY, abi.EISDIR, 0},
		{"excl on existing", "/f", abi.O_CREAT | abi.O_EXCL | abi.O_WRONLY, abi.EEXIST, 0},
		{"excl on symlink", "/lf", abi.O_CREAT | abi.O_EXCL | abi.O_WRONLY, abi.EEXIST, 0},
		{"creat through dangling symlink", "/dangling", abi.O_CREAT | abi.O_WRONLY, 0, abi.S_IFREG},
		{"tmpfile", "/d", abi.O_TMPFILE | abi.O_RDWR, abi.EOPNOTSUPP, 0},
		{"creat and directory", "/x", abi.O_CREAT | abi.O_DIRECTORY | abi.O_RDWR, abi.EINVAL, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop(tc.path), &vfs.OpenOptions{Flags: tc.flags, Mode: 0o644})
			if errnoOf(err) != tc.want {
				t.Fatalf("open %q: got %v, want %v", tc.path, err, tc.want)
			}
			if err != nil {
				return
			}
			defer fd.DecRef(e.ctx)
			st, err := fd.Stat(e.ctx, abi.STATX_TYPE)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode&abi.S_IFMT != tc.wantType {
				t.Errorf("type %o, want %o", st.Mode&abi.S_IFMT, tc.wantType)
			}
		})
	}
	if _, err := e.vfs.StatAt(e.ctx, rootCreds, e.pop("/d/created"), abi.STATX_TYPE); err != nil {
		t.Errorf("O_CREAT through a dangling symlink did not create its target: %v", err)
	}
	// O_PATH files cannot be read.
	fd, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop("/f"), &vfs.OpenOptions{Flags: abi.O_PATH})
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(e.ctx)
	if _, err := fd.Read(e.ctx, &vfs.BytesDst{Buf: make([]byte, 4)}, vfs.ReadOptions{}); errnoOf(err) != abi.EBADF {
		t.Errorf("read of an O_PATH file: got %v, want EBADF", err)
	}
}

// TestEmptyPath covers AT_EMPTY_PATH.
func TestEmptyPath(t *testing.T) {
	e := newEnv(t)
	e.write(rootCreds, "/f", "data", 0o644)
	f, err := e.vfs.GetDentryAt(e.ctx, rootCreds, e.pop("/f"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef(e.ctx)
	st, err := e.vfs.StatAt(e.ctx, rootCreds, &vfs.PathOperation{Root: e.root, Start: f, AllowEmpty: true}, abi.STATX_SIZE)
	if err != nil || st.Size != 4 {
		t.Errorf("stat with an empty path = size %d, %v; want 4, nil", st.Size, err)
	}
	if _, err := e.vfs.StatAt(e.ctx, rootCreds, &vfs.PathOperation{Root: e.root, Start: f}, abi.STATX_SIZE); errnoOf(err) != abi.ENOENT {
		t.Errorf("stat with an empty path without AT_EMPTY_PATH: got %v, want ENOENT", err)
	}
}

// TestPermissions covers search and write permission on directories,
// the sticky bit and ownership rules of chmod and chown.
func TestPermissions(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/private", 0o700)
	e.write(rootCreds, "/private/f", "x", 0o644)
	e.mkdir("/pub", 0o755)
	e.mkdir("/tmp", 0o1777)
	e.write(rootCreds, "/rootfile", "x", 0o600)
	e.write(user, "/tmp/users", "x", 0o644)
	e.mkdir("/home", 0o755)
	e.mkdir("/home/user", 0o755)
	e.chown("/home/user", 1000, 1000)
	e.write(user, "/home/user/f", "x", 0o644)

	for _, tc := range []struct {
		name string
		op   func() error
		want abi.Errno
	}{
		{"search denied", func() error { _, err := e.readFile(user, e.pop("/private/f")); return err }, abi.EACCES},
		{"root may search", func() error { _, err := e.readFile(rootCreds, e.pop("/private/f")); return err }, 0},
		{"read denied", func() error { _, err := e.readFile(user, e.pop("/rootfile")); return err }, abi.EACCES},
		{"create in 755 dir denied", func() error {
			return e.vfs.MkdirAt(e.ctx, user, e.pop("/pub/x"), &vfs.MkdirOptions{Mode: 0o755})
		}, abi.EACCES},
		{"create in 1777 dir", func() error {
			return e.vfs.MkdirAt(e.ctx, user, e.pop("/tmp/mine"), &vfs.MkdirOptions{Mode: 0o755})
		}, 0},
		{"sticky: other may not unlink", func() error { return e.vfs.UnlinkAt(e.ctx, other, e.lpop("/tmp/users")) }, abi.EPERM},
		{"sticky: other may not rename", func() error {
			return e.vfs.RenameAt(e.ctx, other, e.lpop("/tmp/users"), e.lpop("/tmp/stolen"), &vfs.RenameOptions{})
		}, abi.EPERM},
		{"chmod by non-owner", func() error {
			return e.vfs.SetStatAt(e.ctx, other, e.pop("/tmp/users"), &vfs.SetStatOptions{Mask: abi.STATX_MODE, Mode: 0o777})
		}, abi.EPERM},
		{"chmod by owner", func() error {
			return e.vfs.SetStatAt(e.ctx, user, e.pop("/tmp/users"), &vfs.SetStatOptions{Mask: abi.STATX_MODE, Mode: 0o600})
		}, 0},
		{"chown by user", func() error {
			return e.vfs.SetStatAt(e.ctx, user, e.pop("/home/user/f"), &vfs.SetStatOptions{Mask: abi.STATX_UID, UID: 0})
		}, abi.EPERM},
		{"chgrp to a group not held", func() error {
			return e.vfs.SetStatAt(e.ctx, user, e.pop("/home/user/f"), &vfs.SetStatOptions{Mask: abi.STATX_GID, GID: 5})
		}, abi.EPERM},
		{"utimes now by non-owner without write", func() error {
			return e.vfs.SetStatAt(e.ctx, user, e.pop("/rootfile"), &vfs.SetStatOptions{Mask: abi.STATX_ATIME | abi.STATX_MTIME, Atime: vfs.Timespec{Nsec: vfs.UtimeNow}, Mtime: vfs.Timespec{Nsec: vfs.UtimeNow}})
		}, abi.EACCES},
		{"utimes explicit by non-owner", func() error {
			return e.vfs.SetStatAt(e.ctx, user, e.pop("/rootfile"), &vfs.SetStatOptions{Mask: abi.STATX_MTIME, Mtime: vfs.Timespec{Sec: 5}})
		}, abi.EPERM},
		{"truncate without write", func() error {
			return e.vfs.SetStatAt(e.ctx, user, e.pop("/rootfile"), &vfs.SetStatOptions{Mask: abi.STATX_SIZE})
		}, abi.EACCES},
		{"access W_OK denied", func() error { return e.vfs.AccessAt(e.ctx, user, e.pop("/rootfile"), vfs.MayWrite) }, abi.EACCES},
		{"access X_OK for root on non-executable", func() error { return e.vfs.AccessAt(e.ctx, rootCreds, e.pop("/rootfile"), vfs.MayExec) }, abi.EACCES},
		{"mount needs CAP_SYS_ADMIN", func() error {
			_, err := e.vfs.MountAt(e.ctx, user, "none", e.pop("/tmp/mine"), "tmpfs", &vfs.MountOptions{})
			return err
		}, abi.EPERM},
		{"mknod of a device needs CAP_MKNOD", func() error {
			return e.vfs.MknodAt(e.ctx, user, e.pop("/tmp/null"), &vfs.MknodOptions{Mode: abi.S_IFCHR | 0o666, DevMajor: 1, DevMinor: 3})
		}, abi.EPERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); errnoOf(err) != tc.want {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A file made in a set-group-ID directory takes its group.
	e.mkdir("/sgid", 0o2777)
	e.chown("/sgid", 0, 77)
	e.write(user, "/sgid/f", "", 0o644)
	st, err := e.vfs.StatAt(e.ctx, rootCreds, e.pop("/sgid/f"), abi.STATX_GID|abi.STATX_UID)
	if err != nil || st.GID != 77 || st.UID != 1000 {
		t.Errorf("file in a set-group-ID directory: owner %d:%d (%v), want 1000:77", st.UID, st.GID, err)
	}
}

// TestMounts covers crossing mounts, mount flags, bind mounts and unmount.
func TestMounts(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/mnt", 0o755)
	e.write(rootCreds, "/mnt/hidden", "under the mount", 0o644)
	e.mkdir("/data", 0o755)
	e.write(rootCreds, "/data/f", "data", 0o644)
	e.mkdir("/ro", 0o755)
	e.mkdir("/bind", 0o755)

	if _, err := e.vfs.MountAt(e.ctx, rootCreds, "none", e.pop("/mnt"), "tmpfs", &vfs.MountOptions{}); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	if _, err := e.vfs.StatAt(e.ctx, rootCreds, e.pop("/mnt/hidden"), abi.STATX_TYPE); errnoOf(err) != abi.ENOENT {
		t.Errorf("a file under a mount point is visible: %v", err)
	}
	e.write(rootCreds, "/mnt/new", "on tmpfs", 0o644)
	rootSt, _ := e.vfs.StatAt(e.ctx, rootCreds, e.pop("/"), abi.STATX_INO)
	mntSt, _ := e.vfs.StatAt(e.ctx, rootCreds, e.pop("/mnt/new"), abi.STATX_INO)
	if rootSt.DevMinor == mntSt.DevMinor {
		t.Errorf("the mounted file system has the root's device %d", mntSt.DevMinor)
	}
	if got, err := e.readFile(rootCreds, e.pop("/mnt/../data/f")); err != nil || got != "data" {
		t.Errorf("'..' out of a mount: %q, %v", got, err)
	}
	if err := e.vfs.RmdirAt(e.ctx, rootCreds, e.lpop("/mnt")); errnoOf(err) != abi.EBUSY {
		t.Errorf("rmdir of a mount point: got %v, want EBUSY", err)
	}
	if err := e.vfs.RenameAt(e.ctx, rootCreds, e.lpop("/mnt/new"), e.lpop("/data/new"), &vfs.RenameOptions{}); errnoOf(err) != abi.EXDEV {
		t.Errorf("rename across mounts: got %v, want EXDEV", err)
	}

	// A read-only bind mount of /data.
	if _, err := e.vfs.BindAt(e.ctx, rootCreds, e.pop("/data"), e.pop("/ro"), vfs.MountFlags{ReadOnly: true, NoExec: true}); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	if got, err := e.readFile(rootCreds, e.pop("/ro/f")); err != nil || got != "data" {
		t.Errorf("read through a bind mount: %q, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		op   func() error
		want abi.Errno
	}{
		{"create", func() error { return e.vfs.MkdirAt(e.ctx, rootCreds, e.pop("/ro/x"), &vfs.MkdirOptions{Mode: 0o755}) }, abi.EROFS},
		{"create existing", func() error { return e.vfs.MkdirAt(e.ctx, rootCreds, e.pop("/ro/f"), &vfs.MkdirOptions{Mode: 0o755}) }, abi.EEXIST},
		{"open for write", func() error {
			_, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop("/ro/f"), &vfs.OpenOptions{Flags: abi.O_WRONLY})
			return err
		}, abi.EROFS},
		{"unlink", func() error { return e.vfs.UnlinkAt(e.ctx, rootCreds, e.lpop("/ro/f")) }, abi.EROFS},
		{"chmod", func() error {
			return e.vfs.SetStatAt(e.ctx, rootCreds, e.pop("/ro/f"), &vfs.SetStatOptions{Mask: abi.STATX_MODE, Mode: 0o777})
		}, abi.EROFS},
		{"exec on noexec", func() error {
			_, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop("/ro/f"), &vfs.OpenOptions{Flags: abi.O_RDONLY, FileExec: true})
			return err
		}, abi.EACCES},
		{"access W_OK", func() error { return e.vfs.AccessAt(e.ctx, rootCreds, e.pop("/ro/f"), vfs.MayWrite) }, abi.EROFS},
	} {
		t.Run("read-only "+tc.name, func(t *testing.T) {
			if err := tc.op(); errnoOf(err) != tc.want {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The same file stays writable through its own mount.
	e.write(rootCreds, "/data/f", "changed", 0o644)
	if got, _ := e.readFile(rootCreds, e.pop("/ro/f")); got != "changed" {
		t.Errorf("bind mount shows %q, want the change", got)
	}

	// /proc/mounts view.
	var got []string
	for _, m := range e.vfs.Mounts(e.ctx, e.root) {
		got = append(got, fmt.Sprintf("%s %s %s %s", m.MountPoint, m.Root, m.FSType, m.Flags))
	}
	want := []string{"/ / tmpfs rw", "/mnt / tmpfs rw", "/ro /data tmpfs ro,noexec"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}

	// Unmount uncovers the files below.
	if err := e.vfs.UmountAt(e.ctx, rootCreds, e.pop("/mnt")); err != nil {
		t.Fatalf("umount: %v", err)
	}
	if got, err := e.readFile(rootCreds, e.pop("/mnt/hidden")); err != nil || got != "under the mount" {
		t.Errorf("after umount: %q, %v", got, err)
	}
	if err := e.vfs.UmountAt(e.ctx, rootCreds, e.pop("/data")); errnoOf(err) != abi.EINVAL {
		t.Errorf("umount of a non-mount: got %v, want EINVAL", err)
	}
	if err := e.vfs.UmountAt(e.ctx, rootCreds, e.pop("/")); errnoOf(err) != abi.EBUSY {
		t.Errorf("umount of the root: got %v, want EBUSY", err)
	}
}
