package tmpfs_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

var root = vfs.RootCredentials()

type env struct {
	t    *testing.T
	ctx  context.Context
	vfs  *vfs.VirtualFilesystem
	mf   *memfile.File
	root vfs.VirtualDentry
}

func newEnv(t *testing.T, opts tmpfs.Options) *env {
	ctx := context.Background()
	mf := memfile.New(t, 64<<20)
	v := vfs.New(vfs.Config{})
	fs, r := tmpfs.New(v, mf, opts)
	ns := v.NewMountNamespaceFrom(fs, r, "none", vfs.MountFlags{})
	e := &env{t: t, ctx: ctx, vfs: v, mf: mf, root: ns.Root()}
	t.Cleanup(func() { e.root.DecRef(ctx) })
	return e
}

func (e *env) open(path string, flags uint32) *vfs.FileDescription {
	e.t.Helper()
	fd, err := e.vfs.OpenAt(e.ctx, root, &vfs.PathOperation{Root: e.root, Start: e.root, Path: path, FollowFinalSymlink: true}, &vfs.OpenOptions{Flags: flags, Mode: 0o644})
	if err != nil {
		e.t.Fatalf("open %s: %v", path, err)
	}
	return fd
}

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}

func pread(t *testing.T, ctx context.Context, fd *vfs.FileDescription, n int, off int64) []byte {
	t.Helper()
	buf := make([]byte, n)
	got, err := fd.PRead(ctx, &vfs.BytesDst{Buf: buf}, off, vfs.ReadOptions{})
	if err != nil {
		t.Fatalf("pread %d at %d: %v", n, off, err)
	}
	return buf[:got]
}

