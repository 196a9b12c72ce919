package gofer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/gofer"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/gofertest"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

var root = vfs.RootCredentials()

type env struct {
	t      *testing.T
	ctx    context.Context
	vfs    *vfs.VirtualFilesystem
	mf     *memfile.File
	rootVD vfs.VirtualDentry
	host   string
}

// newEnv serves dir with a Gofer in a goroutine and mounts it as the root
// of a VFS, as boot does with a Gofer process.
func newEnv(t *testing.T, dir string, readOnly bool, maxCached int) *env {
	return newEnvOpts(t, dir, readOnly, gofer.Options{MaxCachedDentries: maxCached})
}

func newEnvOpts(t *testing.T, dir string, readOnly bool, opts gofer.Options) *env {
	t.Helper()
	ctx := context.Background()
	opts.Client = gofertest.Serve(t, dir, readOnly)
	mf := memfile.New(t, 64<<20)
	opts.MemoryFile = mf
	v := vfs.New(vfs.Config{})
	fs, rd, err := gofer.New(ctx, v, opts)
	if err != nil {
		t.Fatal(err)
	}
	ns := v.NewMountNamespaceFrom(fs, rd, "rootfs", vfs.MountFlags{ReadOnly: readOnly})
	e := &env{t: t, ctx: ctx, vfs: v, mf: mf, rootVD: ns.Root(), host: dir}
	t.Cleanup(func() {
		e.rootVD.DecRef(ctx)
		ns.DecRef(ctx) // releases the file system, which closes the client
	})
	return e
}

func (e *env) pop(p string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: e.rootVD, Start: e.rootVD, Path: p, FollowFinalSymlink: true}
}

func (e *env) open(p string, flags uint32) (*vfs.FileDescription, error) {
	return e.vfs.OpenAt(e.ctx, root, e.pop(p), &vfs.OpenOptions{Flags: flags, Mode: 0o644})
}

func (e *env) read(p string) (string, error) {
	fd, err := e.open(p, abi.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer fd.DecRef(e.ctx)
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := fd.Read(e.ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
		if err != nil {
			return "", err
		}
		if n == 0 {
			return b.String(), nil
		}
		b.Write(buf[:n])
	}
}

func (e *env) write(p, content string) {
	e.t.Helper()
	fd, err := e.open(p, abi.O_WRONLY|abi.O_CREAT|abi.O_TRUNC)
	if err != nil {
		e.t.Fatalf("create %s: %v", p, err)
	}
	defer fd.DecRef(e.ctx)
	if _, err := fd.Write(e.ctx, &vfs.BytesSrc{Buf: []byte(content)}, vfs.WriteOptions{}); err != nil {
		e.t.Fatalf("write %s: %v", p, err)
	}
}

func (e *env) list(p string) []string {
	e.t.Helper()
	fd, err := e.open(p, abi.O_RDONLY|abi.O_DIRECTORY)
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
		e.t.Fatalf("getdents %s: %v", p, err)
	}
	sort.Strings(names)
	return names
}

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}

