package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	pathpkg "path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Add stores img: its manifest and config blobs and every layer not
// already unpacked, then records it under refs (canonical references; a
// tag moves from any image that had it).
func (s *Store) Add(ctx context.Context, img v1.Image, refs []string) (Image, error) {
	// A concurrent Remove may delete a shared layer between our finding
	// it unpacked and recording the image; then unpack again.
	for range 3 {
		im, err := s.add(ctx, img, refs)
		if !errors.Is(err, errLayerVanished) {
			return im, err
		}
	}
	return Image{}, errors.New("storing image: its layers keep being removed concurrently")
}

// errLayerVanished is returned by add when a layer it relied on was
// removed before the image was recorded.
var errLayerVanished = errors.New("layer removed concurrently")

func (s *Store) add(ctx context.Context, img v1.Image, refs []string) (Image, error) {
	cfgName, err := img.ConfigName()
	if err != nil {
		return Image{}, fmt.Errorf("reading image config digest: %w", err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("reading image config: %w", err)
	}
	if sum := sha256.Sum256(rawCfg); "sha256:"+hex.EncodeToString(sum[:]) != cfgName.String() {
		return Image{}, fmt.Errorf("image config does not match its digest %s", cfgName)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, fmt.Errorf("decoding image config: %w", err)
	}
	rawMan, err := img.RawManifest()
	if err != nil {
		return Image{}, fmt.Errorf("reading manifest: %w", err)
	}
	manDigest, err := img.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("digesting manifest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return Image{}, fmt.Errorf("listing layers: %w", err)
	}
	if len(layers) != len(cf.RootFS.DiffIDs) {
		return Image{}, fmt.Errorf("image has %d layers but its config lists %d", len(layers), len(cf.RootFS.DiffIDs))
	}
	var size int64
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return Image{}, err
		}
		want := cf.RootFS.DiffIDs[i]
		n, err := s.unpackLayer(l, want)
		if err != nil {
			return Image{}, err
		}
		size += n
		diffIDs[i] = want.String()
	}
	if err := writeBlob(s.blobPath(cfgName.String()), rawCfg); err != nil {
		return Image{}, err
	}
	if err := writeBlob(s.blobPath(manDigest.String()), rawMan); err != nil {
		return Image{}, err
	}
	unlock, err := s.lock(true)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	for _, l := range diffIDs {
		if _, err := os.Stat(s.layerPath(l)); err != nil {
			return Image{}, errLayerVanished
		}
	}
	id := cfgName.String()
	im, ok := s.images[id]
	if !ok {
		im = &Image{ID: id, Layers: diffIDs, Size: size, Created: s.now().UTC()}
		s.images[id] = im
	}
	im.ManifestDigest = manDigest.String()
	im.LastUsed = s.now().UTC()
	for _, r := range refs {
		if strings.Contains(r, "@") {
			addUnique(&im.RepoDigests, r)
			continue
		}
		for _, o := range s.images {
			if o != im {
				o.RepoTags = without(o.RepoTags, r)
			}
		}
		addUnique(&im.RepoTags, r)
		if pr, err := name.ParseReference(r, name.WeakValidation); err == nil {
			addUnique(&im.RepoDigests, repoName(pr)+"@"+manDigest.String())
		}
	}
	if err := s.saveLocked(); err != nil {
		return Image{}, fmt.Errorf("saving image index: %w", err)
	}
	return copyImage(im), nil
}

func addUnique(list *[]string, v string) {
	for _, x := range *list {
		if x == v {
			return
		}
	}
	*list = append(*list, v)
}

