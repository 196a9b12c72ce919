//go:build integration

package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/testutil/images"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("integration tests need root")
	}
}

func newStore(t *testing.T, cfg Config, deps Deps) *Store {
	t.Helper()
	requireRoot(t)
	if cfg.Root == "" {
		cfg.Root = filepath.Join(t.TempDir(), "images")
	}
	s, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		snaps, _ := s.Snapshots()
		for _, sn := range snaps {
			s.RemoveSnapshot(sn.Key)
		}
	})
	return s
}

func configDigest(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestImportArchives(t *testing.T) {
	bb := images.Busybox(t)
	want := configDigest(t, bb)
	tests := []struct {
		name    string
		archive func(t *testing.T) string
		ref     string
	}{
		{"docker save", func(t *testing.T) string { return images.DockerArchive(t, bb, "busybox:latest") }, "docker.io/library/busybox:latest"},
		{"oci layout", func(t *testing.T) string { return images.OCIArchive(t, bb, "example.com/tools/busybox:1.0") }, "example.com/tools/busybox:1.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, Config{}, Deps{})
			got, err := s.Import(context.Background(), tc.archive(t))
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			if len(got) != 1 || got[0].ID != want {
				t.Fatalf("imported %+v, want one image %s", got, want)
			}
			if diff := cmp.Diff([]string{tc.ref}, got[0].RepoTags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			for _, ref := range []string{tc.ref, want, want[7:19]} {
				if im, err := s.Get(ref); err != nil || im.ID != want {
					t.Errorf("Get(%q) = %s, %v; want %s", ref, im.ID, err, want)
				}
			}
			cfg, err := s.Config(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"sh"}, cfg.Cmd); diff != "" {
				t.Errorf("cmd (-want +got):\n%s", diff)
			}
			layer := s.layerPath(got[0].Layers[0])
			if fi, err := os.Lstat(filepath.Join(layer, "bin", "sh")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("bin/sh in the layer: %v %v, want a symlink", fi, err)
			}
			// A store reopened on the same root sees the image.
			s2, err := New(Config{Root: s.cfg.Root}, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s2.Get(tc.ref); err != nil {
				t.Errorf("after reopen: %v", err)
			}
		})
	}
}

func TestImportRejectsGarbage(t *testing.T) {
	s := newStore(t, Config{}, Deps{})
	p := filepath.Join(t.TempDir(), "junk.tar")
	b, _ := images.TarBytes([]*tar.Header{{Typeflag: tar.TypeReg, Name: "hello.txt", Mode: 0o644}}, map[string]string{"hello.txt": "hi"})
	os.WriteFile(p, b, 0o644)
	if _, err := s.Import(context.Background(), p); err == nil || !strings.Contains(err.Error(), "neither a docker save archive") {
		t.Errorf("import of a plain tar: %v, want a format error", err)
	}
	os.WriteFile(p, []byte("not a tar at all"), 0o644)
	if _, err := s.Import(context.Background(), p); err == nil {
		t.Errorf("import of garbage succeeded")
	}
}

// countingRegistry serves an in-process registry and counts blob fetches;
// block, if non-nil, holds every blob GET until closed.
func countingRegistry(t *testing.T, block chan struct{}) (string, *atomic.Int32) {
	var blobs atomic.Int32
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobs.Add(1)
			if block != nil {
				<-block
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Host, &blobs
}

func TestPullFromRegistry(t *testing.T) {
	host, blobs := countingRegistry(t, nil)
	bb := images.Busybox(t)
	images.Push(t, host+"/library/busybox:v1", bb)
	blobs.Store(0)
	// A plain-HTTP registry by a name (not loopback, which
	// go-containerregistry always reaches over plain HTTP): the transport
	// sends http requests to the in-process server and fails https ones,
	// as such a server would.
	for _, tc := range []struct {
		name     string
		insecure []string
		wantErr  bool
	}{
		{"insecure registry", []string{"registry.test:5000"}, false},
		{"not listed as insecure", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := roundTripper(func(r *http.Request) (*http.Response, error) {
				if r.URL.Scheme == "https" {
					return nil, errors.New("http: server gave HTTP response to HTTPS client")
				}
				r2 := r.Clone(r.Context())
				r2.URL.Scheme, r2.URL.Host = "http", host
				resp, err := http.DefaultTransport.RoundTrip(r2)
				if resp != nil {
					resp.Request = r // as if it had gone where it was sent
				}
				return resp, err
			})
			s := newStore(t, Config{InsecureRegistries: tc.insecure}, Deps{Transport: tr})
			im, err := s.Pull(context.Background(), "registry.test:5000/library/busybox:v1", PullOptions{})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("pull from a plain-http registry not listed as insecure succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			if im.RepoTags[0] != "registry.test:5000/library/busybox:v1" {
				t.Errorf("tags %v", im.RepoTags)
			}
		})
	}
	t.Run("pull", func(t *testing.T) {
		s := newStore(t, Config{InsecureRegistries: []string{host}}, Deps{})
		im, err := s.Pull(context.Background(), host+"/library/busybox:v1", PullOptions{})
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		if im.ID != configDigest(t, bb) {
			t.Errorf("pulled %s, want %s", im.ID, configDigest(t, bb))
		}
		if diff := cmp.Diff([]string{host + "/library/busybox:v1"}, im.RepoTags); diff != "" {
			t.Errorf("tags (-want +got):\n%s", diff)
		}
		if len(im.RepoDigests) != 1 || !strings.HasPrefix(im.RepoDigests[0], host+"/library/busybox@sha256:") {
			t.Errorf("repo digests %v", im.RepoDigests)
		}
		// Pull by digest works and stores the same image.
		im2, err := s.Pull(context.Background(), im.RepoDigests[0], PullOptions{})
		if err != nil || im2.ID != im.ID {
			t.Errorf("pull by digest: %v %s", err, im2.ID)
		}
		if _, err := s.Pull(context.Background(), host+"/library/nothere:v1", PullOptions{}); err == nil {
			t.Errorf("pull of a missing image succeeded")
		}
		if _, err := s.Pull(context.Background(), "UPPER/Case::bad", PullOptions{}); err == nil || !strings.Contains(err.Error(), "invalid image reference") {
			t.Errorf("pull of a bad reference: %v", err)
		}
	})
}

func TestPullDeduplicates(t *testing.T) {
	// Blob GETs block until released: the first pull stalls on its
	// first blob while the others arrive. Pushing uses HEAD and PUT only.
	block := make(chan struct{})
	host3, blobs3 := countingRegistry(t, block)
	bb := images.Busybox(t)
	images.Push(t, host3+"/library/busybox:v1", bb)
	blobs3.Store(0)

	s := newStore(t, Config{InsecureRegistries: []string{host3}}, Deps{})
	ref := host3 + "/library/busybox:v1"
	const n = 8
	var wg sync.WaitGroup
	results := make([]Image, n)
	shared := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], shared[i], errs[i] = s.pull(context.Background(), ref, PullOptions{})
		}()
	}
	// Wait until every other caller is waiting on the first one's pull,
	// which is blocked on its first blob.
	canon, _ := NormalizeRef(ref)
	for {
		s.pulls.mu.Lock()
		c := s.pulls.calls[canon]
		w := 0
		if c != nil {
			w = c.waiters
		}
		s.pulls.mu.Unlock()
		if w == n-1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(block)
	wg.Wait()
	nShared := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("pull %d: %v", i, errs[i])
		}
		if results[i].ID != configDigest(t, bb) {
			t.Errorf("pull %d got %s", i, results[i].ID)
		}
		if shared[i] {
			nShared++
		}
	}
	if nShared != n-1 {
		t.Errorf("%d pulls shared another's download, want %d", nShared, n-1)
	}
	// One layer blob and one config blob, fetched once.
	if got := blobs3.Load(); got != 2 {
		t.Errorf("registry served %d blob GETs for %d concurrent pulls, want 2", got, n)
	}
}

