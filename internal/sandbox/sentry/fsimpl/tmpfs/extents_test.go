package tmpfs

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

const pg = 4096

func TestExtentSetInsert(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []extent
		want []extent
	}{
		{"one", []extent{{0, pg, 8 * pg}}, []extent{{0, pg, 8 * pg}}},
		{"merge after", []extent{{0, pg, 8 * pg}, {pg, 3 * pg, 9 * pg}}, []extent{{0, 3 * pg, 8 * pg}}},
		{"merge before", []extent{{pg, 2 * pg, 9 * pg}, {0, pg, 8 * pg}}, []extent{{0, 2 * pg, 8 * pg}}},
		{"merge both", []extent{{0, pg, 8 * pg}, {2 * pg, 3 * pg, 10 * pg}, {pg, 2 * pg, 9 * pg}}, []extent{{0, 3 * pg, 8 * pg}}},
		{"adjacent in file only", []extent{{0, pg, 8 * pg}, {pg, 2 * pg, 20 * pg}}, []extent{{0, pg, 8 * pg}, {pg, 2 * pg, 20 * pg}}},
		{"adjacent in memory only", []extent{{0, pg, 8 * pg}, {2 * pg, 3 * pg, 9 * pg}}, []extent{{0, pg, 8 * pg}, {2 * pg, 3 * pg, 9 * pg}}},
		{"sorted on insert", []extent{{5 * pg, 6 * pg, 0}, {0, pg, 30 * pg}, {2 * pg, 3 * pg, 50 * pg}}, []extent{{0, pg, 30 * pg}, {2 * pg, 3 * pg, 50 * pg}, {5 * pg, 6 * pg, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s extentSet
			var bytes uint64
			for _, e := range tc.in {
				s.insert(e)
				bytes += e.end - e.start
			}
			if diff := cmp.Diff(tc.want, s.es, cmp.AllowUnexported(extent{})); diff != "" {
				t.Errorf("extents (-want +got):\n%s", diff)
			}
			if s.bytes != bytes {
				t.Errorf("bytes = %d, want %d", s.bytes, bytes)
			}
		})
	}
}

func TestExtentSetSegments(t *testing.T) {
	var s extentSet
	s.insert(extent{pg, 3 * pg, 10 * pg})
	s.insert(extent{5 * pg, 6 * pg, 40 * pg})
	for _, tc := range []struct {
		name       string
		start, end uint64
		want       []segment
	}{
		{"all hole before", 0, pg, []segment{{start: 0, end: pg, hole: true}}},
		{"inside, unaligned", pg + 10, 2*pg + 5, []segment{{start: pg + 10, end: 2*pg + 5, mem: 10*pg + 10}}},
		{"across", 100, 7 * pg, []segment{
			{start: 100, end: pg, hole: true},
			{start: pg, end: 3 * pg, mem: 10 * pg},
			{start: 3 * pg, end: 5 * pg, hole: true},
			{start: 5 * pg, end: 6 * pg, mem: 40 * pg},
			{start: 6 * pg, end: 7 * pg, hole: true},
		}},
		{"past the last", 8 * pg, 9 * pg, []segment{{start: 8 * pg, end: 9 * pg, hole: true}}},
		{"empty", 2 * pg, 2 * pg, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.segments(tc.start, tc.end)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(segment{})); diff != "" {
				t.Errorf("segments(%d, %d) (-want +got):\n%s", tc.start, tc.end, diff)
			}
		})
	}
}

func TestExtentSetTruncate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		off       uint64
		wantKept  []extent
		wantFreed []memmap.FileRange
	}{
		{"split", 2 * pg, []extent{{pg, 2 * pg, 10 * pg}}, []memmap.FileRange{{Start: 11 * pg, End: 12 * pg}, {Start: 40 * pg, End: 41 * pg}}},
		{"at a boundary", 3 * pg, []extent{{pg, 3 * pg, 10 * pg}}, []memmap.FileRange{{Start: 40 * pg, End: 41 * pg}}},
		{"in a hole", 4 * pg, []extent{{pg, 3 * pg, 10 * pg}}, []memmap.FileRange{{Start: 40 * pg, End: 41 * pg}}},
		{"everything", 0, []extent{}, []memmap.FileRange{{Start: 10 * pg, End: 12 * pg}, {Start: 40 * pg, End: 41 * pg}}},
		{"nothing", 9 * pg, []extent{{pg, 3 * pg, 10 * pg}, {5 * pg, 6 * pg, 40 * pg}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s extentSet
			s.insert(extent{pg, 3 * pg, 10 * pg})
			s.insert(extent{5 * pg, 6 * pg, 40 * pg})
			freed := s.truncate(tc.off)
			if diff := cmp.Diff(tc.wantKept, s.es, cmp.AllowUnexported(extent{})); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantFreed, freed); diff != "" {
				t.Errorf("freed (-want +got):\n%s", diff)
			}
			var bytes uint64
			for _, e := range s.es {
				bytes += e.end - e.start
			}
			if s.bytes != bytes {
				t.Errorf("bytes = %d, want %d", s.bytes, bytes)
			}
			if _, ok := s.lookup(tc.off); ok {
				t.Errorf("lookup(%d) finds data after truncating there", tc.off)
			}
		})
	}
}