func without(list []string, v string) []string {
	out := list[:0]
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func writeBlob(p string, b []byte) error {
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := writeFileAtomic(p, b); err != nil {
		return fmt.Errorf("writing blob: %w", err)
	}
	return nil
}

// unpackLayer unpacks l into layers/<diffID> unless it is there already,
// checking the uncompressed content against diffID. It returns the
// layer's size on disk (file content bytes).
func (s *Store) unpackLayer(l v1.Layer, diffID v1.Hash) (int64, error) {
	dst := s.layerPath(diffID.String())
	if _, err := os.Stat(dst); err == nil {
		return dirSize(dst), nil
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.cfg.Root, "tmp"), "layer-")
	if err != nil {
		return 0, fmt.Errorf("unpacking layer: %w", err)
	}
	defer os.RemoveAll(tmp)
	// The temp dir is the layer's root: make it look like one.
	os.Chmod(tmp, 0o755)
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, fmt.Errorf("opening layer %s: %w", diffID, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := Unpack(io.TeeReader(rc, h), tmp)
	if err != nil {
		return 0, fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	// The tar reader stops at the end-of-archive marker; hash the rest.
	if _, err := io.Copy(h, rc); err != nil {
		return 0, fmt.Errorf("reading layer %s: %w", diffID, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID.String() {
		return 0, fmt.Errorf("layer content %s does not match its diff id %s", got, diffID)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if _, serr := os.Stat(dst); serr == nil {
			return n, nil // a concurrent unpack of the same layer won
		}
		return 0, fmt.Errorf("storing layer %s: %w", diffID, err)
	}
	return n, nil
}

func dirSize(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Import loads every image of a `docker save` tarball or an OCI image
// layout archive (a tar of the layout directory) from the file at path.
// Images are recorded under the tags the archive gives them (RepoTags of
// manifest.json; org.opencontainers.image.ref.name annotations, taken as
// full references, of index.json). It returns what it stored.
func (s *Store) Import(ctx context.Context, path string) ([]Image, error) {
	kind, err := archiveKind(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "docker":
		return s.importDocker(ctx, path)
	case "oci":
		return s.importOCI(ctx, path)
	}
	return nil, fmt.Errorf("importing %s: neither a docker save archive (manifest.json) nor an OCI layout (oci-layout)", path)
}

func archiveKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("opening archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	kind := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return kind, nil
		}
		if err != nil {
			return "", fmt.Errorf("reading archive %s: %w", path, err)
		}
		switch strings.TrimPrefix(hdr.Name, "./") {
		case "oci-layout":
			return "oci", nil // an OCI layout may also carry manifest.json
		case "manifest.json":
			kind = "docker"
		}
	}
}

func (s *Store) importDocker(ctx context.Context, path string) ([]Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("reading docker archive manifest: %w", err)
	}
	var out []Image
	for i, d := range m {
		var tag *name.Tag
		var refs []string
		for _, rt := range d.RepoTags {
			t, err := name.NewTag(rt, name.WeakValidation)
			if err != nil {
				return nil, fmt.Errorf("archive tag %q: %w", rt, err)
			}
			if tag == nil {
				tag = &t
			}
			refs = append(refs, canonical(t))
		}
		if tag == nil && len(m) > 1 {
			return nil, fmt.Errorf("docker archive image %d has no tag and the archive holds several images", i)
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, fmt.Errorf("reading docker archive image %d: %w", i, err)
		}
		im, err := s.Add(ctx, img, refs)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}

func (s *Store) importOCI(ctx context.Context, path string) ([]Image, error) {
	tmp, err := os.MkdirTemp(filepath.Join(s.cfg.Root, "tmp"), "oci-")
	if err != nil {
		return nil, fmt.Errorf("importing: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := extractPlain(path, tmp); err != nil {
		return nil, err
	}
	lp, err := layout.FromPath(tmp)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout: %w", err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading OCI index: %w", err)
	}
	var out []Image
	var walk func(ix v1.ImageIndex, refName string) error
	walk = func(ix v1.ImageIndex, refName string) error {
		im, err := ix.IndexManifest()
		if err != nil {
			return fmt.Errorf("reading OCI index: %w", err)
		}
		for _, d := range im.Manifests {
			rn := refName
			if v := d.Annotations["org.opencontainers.image.ref.name"]; v != "" {
				rn = v
			}
			switch {
			case d.MediaType.IsIndex():
				child, err := ix.ImageIndex(d.Digest)
				if err != nil {
					return fmt.Errorf("reading nested index: %w", err)
				}
				if err := walk(child, rn); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				if d.Platform != nil && (d.Platform.OS != s.cfg.Platform.OS || d.Platform.Architecture != s.cfg.Platform.Architecture) {
					continue
				}
				img, err := ix.Image(d.Digest)
				if err != nil {
					return fmt.Errorf("reading OCI image %s: %w", d.Digest, err)
				}
				var refs []string
				if rn != "" {
					n, err := NormalizeRef(rn)
					if err != nil {
						return fmt.Errorf("OCI ref.name %q: %w", rn, err)
					}
					refs = append(refs, n)
				}
				stored, err := s.Add(ctx, img, refs)
				if err != nil {
					return err
				}
				out = append(out, stored)
			}
		}
		return nil
	}
	if err := walk(idx, ""); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the OCI layout holds no image for this platform")
	}
	return out, nil
}

// extractPlain extracts only directories and regular files of an archive,
// refusing paths that climb out of dst.
func extractPlain(archive, dst string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("opening archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		rel, err := safeRel(hdr.Name)
		if err != nil {
			return err
		}
		if rel == "" {
			continue
		}
		p := filepath.Join(dst, rel)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg, tar.TypeRegA:
			parent, _ := pathpkg.Split(rel)
			if err := ensureParents(dst, strings.TrimSuffix(parent, "/")); err != nil {
				return fmt.Errorf("%w: %q: %v", ErrUnsafeLayer, hdr.Name, err)
			}
			w, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return fmt.Errorf("extracting %s: %w", rel, err)
			}
			_, err = io.Copy(w, tr)
			w.Close()
			if err != nil {
				return fmt.Errorf("extracting %s: %w", rel, err)
			}
		}
	}
}

// pullGroup deduplicates concurrent pulls of one reference: the first
// caller pulls, the others wait for its result.
type pullGroup struct {
	mu    sync.Mutex
	calls map[string]*pullCall // +checklocks:mu
}

type pullCall struct {
	done chan struct{}
	img  Image
	err  error
	// waiters counts callers that shared this pull (for tests).
	waiters int
}

// do runs fn once per key at a time; it reports whether this caller
// shared another's pull.
func (g *pullGroup) do(key string, fn func() (Image, error)) (Image, bool, error) {
	g.mu.Lock()
	if c, ok := g.calls[key]; ok {
		c.waiters++
		g.mu.Unlock()
		<-c.done
		return c.img, true, c.err
	}
	c := &pullCall{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()
	c.img, c.err = fn()
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
	close(c.done)
	return c.img, false, c.err
}

// ImportDir imports every regular file in dir that is an image archive
// (the agent calls it at start for <data dir>/images/). A file that fails
// is reported in the joined error and does not stop the others; a
// missing dir is not an error.
func (s *Store) ImportDir(ctx context.Context, dir string) ([]Image, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var out []Image
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		got, err := s.Import(ctx, filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.Name(), err))
			continue
		}
		out = append(out, got...)
	}
	return out, errors.Join(errs...)
}
