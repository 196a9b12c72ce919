// Package images gives tests container images without a network: the
// busybox image built from the host's busybox-static, written as a
// `docker save` archive or an OCI layout archive, and an in-process
// registry (go-containerregistry's pkg/registry) to pull from. Only tests
// and benchmarks import it.
package images

import (
	"archive/tar"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// Busybox builds the busybox image; a missing busybox-static fails the
// test, naming it.
func Busybox(t testing.TB) v1.Image {
	t.Helper()
	img, err := busybox.Build(BusyboxPath)
	if err != nil {
		t.Fatalf("building busybox image (needs the busybox-static package): %v", err)
	}
	return img
}

// DockerArchive writes img as a `docker save` tarball tagged tag and
// returns its path.
func DockerArchive(t testing.TB, img v1.Image, tag string) string {
	t.Helper()
	tg, err := name.NewTag(tag)
	if err != nil {
		t.Fatalf("tag %q: %v", tag, err)
	}
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(p, tg, img); err != nil {
		t.Fatalf("writing docker archive: %v", err)
	}
	return p
}

// OCIArchive writes img as an OCI image layout whose index names it ref
// (org.opencontainers.image.ref.name), tars the layout, and returns the
// archive's path.
func OCIArchive(t testing.TB, img v1.Image, ref string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatalf("writing OCI layout: %v", err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		t.Fatalf("writing OCI layout: %v", err)
	}
	p := filepath.Join(t.TempDir(), "oci.tar")
	if err := TarDir(dir, p); err != nil {
		t.Fatalf("archiving OCI layout: %v", err)
	}
	return p
}

// TarDir writes the regular files and directories under dir to a tar at
// dst, with paths relative to dir.
func TarDir(dir, dst string) error {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			r, err := os.Open(p)
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(tw, r)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// Registry starts an in-process registry on 127.0.0.1 (port 0) for the
// test's lifetime and returns its host:port. It serves plain HTTP: pull
// from it with the host in the store's InsecureRegistries.
func Registry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(discardLogger())))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// Push uploads img to ref (e.g. "127.0.0.1:1234/library/busybox:latest").
func Push(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatalf("reference %q: %v", ref, err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// WithLayer returns img with one more layer made of files (path →
// content); tests use it to make distinct images that share busybox's
// layer.
func WithLayer(t testing.TB, img v1.Image, files map[string]string) v1.Image {
	t.Helper()
	l, err := LayerFromFiles(files)
	if err != nil {
		t.Fatalf("building layer: %v", err)
	}
	out, err := mutate.AppendLayers(img, l)
	if err != nil {
		t.Fatalf("appending layer: %v", err)
	}
	return out
}
