// Package image is the node's image service: a content-addressed store of
// image manifests and configs (sha256 blobs) and of unpacked layers shared
// by images, filled by Import (`docker save` and OCI layout archives) and
// Pull (registries, through go-containerregistry); overlayfs snapshots
// that give each container a root file system; and garbage collection by
// disk usage.
//
// Only the kubelet, the agent wiring, cmd/podvisor (images sub-commands),
// tests and benchmarks import it.
//
// Layout under Config.Root:
//
//	blobs/sha256/<hex>        manifests and image configs
//	layers/sha256/<diff id>/  one unpacked layer (whiteouts in overlay form)
//	images.json               the image index (atomic rewrite)
//	snapshots/<key>/          upper/, work/, merged/ (the mount), image
//	tmp/                      unpacks in progress
//
// Lock order: Store.mu guards the index in memory and on disk; it is never
// held while unpacking or pulling (which only add layers, atomically by
// rename).
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Config holds the Store's settings.
type Config struct {
	// Root is the store's directory, e.g. <data dir>/images.
	Root string
	// InsecureRegistries are host[:port] names pulled over plain HTTP.
	InsecureRegistries []string
	// Platform is the platform pulled from multi-arch indexes; the zero
	// value is linux/amd64.
	Platform v1.Platform
}

// Deps are the Store's collaborators.
type Deps struct {
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Transport carries registry requests; nil is a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// DiskUsage reports used and total bytes of the file system holding
	// path; nil reads statfs. Tests inject it to drive GC.
	DiskUsage func(path string) (used, total uint64, err error)
}