func TestSnapshots(t *testing.T) {
	s := newStore(t, Config{}, Deps{})
	if _, err := s.Add(context.Background(), images.Busybox(t), []string{busybox.Ref}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Prepare("pod1-a", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Prepare("pod1-b", "busybox:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.Rootfs, "etc", "only-a"), []byte("x"), 0o644); err != nil {
		t.Fatalf("writing into snapshot: %v", err)
	}
	if err := os.Remove(filepath.Join(a.Rootfs, "etc", "group")); err != nil {
		t.Fatalf("deleting from snapshot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.Rootfs, "etc", "only-a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written in snapshot a is visible in b: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.Rootfs, "etc", "group")); err != nil {
		t.Errorf("deleting in a removed the file from b: %v", err)
	}
	im, _ := s.Get("busybox")
	if _, err := os.Stat(filepath.Join(s.layerPath(im.Layers[0]), "etc", "group")); err != nil {
		t.Errorf("deleting in a snapshot changed the layer: %v", err)
	}
	// Prepare is idempotent.
	if again, err := s.Prepare("pod1-a", "busybox"); err != nil || again.Rootfs != a.Rootfs {
		t.Errorf("re-prepare: %v %v", again, err)
	}
	if _, err := s.Prepare("bad/key", "busybox"); err == nil {
		t.Errorf("prepare with a slash in the key succeeded")
	}
	if _, err := s.Prepare("k", "nosuchimage"); !errors.Is(err, ErrNotFound) {
		t.Errorf("prepare of a missing image: %v, want ErrNotFound", err)
	}
	// In use: cannot be removed.
	if err := s.Remove("busybox"); !errors.Is(err, ErrInUse) {
		t.Errorf("remove in use: %v, want ErrInUse", err)
	}
	for _, sn := range []Snapshot{a, b} {
		if err := s.RemoveSnapshot(sn.Key); err != nil {
			t.Fatal(err)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(sn.Rootfs, &st); err == nil {
			t.Errorf("snapshot %s still exists after removal", sn.Key)
		}
	}
	if err := s.RemoveSnapshot("pod1-a"); err != nil {
		t.Errorf("second removal: %v", err)
	}
	if err := s.Remove("busybox"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := os.Stat(s.layerPath(im.Layers[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("layer left after its only image was removed: %v", err)
	}
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Errorf("images left: %v %v", l, err)
	}
}

func TestRemoveKeepsSharedLayers(t *testing.T) {
	s := newStore(t, Config{}, Deps{})
	bb := images.Busybox(t)
	app := images.WithLayer(t, bb, map[string]string{"app/main.sh": "echo app"})
	ctx := context.Background()
	if _, err := s.Add(ctx, bb, []string{busybox.Ref}); err != nil {
		t.Fatal(err)
	}
	appIm, err := s.Add(ctx, app, []string{"example.com/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(appIm.Layers) != 2 {
		t.Fatalf("app has %d layers", len(appIm.Layers))
	}
	sn, err := s.Prepare("app", "example.com/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(sn.Rootfs, "app", "main.sh")); err != nil || string(b) != "echo app" {
		t.Errorf("top layer file: %q %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(sn.Rootfs, "bin", "busybox")); err != nil {
		t.Errorf("bottom layer file: %v", err)
	}
	s.RemoveSnapshot("app")
	if err := s.Remove("busybox"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.layerPath(appIm.Layers[0])); err != nil {
		t.Errorf("shared layer removed with busybox although app uses it: %v", err)
	}
}

func TestGC(t *testing.T) {
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Minute); return clock }
	// Usage: 500 bytes of other data plus 100 per unpacked layer, out of
	// 1000. Called with the store's lock held, so it looks at the disk.
	root := filepath.Join(t.TempDir(), "images")
	usage := func(string) (uint64, uint64, error) {
		ents, err := os.ReadDir(filepath.Join(root, "layers", "sha256"))
		return 500 + 100*uint64(len(ents)), 1000, err
	}
	s := newStore(t, Config{Root: root}, Deps{Now: now, DiskUsage: usage})
	bb := images.Busybox(t)
	ctx := context.Background()
	var ids []string
	for i, tag := range []string{"old", "mid", "new", "newest"} {
		img := images.WithLayer(t, bb, map[string]string{"which": tag + string(rune('0'+i))})
		im, err := s.Add(ctx, img, []string{"example.com/gc:" + tag})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, im.ID)
	}
	// "old" is in use: GC must skip it although it is the least recent.
	if _, err := s.Prepare("user", "example.com/gc:old"); err != nil {
		t.Fatal(err)
	}
	// "mid" was used after the others were added: it goes last.
	if _, err := s.Prepare("brief", "example.com/gc:mid"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveSnapshot("brief"); err != nil {
		t.Fatal(err)
	}
	// Five layers (busybox's, shared, and one per image): 100%, above 85.
	// GC removes unused images, least recently used first, until below
	// 75: "old" is in use, so mid, new and newest go (700 is not below
	// 75%... after newest, nothing is left to remove).
	res, err := s.GC(GCPolicy{HighPercent: 85, LowPercent: 75})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{ids[2], ids[3], ids[1]}, res.Removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if res.UsedBefore != 1000 || res.UsedAfter != 700 {
		t.Errorf("usage %d → %d, want 1000 → 700", res.UsedBefore, res.UsedAfter)
	}
	if _, err := s.Get("example.com/gc:old"); err != nil {
		t.Errorf("in-use image removed: %v", err)
	}
	// Below the high threshold nothing happens.
	res, err = s.GC(GCPolicy{HighPercent: 85, LowPercent: 75})
	if err != nil || len(res.Removed) != 0 {
		t.Errorf("gc below threshold: %v %v", res, err)
	}
	if _, err := s.GC(GCPolicy{HighPercent: 50, LowPercent: 60}); err == nil {
		t.Errorf("gc with low > high succeeded")
	}
}

func TestUnpack(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name    string
		hs      []*tar.Header
		files   map[string]string
		wantErr error
		check   func(t *testing.T, dir string)
	}{
		{
			name: "dot-dot path", wantErr: ErrUnsafeLayer,
			hs: []*tar.Header{{Typeflag: tar.TypeReg, Name: "../escape", Mode: 0o644}},
		},
		{
			name: "dot-dot inside path", wantErr: ErrUnsafeLayer,
			hs: []*tar.Header{{Typeflag: tar.TypeReg, Name: "a/../../escape", Mode: 0o644}},
		},
		{
			name: "absolute symlink then write through it", wantErr: ErrUnsafeLayer,
			hs: []*tar.Header{
				{Typeflag: tar.TypeSymlink, Name: "etc", Linkname: "/etc"},
				{Typeflag: tar.TypeReg, Name: "etc/evil", Mode: 0o644},
			},
		},
		{
			name: "relative symlink climbing out then write through it", wantErr: ErrUnsafeLayer,
			hs: []*tar.Header{
				{Typeflag: tar.TypeSymlink, Name: "up", Linkname: "../../../../"},
				{Typeflag: tar.TypeReg, Name: "up/tmp/evil", Mode: 0o644},
			},
		},
		{
			name: "symlink replaced by dir entry under it", wantErr: ErrUnsafeLayer,
			hs: []*tar.Header{
				{Typeflag: tar.TypeSymlink, Name: "d", Linkname: "/"},
				{Typeflag: tar.TypeDir, Name: "d/sub/", Mode: 0o755},
			},
		},
		{
			name: "hard link out of the layer", wantErr: ErrUnsafeLayer,
			hs: []*tar.Header{{Typeflag: tar.TypeLink, Name: "passwd", Linkname: "../../../etc/passwd"}},
		},
		{
			name: "hard link to an absolute host path", wantErr: ErrUnsafeLayer,
			hs: []*tar.Header{{Typeflag: tar.TypeLink, Name: "shadow", Linkname: "/etc/shadow"}},
		},
		{
			name: "hard link through a symlink", wantErr: ErrUnsafeLayer,
			hs: []*tar.Header{
				{Typeflag: tar.TypeSymlink, Name: "etc", Linkname: "/etc"},
				{Typeflag: tar.TypeLink, Name: "p", Linkname: "etc/passwd"},
			},
		},
		{
			name: "good layer: files, links, whiteouts, devices skipped",
			hs: []*tar.Header{
				{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755},
				{Typeflag: tar.TypeReg, Name: "etc/conf", Mode: 0o640, Uid: 1000, Gid: 1000},
				{Typeflag: tar.TypeLink, Name: "etc/conf2", Linkname: "etc/conf"},
				{Typeflag: tar.TypeSymlink, Name: "etc/abs", Linkname: "/etc/conf"},
				{Typeflag: tar.TypeReg, Name: "/rooted", Mode: 0o600},
				{Typeflag: tar.TypeReg, Name: "gone/.wh.file", Mode: 0o600},
				{Typeflag: tar.TypeReg, Name: "opaque/.wh..wh..opq", Mode: 0o600},
				{Typeflag: tar.TypeChar, Name: "dev-null", Devmajor: 1, Devminor: 3, Mode: 0o666},
				{Typeflag: tar.TypeFifo, Name: "fifo", Mode: 0o600},
				{Typeflag: tar.TypeReg, Name: "suid", Mode: 0o4755},
			},
			files: map[string]string{"etc/conf": "data"},
			check: func(t *testing.T, dir string) {
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(dir, "etc/conf"), &st); err != nil || st.Uid != 1000 || st.Mode&0o7777 != 0o640 || st.Nlink != 2 {
					t.Errorf("etc/conf: %+v %v", st, err)
				}
				if l, err := os.Readlink(filepath.Join(dir, "etc/abs")); err != nil || l != "/etc/conf" {
					t.Errorf("symlink kept verbatim: %q %v", l, err)
				}
				if _, err := os.Stat(filepath.Join(dir, "rooted")); err != nil {
					t.Errorf("absolute entry not placed at the layer root: %v", err)
				}
				if err := unix.Lstat(filepath.Join(dir, "gone/file"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
					t.Errorf("whiteout: %+v %v", st, err)
				}
				buf := make([]byte, 8)
				if n, err := unix.Getxattr(filepath.Join(dir, "opaque"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
					t.Errorf("opaque dir: %q %v", buf[:n], err)
				}
				if _, err := os.Lstat(filepath.Join(dir, "dev-null")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("device node created: %v", err)
				}
				if err := unix.Lstat(filepath.Join(dir, "fifo"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
					t.Errorf("fifo: %v", err)
				}
				if err := unix.Lstat(filepath.Join(dir, "suid"), &st); err != nil || st.Mode&0o7777 != 0o4755 {
					t.Errorf("setuid bit: %o %v", st.Mode&0o7777, err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outer := t.TempDir()
			dir := filepath.Join(outer, "a", "b", "layer")
			os.MkdirAll(dir, 0o755)
			b, err := images.TarBytes(tc.hs, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Unpack(bytes.NewReader(b), dir)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("unpack: %v, want %v", err, tc.wantErr)
			}
			// Nothing may appear outside the layer.
			filepath.Walk(outer, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !strings.HasPrefix(p, dir) && p != outer && p != filepath.Join(outer, "a") && p != filepath.Join(outer, "a", "b") {
					t.Errorf("unpack wrote outside the layer: %s", p)
				}
				return nil
			})
			for _, p := range []string{"/etc/evil", "/tmp/evil"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("unpack escaped to %s", p)
				}
			}
			if tc.check != nil {
				tc.check(t, dir)
			}
		})
	}
}

func TestImportHostileLayerLeavesNothing(t *testing.T) {
	s := newStore(t, Config{}, Deps{})
	l, err := images.LayerFromHeaders([]*tar.Header{
		{Typeflag: tar.TypeSymlink, Name: "x", Linkname: "/"},
		{Typeflag: tar.TypeReg, Name: "x/tmp/pwned", Mode: 0o644},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := images.Busybox(t)
	img2, err := appendLayer(img, l)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Import(context.Background(), images.DockerArchive(t, img2, "evil:1"))
	if !errors.Is(err, ErrUnsafeLayer) {
		t.Fatalf("import of a hostile image: %v, want ErrUnsafeLayer", err)
	}
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Errorf("hostile image recorded: %v %v", l, err)
	}
	tmp, _ := os.ReadDir(filepath.Join(s.cfg.Root, "tmp"))
	if len(tmp) != 0 {
		t.Errorf("leftovers in tmp: %v", tmp)
	}
	if _, err := os.Lstat("/tmp/pwned"); err == nil {
		t.Errorf("hostile layer wrote /tmp/pwned")
	}
}

func appendLayer(img v1.Image, l v1.Layer) (v1.Image, error) { return mutate.AppendLayers(img, l) }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestPullWithPullSecret(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "puller" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	ref := u.Host + "/private/busybox:v1"
	pushRef, _ := name.ParseReference(ref, name.Insecure)
	if err := remote.Write(pushRef, images.Busybox(t), remote.WithAuth(&authn.Basic{Username: "puller", Password: "s3cret"})); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, Config{}, Deps{})
	_, err := s.Pull(context.Background(), ref, PullOptions{})
	if !IsUnauthorized(err) {
		t.Errorf("pull without a secret: %v, want unauthorized", err)
	}
	secret := []byte(`{"auths":{"` + u.Host + `":{"username":"puller","password":"s3cret"}}}`)
	if _, err := s.Pull(context.Background(), ref, PullOptions{DockerConfigs: [][]byte{secret}}); err != nil {
		t.Errorf("pull with the secret: %v", err)
	}
}

func TestTwoStoresShareOneRoot(t *testing.T) {
	// The agent and the `podvisor images` CLI each open the store: each
	// sees the other's changes, and neither loses the other's writes.
	a := newStore(t, Config{}, Deps{})
	b, err := New(Config{Root: a.cfg.Root}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	bb := images.Busybox(t)
	ctx := context.Background()
	if _, err := a.Add(ctx, bb, []string{busybox.Ref}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get("busybox"); err != nil {
		t.Fatalf("second store does not see the first's image: %v", err)
	}
	if _, err := b.Add(ctx, images.WithLayer(t, bb, map[string]string{"x": "y"}), []string{"example.com/x:1"}); err != nil {
		t.Fatal(err)
	}
	l, err := a.List()
	if err != nil || len(l) != 2 {
		t.Fatalf("first store lists %v %v, want both images", l, err)
	}
	if err := a.Remove("example.com/x:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get("example.com/x:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second store still sees a removed image: %v", err)
	}
}

func TestImportDir(t *testing.T) {
	s := newStore(t, Config{}, Deps{})
	dir := t.TempDir()
	bb := images.Busybox(t)
	os.Rename(images.DockerArchive(t, bb, "busybox:latest"), filepath.Join(dir, "busybox.tar"))
	os.Rename(images.OCIArchive(t, images.WithLayer(t, bb, map[string]string{"a": "b"}), "example.com/a:1"), filepath.Join(dir, "a.tar"))
	os.WriteFile(filepath.Join(dir, "README"), []byte("not an image"), 0o644)
	got, err := s.ImportDir(context.Background(), dir)
	if len(got) != 2 {
		t.Errorf("imported %d images, want 2", len(got))
	}
	if err == nil || !strings.Contains(err.Error(), "README") {
		t.Errorf("error %v, want one naming README", err)
	}
	if got, err := s.ImportDir(context.Background(), filepath.Join(dir, "missing")); err != nil || got != nil {
		t.Errorf("missing dir: %v %v", got, err)
	}
}
