package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeHandler is an in-memory tree for protocol tests: the real server is
// the Gofer, tested in its own package.
type fakeHandler struct {
	mu      sync.Mutex
	nodes   map[Handle]*fakeNode
	next    Handle
	closed  []Handle
	content string
}

type fakeNode struct {
	stat     Stat
	children map[string]Handle
	target   string
}

func newFake() *fakeHandler {
	f := &fakeHandler{nodes: map[Handle]*fakeNode{}, content: "file content"}
	f.next = 1
	f.add(unix.S_IFDIR | 0o755)
	return f
}

func (f *fakeHandler) add(mode uint32) Handle {
	h := f.next
	f.next++
	f.nodes[h] = &fakeNode{stat: Stat{Mode: mode, Ino: uint64(h), Nlink: 1}, children: map[string]Handle{}}
	return h
}

func (f *fakeHandler) inode(h Handle) Inode { return Inode{Handle: h, Stat: f.nodes[h].stat} }

func (f *fakeHandler) Attach() (Inode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inode(1), nil
}

func (f *fakeHandler) Walk(dir Handle, names []string) ([]Inode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Inode
	for _, n := range names {
		d, ok := f.nodes[dir]
		if !ok {
			return nil, unix.EBADF
		}
		c, ok := d.children[n]
		if !ok {
			if len(out) == 0 {
				return nil, unix.ENOENT
			}
			break
		}
		out = append(out, f.inode(c))
		dir = c
	}
	return out, nil
}

func (f *fakeHandler) Stat(h Handle) (Stat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[h]
	if !ok {
		return Stat{}, unix.EBADF
	}
	return n.stat, nil
}

func (f *fakeHandler) memfd() (int, error) {
	fd, err := unix.MemfdCreate("fake", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, err
	}
	unix.Write(fd, []byte(f.content))
	return fd, nil
}

func (f *fakeHandler) Open(h Handle, flags uint32) (int, error) {
	if _, err := f.Stat(h); err != nil {
		return -1, err
	}
	return f.memfd()
}

func (f *fakeHandler) mk(dir Handle, name string, mode uint32) (Inode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.nodes[dir]
	if !ok {
		return Inode{}, unix.EBADF
	}
	if _, ok := d.children[name]; ok {
		return Inode{}, unix.EEXIST
	}
	h := f.add(mode)
	d.children[name] = h
	return f.inode(h), nil
}

func (f *fakeHandler) Create(dir Handle, name string, flags, mode, uid, gid uint32) (Inode, int, error) {
	i, err := f.mk(dir, name, unix.S_IFREG|mode)
	if err != nil {
		return Inode{}, -1, err
	}
	fd, err := f.memfd()
	return i, fd, err
}

func (f *fakeHandler) Mkdir(dir Handle, name string, mode, uid, gid uint32) (Inode, error) {
	return f.mk(dir, name, unix.S_IFDIR|mode)
}

func (f *fakeHandler) Mknod(dir Handle, name string, mode uint32, rdev uint64, uid, gid uint32) (Inode, error) {
	return f.mk(dir, name, mode)
}

func (f *fakeHandler) Symlink(dir Handle, name, target string, uid, gid uint32) (Inode, error) {
	i, err := f.mk(dir, name, unix.S_IFLNK|0o777)
	if err == nil {
		f.mu.Lock()
		f.nodes[i.Handle].target = target
		f.mu.Unlock()
	}
	return i, err
}

func (f *fakeHandler) Link(dir Handle, name string, target Handle) (Inode, error) {
	return Inode{}, unix.EPERM
}

func (f *fakeHandler) Unlink(dir Handle, name string, flags uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.nodes[dir]
	if !ok {
		return unix.EBADF
	}
	if _, ok := d.children[name]; !ok {
		return unix.ENOENT
	}
	delete(d.children, name)
	return nil
}

func (f *fakeHandler) Rename(oldDir Handle, oldName string, newDir Handle, newName string, flags uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	od, nd := f.nodes[oldDir], f.nodes[newDir]
	if od == nil || nd == nil {
		return unix.EBADF
	}
	h, ok := od.children[oldName]
	if !ok {
		return unix.ENOENT
	}
	delete(od.children, oldName)
	nd.children[newName] = h
	return nil
}

func (f *fakeHandler) Readlink(h Handle) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[h]
	if !ok || n.stat.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	return n.target, nil
}

func (f *fakeHandler) SetAttr(h Handle, attr SetAttr) (Stat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[h]
	if !ok {
		return Stat{}, unix.EBADF
	}
	if attr.Mask&unix.STATX_MODE != 0 {
		n.stat.Mode = n.stat.Mode&unix.S_IFMT | attr.Mode
	}
	if attr.Mask&unix.STATX_SIZE != 0 {
		n.stat.Size = attr.Size
	}
	return n.stat, nil
}