// TestSequentialWriteExtents writes a file in 1 MiB pieces: the data
// lands in one extent (so reads are one host copy per call), reads back
// equal, and truncation and release return every page.
func TestSequentialWriteExtents(t *testing.T) {
	mf := memfile.New(t, 32<<20)
	v := vfs.New(vfs.Config{})
	fsys, root := New(v, mf, Options{})
	defer root.DecRef(context.Background())
	fs := fsys.Impl().(*filesystem)
	f := fs.newRegularFile(0o644, 0, 0)

	const chunk = 1 << 20
	want := make([]byte, 16*chunk)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	for off := 0; off < len(want); off += chunk {
		if n, _, err := f.write(&vfs.BytesSrc{Buf: want[off : off+chunk]}, int64(off), false); err != nil || n != chunk {
			t.Fatalf("write at %d = %d, %v", off, n, err)
		}
	}
	if len(f.data.es) != 1 {
		t.Errorf("16 sequential writes made %d extents, want 1", len(f.data.es))
	}
	got := make([]byte, len(want)+10)
	n, err := f.read(&vfs.BytesDst{Buf: got}, 0)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("read = %d, %v", n, err)
	}
	if !bytes.Equal(got[:n], want) {
		t.Errorf("16 MiB read back differs")
	}
	if used := fs.usedPages.Load(); used != 16*chunk/pg {
		t.Errorf("used pages = %d, want %d", used, 16*chunk/pg)
	}
	if err := f.truncate(chunk + 1); err != nil {
		t.Fatal(err)
	}
	if used := fs.usedPages.Load(); used != chunk/pg+1 {
		t.Errorf("after truncate used pages = %d, want %d", used, chunk/pg+1)
	}
	f.release()
	if used, alloc := fs.usedPages.Load(), mf.Allocated(); used != 0 || alloc != 0 {
		t.Errorf("after release: used pages %d, memory-file pages %d; want 0", used, alloc)
	}
}

// faultySrc is application memory of which only the first good bytes
// are readable: the rest faults (EFAULT).
type faultySrc struct {
	buf  []byte
	good int
}

func (s *faultySrc) NumBytes() int64 { return int64(len(s.buf)) }

func (s *faultySrc) CopyIn(dst []byte) (int, error) {
	n := copy(dst, s.buf[:s.good])
	s.buf, s.good = s.buf[n:], s.good-n
	if n < len(dst) && len(s.buf) > 0 {
		return n, abi.EFAULT
	}
	return n, nil
}

func (s *faultySrc) CopyInTo(writev func([][]byte) (int, error)) (int, error) {
	if s.good == 0 {
		if len(s.buf) == 0 {
			return 0, nil
		}
		return 0, abi.EFAULT
	}
	n, err := writev([][]byte{s.buf[:s.good]})
	s.buf, s.good = s.buf[n:], s.good-n
	return n, err
}

// TestWriteFaultPartway checks a write whose source faults partway: the
// bytes before the fault are written and counted, the size ends there,
// and the pages allocated for the rest are freed.
func TestWriteFaultPartway(t *testing.T) {
	for _, tc := range []struct {
		name      string
		off       int64
		good      int
		wantN     int64
		wantErr   error
		wantSize  uint64
		wantPages int64
	}{
		{"fault after two pages", 0, 2 * pg, 2 * pg, nil, 2 * pg, 2},
		{"fault mid-page", 100, pg, pg, nil, pg + 100, 2},
		{"fault at once", 0, 0, 0, abi.EFAULT, 0, 0},
		{"fault at once past the end", 5 * pg, 0, 0, abi.EFAULT, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mf := memfile.New(t, 4<<20)
			v := vfs.New(vfs.Config{})
			fsys, root := New(v, mf, Options{})
			defer root.DecRef(context.Background())
			fs := fsys.Impl().(*filesystem)
			f := fs.newRegularFile(0o644, 0, 0)
			src := &faultySrc{buf: bytes.Repeat([]byte("s"), 8*pg), good: tc.good}
			n, end, err := f.write(src, tc.off, false)
			if n != tc.wantN || err != tc.wantErr || end != tc.off+tc.wantN {
				t.Errorf("write = %d, %d, %v; want %d, %d, %v", n, end, err, tc.wantN, tc.off+tc.wantN, tc.wantErr)
			}
			if f.size != tc.wantSize {
				t.Errorf("size = %d, want %d", f.size, tc.wantSize)
			}
			if used := fs.usedPages.Load(); used != tc.wantPages || int64(mf.Allocated()) != tc.wantPages {
				t.Errorf("pages: tmpfs %d, memory file %d; want %d", used, mf.Allocated(), tc.wantPages)
			}
			got := make([]byte, 16*pg)
			r, _ := f.read(&vfs.BytesDst{Buf: got}, 0)
			if want := bytes.Count(got[:r], []byte("s")); int64(want) != tc.wantN {
				t.Errorf("read back %d bytes of data, want %d", want, tc.wantN)
			}
			f.release()
		})
	}
}
