package loader

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm/pgalloc"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
)

type fakePlatform struct{}

func (fakePlatform) Name() string { return "fake" }
func (fakePlatform) NewAddressSpace() (platform.AddressSpace, error) {
	return fakeAS{}, nil
}
func (fakePlatform) NewContext() platform.Context { return nil }
func (fakePlatform) MinUserAddress() uint64       { return 0x10000 }
func (fakePlatform) MaxUserAddress() uint64       { return 0x7ff000000000 }
func (fakePlatform) FPStateSize() int             { return 512 }
func (fakePlatform) Close() error                 { return nil }

type fakeAS struct{}

func (fakeAS) MapFile(uint64, memmap.FileRange, memmap.AccessType, bool) error { return nil }
func (fakeAS) Protect(uint64, uint64, memmap.AccessType) error                 { return nil }
func (fakeAS) Unmap(uint64, uint64)                                            {}
func (fakeAS) Release()                                                        {}

// bytesFile is a File over a byte slice; it cannot be mapped, so the
// loader copies segments.
type bytesFile struct{ b []byte }

func (f *bytesFile) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(f.b)) {
		return 0, io.EOF
	}
	n := copy(p, f.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (f *bytesFile) ConfigureMMap(ctx context.Context, opts *memmap.MMapOpts) error {
	return abi.ENODEV
}
func (f *bytesFile) DecRef(ctx context.Context) {}

func newMM(t testing.TB) *mm.MemoryManager {
	t.Helper()
	mf, err := pgalloc.New(pgalloc.Config{Size: 1 << 30})
	if err != nil {
		t.Fatalf("pgalloc.New: %v", err)
	}
	t.Cleanup(func() { mf.Close() })
	return mm.New(mm.Deps{Platform: fakePlatform{}, MemoryFile: mf})
}

func busybox(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("this test needs /bin/busybox from the busybox-static package: %v", err)
	}
	return b
}

func opener(files map[string][]byte) func(ctx context.Context, path string) (File, error) {
	return func(ctx context.Context, path string) (File, error) {
		b, ok := files[path]
		if !ok {
			return nil, abi.ENOENT
		}
		return &bytesFile{b: b}, nil
	}
}