func (f *fakeHandler) Getdents(h Handle, offset int64, size uint32) ([]Dirent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[h]
	if !ok {
		return nil, unix.EBADF
	}
	var names []string
	for name := range n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []Dirent
	for i := int(offset); i < len(names); i++ {
		out = append(out, Dirent{Ino: uint64(n.children[names[i]]), Off: int64(i + 1), Type: unix.DT_REG, Name: names[i]})
	}
	return out, nil
}

func (f *fakeHandler) StatFS(h Handle) (StatFS, error) {
	return StatFS{Type: 0xEF53, Bsize: 4096, Namelen: 255}, nil
}

func (f *fakeHandler) Close(hs []Handle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = append(f.closed, hs...)
}

// pair starts Serve with h on one end of a socket pair and returns a
// client on the other; both stop when the test ends.
func pair(t *testing.T, h Handler) *Client {
	t.Helper()
	cs, ss, err := NewSocketPair()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := FileConn(cs)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := FileConn(ss)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, sc, h, ServeOptions{}) }()
	c, err := NewClient(ctx, cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		cancel()
	})
	return c
}

func TestRoundTrip(t *testing.T) {
	f := newFake()
	c := pair(t, f)
	ctx := context.Background()
	root, err := c.Attach(ctx)
	if err != nil || root.Handle != 1 || root.Stat.Mode != unix.S_IFDIR|0o755 {
		t.Fatalf("Attach = %+v, %v", root, err)
	}
	dir, err := c.Mkdir(ctx, root.Handle, "d", 0o700, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	file, fd, err := c.Create(ctx, dir.Handle, "f", unix.O_RDWR, 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := unix.Pread(fd, buf, 0)
	unix.Close(fd)
	if err != nil || string(buf[:n]) != f.content {
		t.Errorf("read through the donated descriptor: %q, %v", buf[:n], err)
	}
	got, err := c.Walk(ctx, root.Handle, []string{"d", "f", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Inode{dir, file}, got); diff != "" {
		t.Errorf("walk (-want +got):\n%s", diff)
	}
	if _, err := c.Walk(ctx, root.Handle, []string{"nope"}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("walk of a missing name: %v, want ENOENT", err)
	}
	if _, err := c.Walk(ctx, root.Handle, []string{".."}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("walk of '..': %v, want EINVAL", err)
	}
	link, err := c.Symlink(ctx, dir.Handle, "l", "../../target", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if target, err := c.Readlink(ctx, link.Handle); err != nil || target != "../../target" {
		t.Errorf("Readlink = %q, %v", target, err)
	}
	st, err := c.SetAttr(ctx, file.Handle, SetAttr{Mask: unix.STATX_MODE | unix.STATX_SIZE, Mode: 0o600, Size: 7})
	if err != nil || st.Mode != unix.S_IFREG|0o600 || st.Size != 7 {
		t.Errorf("SetAttr = %+v, %v", st, err)
	}
	if err := c.Rename(ctx, dir.Handle, "f", root.Handle, "g", 0); err != nil {
		t.Fatal(err)
	}
	ents, err := c.Getdents(ctx, dir.Handle, 0, 4096)
	if err != nil || len(ents) != 1 || ents[0].Name != "l" {
		t.Errorf("Getdents = %+v, %v", ents, err)
	}
	if err := c.Unlink(ctx, root.Handle, "g", 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlink(ctx, root.Handle, "g", 0); !errors.Is(err, unix.ENOENT) {
		t.Errorf("second unlink: %v, want ENOENT", err)
	}
	if _, err := c.Link(ctx, root.Handle, "x", file.Handle); !errors.Is(err, unix.EPERM) {
		t.Errorf("Link: %v, want EPERM", err)
	}
	sfs, err := c.StatFS(ctx, root.Handle)
	if err != nil || sfs.Type != 0xEF53 {
		t.Errorf("StatFS = %+v, %v", sfs, err)
	}
	if _, err := c.Stat(ctx, 999); !errors.Is(err, unix.EBADF) {
		t.Errorf("Stat of an unknown handle: %v, want EBADF", err)
	}
	if err := c.CloseHandles(ctx, dir.Handle, file.Handle); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if diff := cmp.Diff([]Handle{dir.Handle, file.Handle}, closed); diff != "" {
		t.Errorf("closed handles (-want +got):\n%s", diff)
	}
}

func TestConcurrentCalls(t *testing.T) {
	f := newFake()
	c := pair(t, f)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				name := fmt.Sprintf("f%d-%d", w, i)
				in, fd, err := c.Create(ctx, 1, name, unix.O_RDWR, 0o644, 0, 0)
				if err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				unix.Close(fd)
				got, err := c.Walk(ctx, 1, []string{name})
				if err != nil || len(got) != 1 || got[0].Handle != in.Handle {
					t.Errorf("walk %s = %+v, %v", name, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestBrokenConnection checks calls fail cleanly when the server goes.
func TestBrokenConnection(t *testing.T) {
	cs, ss, err := NewSocketPair()
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := FileConn(cs)
	sc, _ := FileConn(ss)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, sc, newFake(), ServeOptions{}) }()
	c, err := NewClient(context.Background(), cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Serve after cancel: %v", err)
	}
	if _, err := c.Attach(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("call on a closed connection: %v, want ErrClosed", err)
	}
}

// rawServe runs Serve on one end and returns the other end raw.
func rawServe(t testing.TB) (*os.File, chan error) {
	cs, ss, err := NewSocketPair()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := FileConn(ss)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), sc, newFake(), ServeOptions{}) }()
	return cs, done
}

func TestServeRejects(t *testing.T) {
	version := func() []byte {
		e := &encoder{b: make([]byte, headerSize)}
		putHeader(e.b, TypeVersion, 1)
		e.u16(Version)
		return e.b
	}
	for _, tc := range []struct {
		name    string
		packets [][]byte
	}{
		{"no version first", [][]byte{{byte(TypeAttach), 0, 0, 0, 1, 0, 0, 0}}},
		{"short header", [][]byte{{1, 2, 3}}},
		{"reserved bytes", [][]byte{{byte(TypeVersion), 1, 0, 0, 1, 0, 0, 0, 1, 0}}},
		{"unknown type", [][]byte{version(), {200, 0, 0, 0, 2, 0, 0, 0}}},
		{"truncated walk", [][]byte{version(), {byte(TypeWalk), 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}}},
		{"trailing bytes", [][]byte{version(), {byte(TypeAttach), 0, 0, 0, 2, 0, 0, 0, 9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, done := rawServe(t)
			defer f.Close()
			for _, p := range tc.packets {
				if _, err := unix.Write(int(f.Fd()), p); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-done; !errors.Is(err, ErrMalformed) {
				t.Errorf("Serve = %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzServe feeds arbitrary requests to a server after a valid Version:
// it must answer or hang up, never panic.
func FuzzServe(f *testing.F) {
	for _, seed := range [][]byte{
		{byte(TypeAttach), 0, 0, 0, 2, 0, 0, 0},
		{byte(TypeWalk), 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 'a'},
		{byte(TypeClose), 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
		{byte(TypeGetdents), 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) == 0 || len(pkt) > MaxMessageSize {
			return
		}
		cs, done := rawServe(t)
		defer cs.Close()
		v := make([]byte, headerSize, headerSize+2)
		putHeader(v, TypeVersion, 1)
		v = append(v, Version, 0)
		unix.Write(int(cs.Fd()), v)
		unix.Write(int(cs.Fd()), pkt)
		// Read the version reply and whatever answer comes, then hang up.
		buf := make([]byte, MaxMessageSize)
		unix.Read(int(cs.Fd()), buf)
		unix.Shutdown(int(cs.Fd()), unix.SHUT_WR)
		<-done
	})
}

// FuzzDecodeReply decodes arbitrary replies of every type.
func FuzzDecodeReply(f *testing.F) {
	e := &encoder{}
	encodeReply(e, TypeWalk, &reply{Inodes: []Inode{{Handle: 3}}})
	f.Add(uint8(TypeWalk), e.b)
	e = &encoder{}
	encodeReply(e, TypeGetdents, &reply{Dirents: []Dirent{{Name: "x"}}})
	f.Add(uint8(TypeGetdents), e.b)
	f.Fuzz(func(t *testing.T, typ uint8, b []byte) {
		r, err := decodeReply(MsgType(typ), b)
		if err == nil && r == nil {
			t.Error("nil reply without an error")
		}
	})
}

// TestEncodeDecodeRequests checks every request survives a round trip.
func TestEncodeDecodeRequests(t *testing.T) {
	for typ := TypeVersion; typ < typeLast; typ++ {
		in := &request{Version: 1, Handle: 5, Dir: 6, Name: "n", Names: []string{"a", "b"}, Flags: 7, Mode: 8, UID: 9, GID: 10,
			Rdev: 11, Target: "t", Target2: 12, NewDir: 13, NewName: "m", Attr: SetAttr{Mask: 1, Size: 14}, Offset: 15, Size: 16, Handles: []Handle{17}}
		e := &encoder{}
		encodeRequest(e, typ, in)
		if _, err := decodeRequest(typ, e.b); err != nil {
			t.Errorf("%v: %v", typ, err)
		}
	}
}

var _ = net.ErrClosed