// Image is one stored image.
type Image struct {
	// ID is the config digest, "sha256:<hex>", as Kubernetes reports
	// imageID's digest part.
	ID string `json:"id"`
	// RepoTags are normalised references like docker.io/library/busybox:latest.
	RepoTags []string `json:"repoTags,omitempty"`
	// RepoDigests are repository@sha256:<manifest digest>.
	RepoDigests []string `json:"repoDigests,omitempty"`
	// ManifestDigest is the digest of the stored manifest.
	ManifestDigest string `json:"manifestDigest"`
	// Layers are the diff IDs, bottom first.
	Layers []string `json:"layers"`
	// Size is the unpacked size of the layers in bytes.
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"lastUsed"`
}

// ImageConfig is the part of an image's config the kubelet merges with the
// pod spec.
type ImageConfig struct {
	Env          []string
	Entrypoint   []string
	Cmd          []string
	WorkingDir   string
	User         string
	ExposedPorts []string
	Labels       map[string]string
}

// ErrNotFound is wrapped when a reference names no stored image.
var ErrNotFound = errors.New("image not found")

// ErrInUse is wrapped when removing an image a snapshot still uses.
var ErrInUse = errors.New("image is in use")

// Store is the image store. Create it with New; it is safe for concurrent
// use.
type Store struct {
	cfg       Config
	transport http.RoundTripper
	log       *slog.Logger
	now       func() time.Time
	diskUsage func(string) (uint64, uint64, error)

	pulls pullGroup

	// mu serialises this process's access to the index; index.lock (an
	// flock) serialises writers across processes (the agent and the
	// `podvisor images` CLI), and every access first reloads images.json
	// if another process replaced it.
	mu        sync.Mutex
	images    map[string]*Image // +checklocks:mu; by ID
	indexStat indexVersion      // +checklocks:mu
}

// indexVersion identifies one version of images.json on disk.
type indexVersion struct {
	ino   uint64
	mtime int64
	size  int64
}

func statIndex(p string) (indexVersion, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return indexVersion{}, err
	}
	return indexVersion{ino: st.Ino, mtime: st.Mtim.Nano(), size: st.Size}, nil
}

// reloadLocked rereads images.json if it changed since last read.
// +checklocks:s.mu
func (s *Store) reloadLocked() error {
	p := filepath.Join(s.cfg.Root, "images.json")
	v, err := statIndex(p)
	if errors.Is(err, unix.ENOENT) {
		s.images, s.indexStat = map[string]*Image{}, indexVersion{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading image index: %w", err)
	}
	if v == s.indexStat && s.images != nil {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading image index: %w", err)
	}
	var list []*Image
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("decoding image index: %w", err)
	}
	s.images = map[string]*Image{}
	for _, im := range list {
		s.images[im.ID] = im
	}
	s.indexStat = v
	return nil
}

// lock takes the index for reading (write=false) or changing it; the
// returned function releases it.
func (s *Store) lock(write bool) (func(), error) {
	s.mu.Lock()
	var f *os.File
	if write {
		var err error
		f, err = os.OpenFile(filepath.Join(s.cfg.Root, "index.lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("locking image index: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			s.mu.Unlock()
			return nil, fmt.Errorf("locking image index: %w", err)
		}
	}
	unlock := func() {
		if f != nil {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		}
		s.mu.Unlock()
	}
	if err := s.reloadLocked(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// New opens (creating) the store at cfg.Root.
func New(cfg Config, deps Deps) (*Store, error) {
	if cfg.Root == "" {
		return nil, errors.New("image store: no root")
	}
	if cfg.Platform.OS == "" {
		cfg.Platform = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "snapshots", "tmp", "used"} {
		if err := os.MkdirAll(filepath.Join(cfg.Root, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating image store: %w", err)
		}
	}
	// Leftovers of unpacks interrupted by a crash.
	if ents, err := os.ReadDir(filepath.Join(cfg.Root, "tmp")); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(cfg.Root, "tmp", e.Name()))
		}
	}
	s := &Store{cfg: cfg, transport: deps.Transport, log: deps.Logger, now: deps.Now, diskUsage: deps.DiskUsage}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.transport == nil {
		s.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if s.diskUsage == nil {
		s.diskUsage = statfsUsage
	}
	s.pulls.calls = map[string]*pullCall{}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reloadLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// saveLocked rewrites images.json atomically.
// +checklocks:s.mu
func (s *Store) saveLocked() error {
	list := make([]*Image, 0, len(s.images))
	for _, im := range s.images {
		list = append(list, im)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(s.cfg.Root, "images.json")
	if err := writeFileAtomic(p, b); err != nil {
		return err
	}
	v, err := statIndex(p)
	if err != nil {
		return err
	}
	s.indexStat = v
	return nil
}

func writeFileAtomic(p string, b []byte) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// NormalizeRef returns the canonical form of an image reference:
// "busybox" → "docker.io/library/busybox:latest".
func NormalizeRef(ref string) (string, error) {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return canonical(r), nil
}

// repoName is the canonical repository of r, without tag or digest.
func repoName(r name.Reference) string {
	repo := r.Context()
	reg := repo.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + repo.RepositoryStr()
}

func canonical(r name.Reference) string {
	base := repoName(r)
	if d, ok := r.(name.Digest); ok {
		return base + "@" + d.DigestStr()
	}
	return base + ":" + r.Identifier()
}

// List returns every image, sorted by first tag then ID.
func (s *Store) List() ([]Image, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := make([]Image, 0, len(s.images))
	for _, im := range s.images {
		c := copyImage(im)
		c.LastUsed = s.lastUsedLocked(im)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := first(out[i].RepoTags), first(out[j].RepoTags)
		if a != b {
			return a < b
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return "~"
	}
	return s[0]
}

func copyImage(im *Image) Image {
	c := *im
	c.RepoTags = append([]string(nil), im.RepoTags...)
	c.RepoDigests = append([]string(nil), im.RepoDigests...)
	c.Layers = append([]string(nil), im.Layers...)
	return c
}

// Get resolves ref — a tag or digest reference, an image ID
// ("sha256:<hex>") or a unique prefix of its hex — to a stored image.
// Errors wrap ErrNotFound.
func (s *Store) Get(ref string) (Image, error) {
	unlock, err := s.lock(false)
	if err != nil {
		return Image{}, err
	}
	defer unlock()
	im, err := s.resolveLocked(ref)
	if err != nil {
		return Image{}, err
	}
	c := copyImage(im)
	c.LastUsed = s.lastUsedLocked(im)
	return c, nil
}

// +checklocks:s.mu
func (s *Store) resolveLocked(ref string) (*Image, error) {
	if im, ok := s.images[ref]; ok {
		return im, nil
	}
	hexPart := strings.TrimPrefix(ref, "sha256:")
	if len(hexPart) >= 12 && isHex(hexPart) {
		var found *Image
		for id, im := range s.images {
			if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hexPart) {
				if found != nil {
					return nil, fmt.Errorf("image id prefix %q is ambiguous", ref)
				}
				found = im
			}
		}
		if found != nil {
			return found, nil
		}
	}
	n, err := NormalizeRef(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	for _, im := range s.images {
		for _, t := range im.RepoTags {
			if t == n {
				return im, nil
			}
		}
		for _, d := range im.RepoDigests {
			if d == n {
				return im, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Config returns the image's config for merging with the pod spec.
func (s *Store) Config(ref string) (ImageConfig, error) {
	im, err := s.Get(ref)
	if err != nil {
		return ImageConfig{}, err
	}
	b, err := os.ReadFile(s.blobPath(im.ID))
	if err != nil {
		return ImageConfig{}, fmt.Errorf("reading config of %s: %w", im.ID, err)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return ImageConfig{}, fmt.Errorf("decoding config of %s: %w", im.ID, err)
	}
	c := cf.Config
	ic := ImageConfig{
		Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir,
		User: c.User, Labels: c.Labels,
	}
	for p := range c.ExposedPorts {
		ic.ExposedPorts = append(ic.ExposedPorts, p)
	}
	sort.Strings(ic.ExposedPorts)
	return ic, nil
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.cfg.Root, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

func (s *Store) layerPath(diffID string) string {
	return filepath.Join(s.cfg.Root, "layers", "sha256", strings.TrimPrefix(diffID, "sha256:"))
}

// Remove deletes the image ref names (all its tags) and the layers no
// other image uses. Errors wrap ErrNotFound, or ErrInUse when a snapshot
// (a container) uses it.
func (s *Store) Remove(ref string) error {
	unlock, err := s.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	im, err := s.resolveLocked(ref)
	if err != nil {
		return err
	}
	inUse, err := s.snapshotImages()
	if err != nil {
		return err
	}
	if inUse[im.ID] {
		return fmt.Errorf("removing %s: %w by a container", ref, ErrInUse)
	}
	return s.removeLocked(im)
}

// +checklocks:s.mu
func (s *Store) removeLocked(im *Image) error {
	delete(s.images, im.ID)
	if err := s.saveLocked(); err != nil {
		s.images[im.ID] = im
		return fmt.Errorf("saving image index: %w", err)
	}
	used := map[string]bool{}
	blobs := map[string]bool{}
	for _, o := range s.images {
		for _, l := range o.Layers {
			used[l] = true
		}
		blobs[o.ID], blobs[o.ManifestDigest] = true, true
	}
	var errs []error
	for _, l := range im.Layers {
		if !used[l] {
			if err := os.RemoveAll(s.layerPath(l)); err != nil {
				errs = append(errs, fmt.Errorf("removing layer %s: %w", l, err))
			}
		}
	}
	for _, b := range []string{im.ID, im.ManifestDigest} {
		if b != "" && !blobs[b] {
			os.Remove(s.blobPath(b))
		}
	}
	os.Remove(filepath.Join(s.cfg.Root, "used", strings.TrimPrefix(im.ID, "sha256:")))
	s.log.Info("image removed", "image", im.ID, "tags", im.RepoTags)
	return errors.Join(errs...)
}

// RootIn is the image store's directory in an agent data dir; the agent
// and `podvisor images` both use it.
func RootIn(agentDataDir string) string { return filepath.Join(agentDataDir, "image-store") }

// ArchiveDirIn is the drop directory, in an agent data dir, of image
// archives the agent imports when it starts (ImportDir).
func ArchiveDirIn(agentDataDir string) string { return filepath.Join(agentDataDir, "images") }