func readWords(t *testing.T, m *mm.MemoryManager, addr uint64, n int) []uint64 {
	t.Helper()
	b := make([]byte, 8*n)
	if _, err := m.CopyIn(context.Background(), addr, b); err != nil {
		t.Fatalf("CopyIn(%#x): %v", addr, err)
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}

func readString(t *testing.T, m *mm.MemoryManager, addr uint64) string {
	t.Helper()
	s, err := m.CopyInString(context.Background(), addr, 4096)
	if err != nil {
		t.Fatalf("CopyInString(%#x): %v", addr, err)
	}
	return s
}

func TestLoadBusybox(t *testing.T) {
	ctx := context.Background()
	bb := busybox(t)
	m := newMM(t)
	img, err := Load(ctx, m, Config{
		Filename: "/bin/busybox",
		Argv:     []string{"busybox", "echo", "hi"},
		Envv:     []string{"PATH=/bin", "HOME=/"},
		Open:     opener(map[string][]byte{"/bin/busybox": bb}),
		UID:      1000, EUID: 1000, GID: 100, EGID: 100,
		Random: [16]byte{1, 2, 3},
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := binary.LittleEndian.Uint64(bb[24:]); img.Entry != want {
		t.Errorf("entry = %#x, want the ELF entry %#x", img.Entry, want)
	}
	if img.StackPointer%16 != 0 {
		t.Errorf("stack pointer %#x is not 16-byte aligned", img.StackPointer)
	}
	if img.Name != "busybox" {
		t.Errorf("name = %q", img.Name)
	}
	w := readWords(t, m, img.StackPointer, int((m.Layout().StackTop-img.StackPointer)/8))
	if w[0] != 3 {
		t.Fatalf("argc = %d, want 3", w[0])
	}
	var args, envs []string
	for i := 1; w[i] != 0; i++ {
		args = append(args, readString(t, m, w[i]))
	}
	i := 5
	for ; w[i] != 0; i++ {
		envs = append(envs, readString(t, m, w[i]))
	}
	if diff := cmp.Diff([]string{"busybox", "echo", "hi"}, args); diff != "" {
		t.Errorf("argv (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"PATH=/bin", "HOME=/"}, envs); diff != "" {
		t.Errorf("envp (-want +got):\n%s", diff)
	}
	aux := map[uint64]uint64{}
	for i++; w[i] != abi.AT_NULL; i += 2 {
		aux[w[i]] = w[i+1]
	}
	if aux[abi.AT_PAGESZ] != abi.PageSize || aux[abi.AT_UID] != 1000 || aux[abi.AT_EGID] != 100 || aux[abi.AT_ENTRY] != img.Entry {
		t.Errorf("auxv %v lacks the expected values", aux)
	}
	if got := readString(t, m, aux[abi.AT_EXECFN]); got != "/bin/busybox" {
		t.Errorf("AT_EXECFN = %q", got)
	}
	rnd := make([]byte, 3)
	m.CopyIn(ctx, aux[abi.AT_RANDOM], rnd)
	if string(rnd) != "\x01\x02\x03" {
		t.Errorf("AT_RANDOM bytes = %v", rnd)
	}
	// AT_PHDR points at the program headers as mapped.
	ph := make([]byte, 4)
	m.CopyIn(ctx, aux[abi.AT_PHDR], ph)
	phoff := binary.LittleEndian.Uint64(bb[32:])
	if string(ph) != string(bb[phoff:phoff+4]) {
		t.Errorf("AT_PHDR %#x does not point at the program headers", aux[abi.AT_PHDR])
	}
	// The text is mapped: the entry point's bytes are the file's.
	code := make([]byte, 16)
	if _, err := m.CopyIn(ctx, img.Entry, code); err != nil {
		t.Errorf("reading the entry point: %v", err)
	}
}

func TestScripts(t *testing.T) {
	ctx := context.Background()
	bb := busybox(t)
	files := map[string][]byte{
		"/bin/busybox": bb,
		"/s1":          []byte("#!/bin/busybox sh -e \nexit 0\n"),
		"/s2":          []byte("#!/s1\n"),
		"/loop":        []byte("#!/loop\n"),
		"/empty":       []byte("#!\n"),
		"/text":        []byte("echo not a script\n"),
		"/nothing":     nil,
	}
	for _, tc := range []struct {
		name     string
		path     string
		wantArgv []string
		wantErr  error
	}{
		{"interpreter with argument", "/s1", []string{"/bin/busybox", "sh -e", "/s1", "a"}, nil},
		{"script naming a script", "/s2", []string{"/bin/busybox", "sh -e", "/s1", "/s2", "a"}, nil},
		{"self loop", "/loop", nil, abi.ELOOP},
		{"empty interpreter", "/empty", nil, abi.ENOEXEC},
		{"plain text", "/text", nil, abi.ENOEXEC},
		{"empty file", "/nothing", nil, abi.ENOEXEC},
		{"missing", "/missing", nil, abi.ENOENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Load(ctx, newMM(t), Config{Filename: tc.path, Argv: []string{tc.path, "a"}, Open: opener(files)})
			if tc.wantErr != nil {
				if err != tc.wantErr {
					t.Fatalf("Load = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tc.wantArgv, img.Argv); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestE2BIG(t *testing.T) {
	bb := busybox(t)
	big := make([]byte, abi.MAX_ARG_STRLEN)
	for i := range big {
		big[i] = 'x'
	}
	_, err := Load(context.Background(), newMM(t), Config{Filename: "/bin/busybox", Argv: []string{string(big)}, Open: opener(map[string][]byte{"/bin/busybox": bb})})
	if err != abi.E2BIG {
		t.Errorf("Load with a huge argument = %v, want E2BIG", err)
	}
}

// TestHostileELF mutates a real executable at random: loading must fail
// cleanly or succeed, never panic or hang.
func TestHostileELF(t *testing.T) {
	bb := busybox(t)
	head := bb[:4096]
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 300; i++ {
		b := append([]byte(nil), bb...)
		switch i % 4 {
		case 0: // flip bytes in the headers
			for j := 0; j < 1+rng.Intn(8); j++ {
				b[rng.Intn(len(head))] = byte(rng.Intn(256))
			}
		case 1: // truncate
			b = b[:rng.Intn(len(head))]
		case 2: // random garbage after the magic
			for j := 4; j < 512; j++ {
				b[j] = byte(rng.Intn(256))
			}
		case 3: // huge program header counts and offsets
			binary.LittleEndian.PutUint64(b[32:], rng.Uint64())
			binary.LittleEndian.PutUint16(b[56:], uint16(rng.Intn(70000)))
		}
		_, err := Load(context.Background(), newMM(t), Config{Filename: "/x", Argv: []string{"x"}, Open: opener(map[string][]byte{"/x": b})})
		var errno abi.Errno
		if err != nil && !errors.As(err, &errno) {
			t.Errorf("case %d: error %v is not an errno", i, err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Add([]byte("#!/x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Load(context.Background(), newMM(t), Config{Filename: "/x", Argv: []string{"x"}, Open: opener(map[string][]byte{"/x": b, "/bin/sh": b})})
	})
}
