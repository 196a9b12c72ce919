package vfs_test

import (
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func TestRename(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string
		flags    uint32
		want     abi.Errno
		// wantFiles lists /top after the rename.
		wantFiles []string
	}{
		{name: "file", old: "/top/f", new: "/top/g", wantFiles: []string{"d", "e", "full", "g", "h"}},
		{name: "over file", old: "/top/f", new: "/top/h", wantFiles: []string{"d", "e", "full", "h"}},
		{name: "noreplace", old: "/top/f", new: "/top/h", flags: abi.RENAME_NOREPLACE, want: abi.EEXIST},
		{name: "exchange", old: "/top/f", new: "/top/d", flags: abi.RENAME_EXCHANGE, wantFiles: []string{"d", "e", "f", "full", "h"}},
		{name: "exchange missing", old: "/top/f", new: "/top/nope", flags: abi.RENAME_EXCHANGE, want: abi.ENOENT},
		{name: "both flags", old: "/top/f", new: "/top/g", flags: abi.RENAME_EXCHANGE | abi.RENAME_NOREPLACE, want: abi.EINVAL},
		{name: "dir over empty dir", old: "/top/d", new: "/top/e", wantFiles: []string{"e", "f", "full", "h"}},
		{name: "dir over nonempty dir", old: "/top/d", new: "/top/full", want: abi.ENOTEMPTY},
		{name: "dir over file", old: "/top/d", new: "/top/f", want: abi.ENOTDIR},
		{name: "file over dir", old: "/top/f", new: "/top/d", want: abi.EISDIR},
		{name: "dir into itself", old: "/top/full", new: "/top/full/x/y", want: abi.EINVAL},
		{name: "dir into own child", old: "/top", new: "/top/full/t", want: abi.EINVAL},
		{name: "same file", old: "/top/f", new: "/top/f", wantFiles: []string{"d", "e", "f", "full", "h"}},
		{name: "missing", old: "/top/nope", new: "/top/x", want: abi.ENOENT},
		{name: "dot", old: "/top/.", new: "/top/x", want: abi.EBUSY},
		{name: "into another dir", old: "/top/f", new: "/top/d/f", wantFiles: []string{"d", "e", "full", "h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.mkdir("/top", 0o755)
			e.write(rootCreds, "/top/f", "f", 0o644)
			e.write(rootCreds, "/top/h", "h", 0o644)
			e.mkdir("/top/d", 0o755)
			e.mkdir("/top/e", 0o755)
			e.mkdir("/top/full", 0o755)
			e.mkdir("/top/full/x", 0o755)
			err := e.vfs.RenameAt(e.ctx, rootCreds, e.lpop(tc.old), e.lpop(tc.new), &vfs.RenameOptions{Flags: tc.flags})
			if errnoOf(err) != tc.want {
				t.Fatalf("rename %s %s: got %v, want %v", tc.old, tc.new, err, tc.want)
			}
			if err != nil {
				return
			}
			got := listDir(t, e, "/top")[2:]
			sort.Strings(got)
			if diff := cmp.Diff(tc.wantFiles, got); diff != "" {
				t.Errorf("/top after rename (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenameKeepsContentAndPaths(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/a", 0o755)
	e.mkdir("/a/b", 0o755)
	e.write(rootCreds, "/a/b/f", "content", 0o644)
	cwd, err := e.vfs.GetDentryAt(e.ctx, rootCreds, e.pop("/a/b"), &vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cwd.DecRef(e.ctx)
	fd, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop("/a/b/f"), &vfs.OpenOptions{Flags: abi.O_RDONLY})
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(e.ctx)
	e.mkdir("/z", 0o755)
	if err := e.vfs.RenameAt(e.ctx, rootCreds, e.lpop("/a"), e.lpop("/z/moved"), &vfs.RenameOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.vfs.PathnameForGetcwd(e.ctx, e.root, cwd); err != nil || got != "/z/moved/b" {
		t.Errorf("getcwd after a rename of its parent = %q, %v; want /z/moved/b", got, err)
	}
	if got := e.vfs.PathnameWithDeleted(e.ctx, e.root, fd.VirtualDentry()); got != "/z/moved/b/f" {
		t.Errorf("fd path = %q, want /z/moved/b/f", got)
	}
	// A relative path from the moved working directory still works.
	got, err := e.readFile(rootCreds, &vfs.PathOperation{Root: e.root, Start: cwd, Path: "f"})
	if err != nil || got != "content" {
		t.Errorf("read relative to the moved cwd: %q, %v", got, err)
	}
	// Removing the working directory: getcwd fails, paths show deleted.
	if err := e.vfs.UnlinkAt(e.ctx, rootCreds, e.lpop("/z/moved/b/f")); err != nil {
		t.Fatal(err)
	}
	if err := e.vfs.RmdirAt(e.ctx, rootCreds, e.lpop("/z/moved/b")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.vfs.PathnameForGetcwd(e.ctx, e.root, cwd); errnoOf(err) != abi.ENOENT {
		t.Errorf("getcwd of a removed directory: got %v, want ENOENT", err)
	}
	if got := e.vfs.PathnameWithDeleted(e.ctx, e.root, fd.VirtualDentry()); got != "/z/moved/b/f (deleted)" {
		t.Errorf("fd path after unlink = %q", got)
	}
	if err := e.vfs.MkdirAt(e.ctx, rootCreds, &vfs.PathOperation{Root: e.root, Start: cwd, Path: "new"}, &vfs.MkdirOptions{Mode: 0o755}); errnoOf(err) != abi.ENOENT {
		t.Errorf("mkdir in a removed directory: got %v, want ENOENT", err)
	}
	// The unlinked file's data stays readable through its open file.
	if got, err := readAll(e.ctx, fd); err != nil || got != "content" {
		t.Errorf("read of an unlinked open file: %q, %v", got, err)
	}
}

func TestHardLinks(t *testing.T) {
	e := newEnv(t)
	e.write(rootCreds, "/f", "shared", 0o644)
	e.mkdir("/d", 0o755)
	if err := e.vfs.LinkAt(e.ctx, rootCreds, e.lpop("/f"), e.lpop("/d/g")); err != nil {
		t.Fatal(err)
	}
	st, err := e.vfs.StatAt(e.ctx, rootCreds, e.pop("/d/g"), abi.STATX_NLINK|abi.STATX_INO)
	st0, _ := e.vfs.StatAt(e.ctx, rootCreds, e.pop("/f"), abi.STATX_INO)
	if err != nil || st.Nlink != 2 || st.Ino != st0.Ino {
		t.Errorf("after link: nlink %d ino %d (f's %d), %v", st.Nlink, st.Ino, st0.Ino, err)
	}
	if err := e.vfs.LinkAt(e.ctx, rootCreds, e.lpop("/d"), e.lpop("/d2")); errnoOf(err) != abi.EPERM {
		t.Errorf("link of a directory: got %v, want EPERM", err)
	}
	if err := e.vfs.LinkAt(e.ctx, rootCreds, e.lpop("/f"), e.lpop("/d/g")); errnoOf(err) != abi.EEXIST {
		t.Errorf("link over an existing name: got %v, want EEXIST", err)
	}
	if err := e.vfs.UnlinkAt(e.ctx, rootCreds, e.lpop("/f")); err != nil {
		t.Fatal(err)
	}
	if got, err := e.readFile(rootCreds, e.pop("/d/g")); err != nil || got != "shared" {
		t.Errorf("read of the remaining link: %q, %v", got, err)
	}
	st, _ = e.vfs.StatAt(e.ctx, rootCreds, e.pop("/d/g"), abi.STATX_NLINK)
	if st.Nlink != 1 {
		t.Errorf("nlink after unlink = %d, want 1", st.Nlink)
	}
}

// TestDentryCacheEviction runs a file system with a small dentry cache:
// evicted dentries come back on lookup, and held ones are never evicted.
func TestDentryCacheEviction(t *testing.T) {
	e := newEnvWithCache(t, 16)
	e.mkdir("/d", 0o755)
	for i := 0; i < 300; i++ {
		e.write(rootCreds, fmt.Sprintf("/d/f%d", i), fmt.Sprint(i), 0o644)
	}
	held, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop("/d/f7"), &vfs.OpenOptions{Flags: abi.O_RDONLY})
	if err != nil {
		t.Fatal(err)
	}
	defer held.DecRef(e.ctx)
	for round := 0; round < 3; round++ {
		for i := 0; i < 300; i++ {
			got, err := e.readFile(rootCreds, e.pop(fmt.Sprintf("/d/f%d", i)))
			if err != nil || got != fmt.Sprint(i) {
				t.Fatalf("round %d: read f%d = %q, %v", round, i, got, err)
			}
		}
	}
	if got, _ := readAll(e.ctx, held); got != "7" {
		t.Errorf("held file reads %q", got)
	}
	if n := e.root.Mount().Filesystem().CachedDentries(); n > 16 {
		t.Errorf("%d unused dentries cached, want at most 16", n)
	}
}

// TestConcurrentOps races creates, renames, unlinks, lookups and path
// generation in one directory tree (run with -race).
func TestConcurrentOps(t *testing.T) {
	e := newEnvWithCache(t, 8)
	e.mkdir("/a", 0o755)
	e.mkdir("/b", 0o755)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				name := fmt.Sprintf("/a/w%d-%d", w, i)
				fd, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop(name), &vfs.OpenOptions{Flags: abi.O_CREAT | abi.O_RDWR, Mode: 0o644})
				if err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				e.vfs.PathnameWithDeleted(e.ctx, e.root, fd.VirtualDentry())
				fd.DecRef(e.ctx)
				dst := fmt.Sprintf("/b/w%d-%d", w, i)
				if err := e.vfs.RenameAt(e.ctx, rootCreds, e.lpop(name), e.lpop(dst), &vfs.RenameOptions{}); err != nil {
					t.Errorf("rename %s: %v", name, err)
					return
				}
				if i%2 == 0 {
					if err := e.vfs.UnlinkAt(e.ctx, rootCreds, e.lpop(dst)); err != nil {
						t.Errorf("unlink %s: %v", dst, err)
						return
					}
				}
				e.vfs.StatAt(e.ctx, rootCreds, e.pop(fmt.Sprintf("/b/w%d-%d", (w+1)%4, i)), abi.STATX_INO)
			}
		}()
	}
	wg.Wait()
	if n := len(listDir(t, e, "/b")) - 2; n != 400 {
		t.Errorf("/b holds %d files, want 400", n)
	}
	if n := len(listDir(t, e, "/a")) - 2; n != 0 {
		t.Errorf("/a holds %d files, want 0", n)
	}
}

func TestStatFSAndDirents(t *testing.T) {
	e := newEnv(t)
	e.mkdir("/d", 0o755)
	e.write(rootCreds, "/d/f", "x", 0o644)
	e.symlink("f", "/d/l")
	if err := e.vfs.MknodAt(e.ctx, rootCreds, e.pop("/d/p"), &vfs.MknodOptions{Mode: abi.S_IFIFO | 0o644}); err != nil {
		t.Fatal(err)
	}
	fd, err := e.vfs.OpenAt(e.ctx, rootCreds, e.pop("/d"), &vfs.OpenOptions{Flags: abi.O_RDONLY | abi.O_DIRECTORY})
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(e.ctx)
	type ent struct {
		Name string
		Type uint8
	}
	var got []ent
	// A callback that takes two entries per call, like a small getdents
	// buffer, must still see every entry once.
	for {
		n := 0
		full := fmt.Errorf("full")
		err := fd.IterDirents(e.ctx, func(d vfs.Dirent) error {
			if n == 2 {
				return full
			}
			n++
			got = append(got, ent{d.Name, d.Type})
			return nil
		})
		if err == nil {
			break
		}
		if err != full {
			t.Fatal(err)
		}
	}
	want := []ent{{".", abi.DT_DIR}, {"..", abi.DT_DIR}, {"f", abi.DT_REG}, {"l", abi.DT_LNK}, {"p", abi.DT_FIFO}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dirents (-want +got):\n%s", diff)
	}
	if _, err := fd.Seek(e.ctx, 0, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	if n := len(listDirFD(t, e, fd)); n != 5 {
		t.Errorf("after rewinding, %d entries, want 5", n)
	}
	st, err := e.vfs.StatFSAt(e.ctx, rootCreds, e.pop("/d/f"))
	if err != nil || st.Type != 0x01021994 {
		t.Errorf("statfs type %#x, %v; want TMPFS_MAGIC", st.Type, err)
	}
}

func listDirFD(t *testing.T, e *env, fd *vfs.FileDescription) []string {
	var names []string
	if err := fd.IterDirents(e.ctx, func(d vfs.Dirent) error {
		names = append(names, d.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}