func TestRegularFile(t *testing.T) {
	e := newEnv(t, tmpfs.Options{})
	fd := e.open("/f", abi.O_RDWR|abi.O_CREAT)
	defer fd.DecRef(e.ctx)

	// A sparse write far in: the hole reads as zeros, size follows.
	data := bytes.Repeat([]byte("abcdefgh"), 1000) // 8000 bytes, crosses pages
	if n, err := fd.PWrite(e.ctx, &vfs.BytesSrc{Buf: data}, 10000, vfs.WriteOptions{}); err != nil || n != 8000 {
		t.Fatalf("pwrite = %d, %v", n, err)
	}
	st, _ := fd.Stat(e.ctx, abi.STATX_SIZE|abi.STATX_BLOCKS)
	if st.Size != 18000 {
		t.Errorf("size = %d, want 18000", st.Size)
	}
	if st.Blocks != 3*8 {
		t.Errorf("blocks = %d, want 24 (three pages touched)", st.Blocks)
	}
	if got := pread(t, e.ctx, fd, 100, 4000); !bytes.Equal(got, make([]byte, 100)) {
		t.Errorf("hole reads %q", got)
	}
	if got := pread(t, e.ctx, fd, 8000, 10000); !bytes.Equal(got, data) {
		t.Errorf("data reads back wrong")
	}
	if got := pread(t, e.ctx, fd, 100, 17950); len(got) != 50 {
		t.Errorf("read across the end returned %d bytes, want 50", len(got))
	}
	if got := pread(t, e.ctx, fd, 100, 20000); len(got) != 0 {
		t.Errorf("read past the end returned %d bytes", len(got))
	}

	// Sequential read/write share the offset; lseek.
	if off, err := fd.Seek(e.ctx, 0, abi.SEEK_END); err != nil || off != 18000 {
		t.Errorf("SEEK_END = %d, %v", off, err)
	}
	if _, err := fd.Write(e.ctx, &vfs.BytesSrc{Buf: []byte("tail")}, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := pread(t, e.ctx, fd, 10, 18000); string(got) != "tail" {
		t.Errorf("after write at the end: %q", got)
	}
	if _, err := fd.Seek(e.ctx, -1, abi.SEEK_SET); errnoOf(err) != abi.EINVAL {
		t.Errorf("seek to -1: got %v, want EINVAL", err)
	}

	// Truncate down to mid-page then up: the cut bytes read as zeros and
	// the pages past the end are freed.
	before := e.mf.Allocated()
	if err := fd.SetStat(e.ctx, root, &vfs.SetStatOptions{Mask: abi.STATX_SIZE, Size: 10004}); err != nil {
		t.Fatal(err)
	}
	if got := e.mf.Allocated(); got != before-2 {
		t.Errorf("truncate freed %d pages, want 2", before-got)
	}
	if err := fd.SetStat(e.ctx, root, &vfs.SetStatOptions{Mask: abi.STATX_SIZE, Size: 12000}); err != nil {
		t.Fatal(err)
	}
	if got := pread(t, e.ctx, fd, 8, 10000); string(got) != "abcd\x00\x00\x00\x00" {
		t.Errorf("after truncate and grow: %q", got)
	}

	// O_APPEND writes at the end whatever the offset.
	afd := e.open("/f", abi.O_WRONLY|abi.O_APPEND)
	defer afd.DecRef(e.ctx)
	if _, err := afd.PWrite(e.ctx, &vfs.BytesSrc{Buf: []byte("END")}, 0, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := pread(t, e.ctx, fd, 3, 12000); string(got) != "END" {
		t.Errorf("O_APPEND pwrite landed elsewhere: %q at the end", got)
	}

	// O_TRUNC empties the file.
	tfd := e.open("/f", abi.O_WRONLY|abi.O_TRUNC)
	tfd.DecRef(e.ctx)
	if st, _ := fd.Stat(e.ctx, abi.STATX_SIZE); st.Size != 0 {
		t.Errorf("size after O_TRUNC = %d", st.Size)
	}
}

// TestDataFreed checks that an unlinked file's pages are freed only when
// its last open file is closed.
func TestDataFreed(t *testing.T) {
	e := newEnv(t, tmpfs.Options{})
	fd := e.open("/f", abi.O_RDWR|abi.O_CREAT)
	if _, err := fd.Write(e.ctx, &vfs.BytesSrc{Buf: make([]byte, 5*abi.PageSize)}, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := e.mf.Allocated(); got != 5 {
		t.Fatalf("%d pages allocated, want 5", got)
	}
	pop := &vfs.PathOperation{Root: e.root, Start: e.root, Path: "/f"}
	if err := e.vfs.UnlinkAt(e.ctx, root, pop); err != nil {
		t.Fatal(err)
	}
	if got := e.mf.Allocated(); got != 5 {
		t.Errorf("unlink of an open file freed its pages (%d left)", got)
	}
	fd.DecRef(e.ctx)
	if got := e.mf.Allocated(); got != 0 {
		t.Errorf("%d pages still allocated after the last close", got)
	}
}

func TestSizeLimit(t *testing.T) {
	e := newEnv(t, tmpfs.Options{MaxSize: 4 * abi.PageSize})
	fd := e.open("/f", abi.O_RDWR|abi.O_CREAT)
	defer fd.DecRef(e.ctx)
	if _, err := fd.Write(e.ctx, &vfs.BytesSrc{Buf: make([]byte, 4*abi.PageSize)}, vfs.WriteOptions{}); err != nil {
		t.Fatalf("write within the limit: %v", err)
	}
	if _, err := fd.Write(e.ctx, &vfs.BytesSrc{Buf: []byte("x")}, vfs.WriteOptions{}); errnoOf(err) != abi.ENOSPC {
		t.Errorf("write past the limit: got %v, want ENOSPC", err)
	}
	st, err := fd.StatFS(e.ctx)
	if err != nil || st.Blocks != 4 || st.BlocksFree != 0 {
		t.Errorf("statfs = %+v, %v", st, err)
	}
}

type space struct{ invalidated []memmap.AddrRange }

func (s *space) Invalidate(ar memmap.AddrRange, opts memmap.InvalidateOpts) {
	s.invalidated = append(s.invalidated, ar)
}

// TestMappable checks the memmap side: a mapping sees the file's pages,
// and truncation invalidates mappings past the new end.
func TestMappable(t *testing.T) {
	e := newEnv(t, tmpfs.Options{})
	fd := e.open("/f", abi.O_RDWR|abi.O_CREAT)
	defer fd.DecRef(e.ctx)
	if _, err := fd.Write(e.ctx, &vfs.BytesSrc{Buf: append(bytes.Repeat([]byte{'a'}, abi.PageSize), 'b')}, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	opts := memmap.MMapOpts{Length: 4 * abi.PageSize, Perms: memmap.ReadWrite, MaxPerms: memmap.AnyAccess}
	if err := fd.ConfigureMMap(e.ctx, &opts); err != nil {
		t.Fatal(err)
	}
	defer opts.MappingIdentity.DecRef(e.ctx)
	if opts.MappingIdentity.MappedName(e.ctx) != "/f" {
		t.Errorf("mapped name %q", opts.MappingIdentity.MappedName(e.ctx))
	}
	m := opts.Mappable
	ms := &space{}
	ar := memmap.AddrRange{Start: 0x10000, End: 0x14000}
	if err := m.AddMapping(e.ctx, ms, ar, 0, true); err != nil {
		t.Fatal(err)
	}
	ts, err := m.Translate(e.ctx, memmap.MappableRange{Start: 0, End: 2 * abi.PageSize}, memmap.MappableRange{Start: 0, End: 4 * abi.PageSize}, memmap.Write)
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	var total uint64
	for _, tr := range ts {
		total += tr.Source.Length()
	}
	if total != 2*abi.PageSize {
		t.Fatalf("translations cover %d bytes, want two pages", total)
	}
	// Writing through the translated page changes the file.
	last := ts[len(ts)-1]
	page := e.mf.Bytes(last.File)
	page[len(page)-abi.PageSize+1] = 'M'
	if got := pread(t, e.ctx, fd, 2, abi.PageSize); string(got) != "b" {
		t.Errorf("file reads %q past the end after a write beyond EOF in the mapping", got)
	}
	page[len(page)-abi.PageSize] = 'Z'
	if got := pread(t, e.ctx, fd, 1, abi.PageSize); string(got) != "Z" {
		t.Errorf("file reads %q, want the byte written through the mapping", got)
	}
	// Past the end of the file: SIGBUS.
	if _, err := m.Translate(e.ctx, memmap.MappableRange{Start: 2 * abi.PageSize, End: 3 * abi.PageSize}, memmap.MappableRange{Start: 0, End: 4 * abi.PageSize}, memmap.Read); !errors.Is(err, memmap.ErrBeyondEOF) {
		t.Errorf("translate past EOF: got %v, want ErrBeyondEOF", err)
	}
	// Truncation invalidates the mapped pages past the new end.
	if err := fd.SetStat(e.ctx, root, &vfs.SetStatOptions{Mask: abi.STATX_SIZE, Size: 10}); err != nil {
		t.Fatal(err)
	}
	want := memmap.AddrRange{Start: 0x11000, End: 0x12000}
	if len(ms.invalidated) != 1 || ms.invalidated[0] != want {
		t.Errorf("invalidated %v, want [%v]", ms.invalidated, want)
	}
	m.RemoveMapping(e.ctx, ms, ar, 0, true)

	// A read-only file cannot be mapped shared and writable.
	rfd := e.open("/f", abi.O_RDONLY)
	defer rfd.DecRef(e.ctx)
	o := memmap.MMapOpts{Length: abi.PageSize, Perms: memmap.ReadWrite, MaxPerms: memmap.AnyAccess}
	if err := rfd.ConfigureMMap(e.ctx, &o); errnoOf(err) != abi.EACCES {
		t.Errorf("shared writable mapping of a read-only file: got %v, want EACCES", err)
	}
}

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		data    string
		want    tmpfs.Options
		wantErr bool
	}{
		{data: "", want: tmpfs.Options{Mode: 0o1777}},
		{data: "mode=755,uid=5,gid=6,size=64m", want: tmpfs.Options{Mode: 0o755, UID: 5, GID: 6, MaxSize: 64 << 20}},
		{data: "size=1g", want: tmpfs.Options{Mode: 0o1777, MaxSize: 1 << 30}},
		{data: "mode=999", wantErr: true},
		{data: "size=50%", wantErr: true},
		{data: "bogus=1", wantErr: true},
		{data: "uid=-1", wantErr: true},
	} {
		t.Run(tc.data, func(t *testing.T) {
			got, err := tmpfs.ParseOptions(tc.data, root)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
