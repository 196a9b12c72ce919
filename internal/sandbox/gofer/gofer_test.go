package gofer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/protocol"
)

// serve runs an unconfined gofer on mounts in a goroutine and returns a
// client per mount; everything stops when the test ends.
func serve(t *testing.T, mounts ...MountConfig) []*protocol.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var conns []*os.File
	var ends []*os.File
	for range mounts {
		cs, gs, err := protocol.NewSocketPair()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, gs)
		ends = append(ends, cs)
	}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, Config{Mounts: mounts}, conns...) }()
	var clients []*protocol.Client
	for _, cs := range ends {
		cc, err := protocol.FileConn(cs)
		if err != nil {
			t.Fatal(err)
		}
		c, err := protocol.NewClient(ctx, cc, nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
		if err := <-done; err != nil {
			t.Errorf("gofer: %v", err)
		}
		cancel()
	})
	return clients
}

func mkTree(t *testing.T, files map[string]string, links map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "/" { // a directory
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
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

func readFD(t *testing.T, fd int) string {
	t.Helper()
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestServeOperations(t *testing.T) {
	dir := mkTree(t, map[string]string{"etc/hostname": "box", "empty/": "/"}, nil)
	c := serve(t, MountConfig{HostPath: dir})[0]
	ctx := context.Background()
	root, err := c.Attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := c.Walk(ctx, root.Handle, []string{"etc", "hostname"})
	if err != nil || len(ins) != 2 {
		t.Fatalf("walk etc/hostname = %v, %v", ins, err)
	}
	fd, err := c.Open(ctx, ins[1].Handle, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFD(t, fd); got != "box" {
		t.Errorf("read %q", got)
	}
	// Create, write through the donated descriptor, stat.
	f, wfd, err := c.Create(ctx, root.Handle, "new", unix.O_RDWR, 0o640, uint32(os.Getuid()), uint32(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(wfd, []byte("hello"))
	unix.Close(wfd)
	st, err := c.Stat(ctx, f.Handle)
	if err != nil || st.Size != 5 || st.Mode != unix.S_IFREG|0o640 {
		t.Errorf("stat of the new file: %+v, %v", st, err)
	}
	if _, _, err := c.Create(ctx, root.Handle, "new", unix.O_RDWR, 0o640, 0, 0); !errors.Is(err, unix.EEXIST) {
		t.Errorf("second create: %v, want EEXIST", err)
	}
	// Mkdir, symlink, link, rename, unlink, setattr, getdents.
	d, err := c.Mkdir(ctx, root.Handle, "d", 0o750, uint32(os.Getuid()), uint32(os.Getgid()))
	if err != nil || d.Stat.Mode != unix.S_IFDIR|0o750 {
		t.Fatalf("mkdir: %+v, %v", d, err)
	}
	l, err := c.Symlink(ctx, d.Handle, "l", "../new", uint32(os.Getuid()), uint32(os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	if target, err := c.Readlink(ctx, l.Handle); err != nil || target != "../new" {
		t.Errorf("readlink = %q, %v", target, err)
	}
	if _, err := c.Link(ctx, d.Handle, "hard", f.Handle); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Stat(ctx, f.Handle); st.Nlink != 2 {
		t.Errorf("nlink after link = %d", st.Nlink)
	}
	if err := c.Rename(ctx, root.Handle, "new", d.Handle, "moved", 0); err != nil {
		t.Fatal(err)
	}
	st, err = c.SetAttr(ctx, f.Handle, protocol.SetAttr{Mask: unix.STATX_MODE | unix.STATX_SIZE | unix.STATX_MTIME, Mode: 0o600, Size: 2, Mtime: protocol.Timespec{Sec: 1000}})
	if err != nil || st.Mode != unix.S_IFREG|0o600 || st.Size != 2 || st.Mtime.Sec != 1000 {
		t.Errorf("setattr: %+v, %v", st, err)
	}
	ents, err := c.Getdents(ctx, d.Handle, 0, 4096)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{".", "..", "hard", "l", "moved"}, names); diff != "" {
		t.Errorf("getdents (-want +got):\n%s", diff)
	}
	// Offsets resume a listing.
	rest, err := c.Getdents(ctx, d.Handle, ents[0].Off, 4096)
	if err != nil || len(rest) != len(ents)-1 {
		t.Errorf("getdents from the first entry's offset: %d entries, %v", len(rest), err)
	}
	if err := c.Unlink(ctx, d.Handle, "moved", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlink(ctx, root.Handle, "d", unix.AT_REMOVEDIR); !errors.Is(err, unix.ENOTEMPTY) {
		t.Errorf("rmdir of a non-empty directory: %v", err)
	}
	if _, err := c.Mknod(ctx, root.Handle, "fifo", unix.S_IFIFO|0o600, 0, 0, 0); err != nil {
		t.Errorf("mknod fifo: %v", err)
	}
	if _, err := c.Mknod(ctx, root.Handle, "null", unix.S_IFCHR|0o600, unix.Mkdev(1, 3), 0, 0); !errors.Is(err, unix.EPERM) {
		t.Errorf("mknod of a device: %v, want EPERM", err)
	}
	if sfs, err := c.StatFS(ctx, root.Handle); err != nil || sfs.Namelen == 0 {
		t.Errorf("statfs: %+v, %v", sfs, err)
	}
	if err := c.CloseHandles(ctx, f.Handle, d.Handle); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, f.Handle); !errors.Is(err, unix.EBADF) {
		t.Errorf("stat of a closed handle: %v, want EBADF", err)
	}
}

func TestReadOnly(t *testing.T) {
	dir := mkTree(t, map[string]string{"f": "data"}, nil)
	c := serve(t, MountConfig{HostPath: dir, ReadOnly: true})[0]
	ctx := context.Background()
	root, _ := c.Attach(ctx)
	f, err := c.Walk(ctx, root.Handle, []string{"f"})
	if err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"open for write": func() error { _, err := c.Open(ctx, f[0].Handle, unix.O_WRONLY); return err },
		"open trunc":     func() error { _, err := c.Open(ctx, f[0].Handle, unix.O_RDONLY|unix.O_TRUNC); return err },
		"create": func() error {
			_, _, err := c.Create(ctx, root.Handle, "x", unix.O_RDWR, 0o644, 0, 0)
			return err
		},
		"mkdir":  func() error { _, err := c.Mkdir(ctx, root.Handle, "x", 0o755, 0, 0); return err },
		"unlink": func() error { return c.Unlink(ctx, root.Handle, "f", 0) },
		"rename": func() error { return c.Rename(ctx, root.Handle, "f", root.Handle, "g", 0) },
		"setattr": func() error {
			_, err := c.SetAttr(ctx, f[0].Handle, protocol.SetAttr{Mask: unix.STATX_MODE})
			return err
		},
	} {
		if err := op(); !errors.Is(err, unix.EROFS) {
			t.Errorf("%s on a read-only mount: %v, want EROFS", name, err)
		}
	}
	fd, err := c.Open(ctx, f[0].Handle, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFD(t, fd); got != "data" {
		t.Errorf("read %q", got)
	}
}

// TestHostileTree checks that nothing the tree's symbolic links say takes
// the Gofer outside it: links are never followed, only returned.
func TestHostileTree(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := mkTree(t, map[string]string{"etc/passwd": "inside"}, map[string]string{
		"etc/x":     "../../../../../../../../" + outside + "/secret",
		"abs":       outside,
		"rootlink":  "/",
		"procroot":  "/proc/self/root" + outside,
		"etc/loop":  "loop",
		"dotdotdir": "..",
	})
	c := serve(t, MountConfig{HostPath: dir})[0]
	ctx := context.Background()
	root, _ := c.Attach(ctx)
	for _, tc := range []struct {
		name  string
		names []string
		// wantLast is the type of the last inode walked.
		wantLast uint32
		wantN    int
	}{
		{"relative escape", []string{"etc", "x", "secret"}, unix.S_IFLNK, 2},
		{"absolute link to a directory", []string{"abs", "secret"}, unix.S_IFLNK, 1},
		{"link to /", []string{"rootlink", "etc"}, unix.S_IFLNK, 1},
		{"link into /proc/self/root", []string{"procroot", "secret"}, unix.S_IFLNK, 1},
		{"link to ..", []string{"dotdotdir", "etc"}, unix.S_IFLNK, 1},
		{"self loop", []string{"etc", "loop", "loop"}, unix.S_IFLNK, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := c.Walk(ctx, root.Handle, tc.names)
			if err != nil {
				t.Fatal(err)
			}
			if len(ins) != tc.wantN || ins[len(ins)-1].Stat.Mode&unix.S_IFMT != tc.wantLast {
				t.Fatalf("walked %d names, last mode %o; want %d, a symlink", len(ins), ins[len(ins)-1].Stat.Mode, tc.wantN)
			}
			link := ins[len(ins)-1].Handle
			if _, err := c.Open(ctx, link, unix.O_RDONLY); !errors.Is(err, unix.ENXIO) {
				t.Errorf("open of a symlink handle: %v, want ENXIO", err)
			}
			if _, err := c.Walk(ctx, link, []string{"secret"}); !errors.Is(err, unix.ENOTDIR) {
				t.Errorf("walk from a symlink handle: %v, want ENOTDIR", err)
			}
			if _, _, err := c.Create(ctx, link, "x", unix.O_RDWR, 0o644, 0, 0); !errors.Is(err, unix.ENOTDIR) {
				t.Errorf("create through a symlink handle: %v, want ENOTDIR", err)
			}
		})
	}
	// Names that would climb are refused before they reach the server.
	for _, bad := range []string{"..", ".", "a/b", "", "x\x00y"} {
		if _, err := c.Walk(ctx, root.Handle, []string{bad}); !errors.Is(err, unix.EINVAL) {
			t.Errorf("walk %q: %v, want EINVAL", bad, err)
		}
	}
	// Creating over a dangling symlink does not write through it.
	if err := os.Symlink(filepath.Join(outside, "planted"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Create(ctx, root.Handle, "dangling", unix.O_RDWR, 0o644, 0, 0); !errors.Is(err, unix.EEXIST) {
		t.Errorf("create over a dangling symlink: %v, want EEXIST", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !os.IsNotExist(err) {
		t.Errorf("a file appeared outside the tree: %v", err)
	}
	// SetAttr on a symlink handle changes the link, not its target.
	ins, _ := c.Walk(ctx, root.Handle, []string{"etc", "x"})
	if _, err := c.SetAttr(ctx, ins[1].Handle, protocol.SetAttr{Mask: unix.STATX_MODE | unix.STATX_MTIME, Mode: 0o777, Mtime: protocol.Timespec{Sec: 5}}); err != nil {
		t.Errorf("setattr of a symlink: %v", err)
	}
	if _, err := c.SetAttr(ctx, ins[1].Handle, protocol.SetAttr{Mask: unix.STATX_SIZE}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("truncate of a symlink: %v, want EINVAL", err)
	}
	if fi, _ := os.Stat(filepath.Join(outside, "secret")); fi.Mode().Perm() != 0o600 || fi.ModTime().Unix() == 5 {
		t.Errorf("the link's target outside the tree changed: %v %v", fi.Mode(), fi.ModTime())
	}
}

// TestSwapRace swaps a directory for a symbolic link to outside the tree
// while a client walks through it: every walk either sees the directory
// or stops at the link, and never reaches the outside file.
func TestSwapRace(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "f"), []byte("outside"), 0o644)
	dir := mkTree(t, map[string]string{"d/f": "inside"}, nil)
	c := serve(t, MountConfig{HostPath: dir})[0]
	ctx := context.Background()
	root, _ := c.Attach(ctx)
	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		d, real, link := filepath.Join(dir, "d"), filepath.Join(dir, "real"), filepath.Join(dir, "link")
		os.Rename(d, real)
		os.Symlink(outside, link)
		for {
			select {
			case <-stop:
				return
			default:
			}
			os.Rename(link, d) // d is now a symlink to outside
			os.Rename(d, link)
			os.Rename(real, d) // d is the real directory again
			os.Rename(d, real)
		}
	}()
	defer func() {
		close(stop)
		<-swapped
	}()
	for i := 0; i < 2000; i++ {
		ins, err := c.Walk(ctx, root.Handle, []string{"d", "f"})
		if err != nil {
			continue
		}
		last := ins[len(ins)-1]
		if last.Stat.Mode&unix.S_IFMT == unix.S_IFREG {
			fd, err := c.Open(ctx, last.Handle, unix.O_RDONLY)
			if err == nil {
				if got := readFD(t, fd); got != "inside" {
					t.Fatalf("walk %d read %q through a swapped directory", i, got)
				}
			}
		}
		hs := make([]protocol.Handle, len(ins))
		for j, in := range ins {
			hs[j] = in.Handle
		}
		c.CloseHandles(ctx, hs...)
	}
}

// TestFileMount serves a single regular file, as a bind mount of a file
// (/etc/resolv.conf) is served.
func TestFileMount(t *testing.T) {
	f := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(f, []byte("nameserver 10.0.0.10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := serve(t, MountConfig{HostPath: f})[0]
	ctx := context.Background()
	root, err := c.Attach(ctx)
	if err != nil || root.Stat.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Fatalf("attach = %+v, %v", root, err)
	}
	fd, err := c.Open(ctx, root.Handle, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFD(t, fd); got != "nameserver 10.0.0.10\n" {
		t.Errorf("read %q", got)
	}
	if _, err := c.Walk(ctx, root.Handle, []string{"x"}); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("walk from a file root: %v, want ENOTDIR", err)
	}
	if _, err := Open(Config{Mounts: []MountConfig{{HostPath: "/dev/null"}}}); err == nil {
		t.Error("serving a device was accepted")
	}
}

func TestMainChecksConfig(t *testing.T) {
	cfg := &bootconfig.GoferConfig{Root: t.TempDir(), Mounts: []bootconfig.GoferMount{{Source: t.TempDir()}}, FDs: bootconfig.GoferFDs{Sockets: []int{3}}}
	if err := Main(context.Background(), cfg, nil); err == nil {
		t.Error("Main accepted one socket for two trees")
	}
}