func hostTree(t *testing.T, files map[string]string, links map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if strings.HasSuffix(p, "/") {
			os.MkdirAll(full, 0o755)
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFileOperations(t *testing.T) {
	dir := hostTree(t, map[string]string{"etc/passwd": "root:x:0:0\n", "bin/sh": "#!", "tmp/": ""}, map[string]string{"bin/ash": "sh"})
	e := newEnv(t, dir, false, 0)
	if got, err := e.read("/etc/passwd"); err != nil || got != "root:x:0:0\n" {
		t.Errorf("read /etc/passwd = %q, %v", got, err)
	}
	if got, err := e.vfs.ReadlinkAt(e.ctx, root, e.pop("/bin/ash")); err != nil || got != "sh" {
		t.Errorf("readlink = %q, %v", got, err)
	}
	e.write("/tmp/a", "hello")
	if b, _ := os.ReadFile(filepath.Join(dir, "tmp/a")); string(b) != "hello" {
		t.Errorf("host sees %q", b)
	}
	// Append, stat, truncate.
	fd, err := e.open("/tmp/a", abi.O_WRONLY|abi.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	fd.Write(e.ctx, &vfs.BytesSrc{Buf: []byte(" world")}, vfs.WriteOptions{})
	st, err := fd.Stat(e.ctx, abi.STATX_SIZE)
	fd.DecRef(e.ctx)
	if err != nil || st.Size != 11 {
		t.Errorf("size after append = %d, %v", st.Size, err)
	}
	if err := e.vfs.SetStatAt(e.ctx, root, e.pop("/tmp/a"), &vfs.SetStatOptions{Mask: abi.STATX_SIZE | abi.STATX_MODE, Size: 4, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/tmp/a"); got != "hell" {
		t.Errorf("after truncate: %q", got)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "tmp/a")); fi.Mode().Perm() != 0o600 {
		t.Errorf("host mode %v", fi.Mode())
	}
	// mkdir, symlink, link, rename, unlink, rmdir.
	if err := e.vfs.MkdirAt(e.ctx, root, e.pop("/tmp/d"), &vfs.MkdirOptions{Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	if err := e.vfs.SymlinkAt(e.ctx, root, e.pop("/tmp/d/l"), "../a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/tmp/d/l"); got != "hell" {
		t.Errorf("read through a new symlink: %q", got)
	}
	if err := e.vfs.LinkAt(e.ctx, root, e.pop("/tmp/a"), e.pop("/tmp/d/hard")); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.vfs.StatAt(e.ctx, root, e.pop("/tmp/a"), abi.STATX_NLINK); st.Nlink != 2 {
		t.Errorf("nlink after link = %d", st.Nlink)
	}
	if err := e.vfs.RenameAt(e.ctx, root, e.pop("/tmp/d"), e.pop("/tmp/e"), &vfs.RenameOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hard", "l"}, e.list("/tmp/e")); diff != "" {
		t.Errorf("/tmp/e (-want +got):\n%s", diff)
	}
	if err := e.vfs.RmdirAt(e.ctx, root, e.pop("/tmp/e")); errnoOf(err) != abi.ENOTEMPTY {
		t.Errorf("rmdir of a non-empty directory: %v", err)
	}
	for _, p := range []string{"/tmp/e/hard", "/tmp/e/l"} {
		if err := e.vfs.UnlinkAt(e.ctx, root, &vfs.PathOperation{Root: e.rootVD, Start: e.rootVD, Path: p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.vfs.RmdirAt(e.ctx, root, e.pop("/tmp/e")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp/e")); !os.IsNotExist(err) {
		t.Errorf("host still has tmp/e: %v", err)
	}
	// A FIFO on the Gofer's tree is a pipe in the Sentry.
	if err := e.vfs.MknodAt(e.ctx, root, e.pop("/tmp/fifo"), &vfs.MknodOptions{Mode: abi.S_IFIFO | 0o600}); err != nil {
		t.Fatal(err)
	}
	rw, err := e.open("/tmp/fifo", abi.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	rw.Write(e.ctx, &vfs.BytesSrc{Buf: []byte("piped")}, vfs.WriteOptions{})
	buf := make([]byte, 10)
	n, err := rw.Read(e.ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{})
	rw.DecRef(e.ctx)
	if err != nil || string(buf[:n]) != "piped" {
		t.Errorf("fifo read %q, %v", buf[:n], err)
	}
	if st, err := e.vfs.StatFSAt(e.ctx, root, e.pop("/")); err != nil || st.NameLength == 0 {
		t.Errorf("statfs = %+v, %v", st, err)
	}
}

// TestEscapes mounts a hostile tree: whatever its symbolic links say,
// reads stay inside it.
func TestEscapes(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "shadow"), []byte("HOST SECRET"), 0o600)
	dir := hostTree(t, map[string]string{"etc/shadow": "decoy inside the rootfs", "etc/hostname": "box"}, map[string]string{
		"etc/x":       "../../../../../../../../../../etc/shadow",
		"etc/abs":     "/etc/shadow",
		"etc/hostdir": outside,
		"rootlink":    "/",
		"proclink":    "/proc/self/root" + outside + "/shadow",
		"up":          "..",
	})
	e := newEnv(t, dir, false, 0)
	for _, tc := range []struct {
		path    string
		want    string
		wantErr abi.Errno
	}{
		{path: "/etc/x", want: "decoy inside the rootfs"},
		{path: "/etc/abs", want: "decoy inside the rootfs"},
		{path: "/rootlink/etc/shadow", want: "decoy inside the rootfs"},
		{path: "/up/up/up/etc/hostname", want: "box"},
		{path: "/../../../etc/shadow", want: "decoy inside the rootfs"},
		// The host directory's path does not exist inside the sandbox.
		{path: "/etc/hostdir/shadow", wantErr: abi.ENOENT},
		// There is no /proc in this VFS, and the host's is never used.
		{path: "/proclink", wantErr: abi.ENOENT},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, err := e.read(tc.path)
			if errnoOf(err) != tc.wantErr || got != tc.want {
				t.Errorf("read %s = %q, %v; want %q, %v", tc.path, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReadOnlyRoot(t *testing.T) {
	dir := hostTree(t, map[string]string{"f": "data"}, nil)
	e := newEnv(t, dir, true, 0)
	if got, err := e.read("/f"); err != nil || got != "data" {
		t.Errorf("read = %q, %v", got, err)
	}
	if _, err := e.open("/f", abi.O_WRONLY); errnoOf(err) != abi.EROFS {
		t.Errorf("open for write: %v, want EROFS", err)
	}
	if err := e.vfs.MkdirAt(e.ctx, root, e.pop("/d"), &vfs.MkdirOptions{Mode: 0o755}); errnoOf(err) != abi.EROFS {
		t.Errorf("mkdir: %v, want EROFS", err)
	}
}

// TestManyFiles creates, writes, reads, renames, lists and unlinks 10,000
// files through a small dentry cache (so Gofer handles are evicted and
// reopened all along).
func TestManyFiles(t *testing.T) {
	dir := hostTree(t, map[string]string{"d/": "", "moved/": ""}, nil)
	e := newEnv(t, dir, false, 64)
	const n = 10000
	for i := 0; i < n; i++ {
		e.write(fmt.Sprintf("/d/f%d", i), fmt.Sprint(i))
	}
	if got := len(e.list("/d")); got != n {
		t.Fatalf("listed %d files, want %d", got, n)
	}
	for i := 0; i < n; i += 7 {
		if got, err := e.read(fmt.Sprintf("/d/f%d", i)); err != nil || got != fmt.Sprint(i) {
			t.Fatalf("read f%d = %q, %v", i, got, err)
		}
	}
	for i := 0; i < n; i++ {
		if err := e.vfs.RenameAt(e.ctx, root, e.pop(fmt.Sprintf("/d/f%d", i)), e.pop(fmt.Sprintf("/moved/g%d", i)), &vfs.RenameOptions{}); err != nil {
			t.Fatalf("rename f%d: %v", i, err)
		}
	}
	if got := len(e.list("/d")); got != 0 {
		t.Errorf("%d files left in /d", got)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "moved"))
	if len(ents) != n {
		t.Errorf("host sees %d files in moved, want %d", len(ents), n)
	}
	for i := 0; i < n; i++ {
		if err := e.vfs.UnlinkAt(e.ctx, root, e.pop(fmt.Sprintf("/moved/g%d", i))); err != nil {
			t.Fatalf("unlink g%d: %v", i, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "moved")); len(ents) != 0 {
		t.Errorf("host still has %d files", len(ents))
	}
	if c := e.rootVD.Mount().Filesystem().CachedDentries(); c > 64 {
		t.Errorf("%d unused dentries cached, want at most 64", c)
	}
}

type space struct{}

func (space) Invalidate(memmap.AddrRange, memmap.InvalidateOpts) {}

// TestMMap maps a file privately and shared: pages come from the host,
// writes through a shared mapping reach the host on fsync, and write(2)
// and the mapping agree.
func TestMMap(t *testing.T) {
	content := strings.Repeat("x", abi.PageSize) + "second page"
	dir := hostTree(t, map[string]string{"f": content}, nil)
	e := newEnv(t, dir, false, 0)
	fd, err := e.open("/f", abi.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef(e.ctx)
	opts := memmap.MMapOpts{Length: 2 * abi.PageSize, Perms: memmap.ReadWrite, MaxPerms: memmap.AnyAccess}
	if err := fd.ConfigureMMap(e.ctx, &opts); err != nil {
		t.Fatal(err)
	}
	defer opts.MappingIdentity.DecRef(e.ctx)
	m := opts.Mappable
	ar := memmap.AddrRange{Start: 0x100000, End: 0x102000}
	if err := m.AddMapping(e.ctx, space{}, ar, 0, true); err != nil {
		t.Fatal(err)
	}
	ts, err := m.Translate(e.ctx, memmap.MappableRange{Start: 0, End: 2 * abi.PageSize}, memmap.MappableRange{Start: 0, End: 2 * abi.PageSize}, memmap.Write)
	if err != nil {
		t.Fatal(err)
	}
	var pages [][]byte
	for _, tr := range ts {
		b := e.mf.Bytes(tr.File)
		for len(b) > 0 {
			pages = append(pages, b[:abi.PageSize])
			b = b[abi.PageSize:]
		}
	}
	if len(pages) != 2 || string(pages[1][:11]) != "second page" || pages[1][11] != 0 {
		t.Fatalf("mapped pages do not hold the file")
	}
	// A store through the mapping, then read(2): the same bytes.
	copy(pages[0], "MAPPED")
	buf := make([]byte, 6)
	if _, err := fd.PRead(e.ctx, &vfs.BytesDst{Buf: buf}, 0, vfs.ReadOptions{}); err != nil || string(buf) != "MAPPED" {
		t.Errorf("read after a store through the mapping: %q, %v", buf, err)
	}
	// write(2), then the mapping sees it.
	fd.PWrite(e.ctx, &vfs.BytesSrc{Buf: []byte("WRITTEN")}, abi.PageSize, vfs.WriteOptions{})
	if string(pages[1][:7]) != "WRITTEN" {
		t.Errorf("the mapping shows %q after write(2)", pages[1][:7])
	}
	if err := fd.Fsync(e.ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "f"))
	if !strings.HasPrefix(string(b), "MAPPED") || len(b) != len(content) {
		t.Errorf("host file after fsync starts %q, length %d", b[:10], len(b))
	}
	m.RemoveMapping(e.ctx, space{}, ar, 0, true)
	// Past the end of the file: SIGBUS.
	if _, err := m.Translate(e.ctx, memmap.MappableRange{Start: 2 * abi.PageSize, End: 3 * abi.PageSize}, memmap.MappableRange{Start: 0, End: 3 * abi.PageSize}, memmap.Read); !errors.Is(err, memmap.ErrBeyondEOF) {
		t.Errorf("translate past EOF: %v", err)
	}
}

// TestNegativeCache checks that absent names are remembered in an
// exclusive tree, and looked up again in a shared one.
func TestNegativeCache(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool
		want   abi.Errno
	}{
		{name: "exclusive", want: abi.ENOENT},
		{name: "shared", shared: true, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := hostTree(t, map[string]string{"bin/": ""}, nil)
			e := newEnvOpts(t, dir, false, gofer.Options{Shared: tc.shared})
			if _, err := e.read("/bin/tool"); errnoOf(err) != abi.ENOENT {
				t.Fatalf("first lookup: %v", err)
			}
			// The host adds the file behind the Sentry's back.
			os.WriteFile(filepath.Join(dir, "bin/tool"), []byte("x"), 0o755)
			if _, err := e.read("/bin/tool"); errnoOf(err) != tc.want {
				t.Errorf("second lookup: %v, want %v", err, tc.want)
			}
			// A name the Sentry creates is found either way.
			e.write("/bin/made", "y")
			if got, err := e.read("/bin/made"); err != nil || got != "y" {
				t.Errorf("created file: %q, %v", got, err)
			}
		})
	}
}

// TestFileBindMount mounts a Gofer serving one file over a file of the
// root, as a bind mount of /etc/resolv.conf is.
func TestFileBindMount(t *testing.T) {
	dir := hostTree(t, map[string]string{"etc/resolv.conf": "from the image\n"}, nil)
	e := newEnv(t, dir, false, 0)
	f := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(f, []byte("nameserver 10.0.0.10\n"), 0o644)
	mf := memfile.New(t, 1<<20)
	fs, rd, err := gofer.New(e.ctx, e.vfs, gofer.Options{Client: gofertest.Serve(t, f, true), MemoryFile: mf})
	if err != nil {
		t.Fatal(err)
	}
	mnt, err := e.vfs.ConnectMountAt(e.ctx, root, fs, rd, f, e.pop("/etc/resolv.conf"), vfs.MountFlags{ReadOnly: true})
	if err != nil {
		t.Fatalf("mounting a file on a file: %v", err)
	}
	_ = mnt
	if got, err := e.read("/etc/resolv.conf"); err != nil || got != "nameserver 10.0.0.10\n" {
		t.Errorf("read through the file mount: %q, %v", got, err)
	}
	if _, err := e.open("/etc/resolv.conf", abi.O_WRONLY); errnoOf(err) != abi.EROFS {
		t.Errorf("write to a read-only file mount: %v, want EROFS", err)
	}
	if err := e.vfs.UmountAt(e.ctx, root, e.pop("/etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.read("/etc/resolv.conf"); got != "from the image\n" {
		t.Errorf("after umount: %q", got)
	}
}
