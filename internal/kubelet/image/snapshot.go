package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Snapshot is a container's root file system: an overlay of the image's
// layers (read-only) under a per-container upper directory.
type Snapshot struct {
	// Key names the snapshot (the kubelet uses a unique per-container
	// key, e.g. <pod uid>-<container>-<attempt>).
	Key string
	// ImageID is the image it was made from.
	ImageID string
	// Rootfs is the mounted overlay, the bundle's root path.
	Rootfs string
}

func validKey(k string) error {
	if k == "" || len(k) > 200 || strings.ContainsAny(k, "/\x00:,") || k == "." || k == ".." {
		return fmt.Errorf("invalid snapshot key %q", k)
	}
	return nil
}

// Prepare mounts a new snapshot of image ref under key and returns it;
// preparing an existing key returns the existing snapshot (the worker may
// retry). Errors wrap ErrNotFound for an unknown image.
//
// The overlay's lowerdir lists the layers top first; it must fit in one
// page of mount options (about 35 layers at the default root).
func (s *Store) Prepare(key, ref string) (Snapshot, error) {
	if err := validKey(key); err != nil {
		return Snapshot{}, err
	}
	unlock, err := s.lock(true)
	if err != nil {
		return Snapshot{}, err
	}
	im, err := s.resolveLocked(ref)
	if err != nil {
		unlock()
		return Snapshot{}, err
	}
	layers := append([]string(nil), im.Layers...)
	id := im.ID
	// Record the snapshot while holding the lock so that GC and Remove
	// never see the image unused in between.
	dir := filepath.Join(s.cfg.Root, "snapshots", key)
	merged := filepath.Join(dir, "merged")
	if b, err := os.ReadFile(filepath.Join(dir, "image")); err == nil {
		s.touchUsedLocked(id)
		unlock()
		if string(b) != id {
			return Snapshot{}, fmt.Errorf("snapshot %s exists for another image %s", key, b)
		}
		if !isMountpoint(merged) {
			if err := s.mount(dir, layers); err != nil {
				return Snapshot{}, err
			}
		}
		return Snapshot{Key: key, ImageID: id, Rootfs: merged}, nil
	}
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			unlock()
			return Snapshot{}, fmt.Errorf("creating snapshot: %w", err)
		}
	}
	err = os.WriteFile(filepath.Join(dir, "image"), []byte(id), 0o600)
	if err == nil {
		s.touchUsedLocked(id)
	}
	unlock()
	if err != nil {
		os.RemoveAll(dir)
		return Snapshot{}, fmt.Errorf("recording snapshot: %w", err)
	}
	if err := s.mount(dir, layers); err != nil {
		os.RemoveAll(dir)
		return Snapshot{}, err
	}
	return Snapshot{Key: key, ImageID: id, Rootfs: merged}, nil
}

func (s *Store) mount(dir string, layers []string) error {
	lower := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		lower = append(lower, s.layerPath(layers[i]))
	}
	if len(lower) == 0 {
		// An image with no layers: an empty lower dir.
		empty := filepath.Join(dir, "empty")
		os.MkdirAll(empty, 0o755)
		lower = append(lower, empty)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lower, ":"),
		filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if len(opts) >= os.Getpagesize() {
		return fmt.Errorf("mounting snapshot: %d layers make overlay options longer than a page", len(layers))
	}
	if err := unix.Mount("overlay", filepath.Join(dir, "merged"), "overlay", 0, opts); err != nil {
		return fmt.Errorf("mounting overlay snapshot: %w", err)
	}
	return nil
}

func isMountpoint(p string) bool {
	var st, pst unix.Stat_t
	if unix.Stat(p, &st) != nil || unix.Stat(filepath.Dir(p), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}

// RemoveSnapshot unmounts and deletes the snapshot key; removing an
// unknown key is not an error.
func (s *Store) RemoveSnapshot(key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	dir := filepath.Join(s.cfg.Root, "snapshots", key)
	merged := filepath.Join(dir, "merged")
	if err := unix.Unmount(merged, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting snapshot %s: %w", key, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing snapshot %s: %w", key, err)
	}
	return nil
}

// Snapshots returns every snapshot on disk (mounted or not: after a reboot
// the kubelet re-prepares or removes them).
func (s *Store) Snapshots() ([]Snapshot, error) {
	ents, err := os.ReadDir(filepath.Join(s.cfg.Root, "snapshots"))
	if err != nil {
		return nil, fmt.Errorf("listing snapshots: %w", err)
	}
	var out []Snapshot
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.cfg.Root, "snapshots", e.Name(), "image"))
		if err != nil {
			continue
		}
		out = append(out, Snapshot{Key: e.Name(), ImageID: string(b), Rootfs: filepath.Join(s.cfg.Root, "snapshots", e.Name(), "merged")})
	}
	return out, nil
}

// snapshotImages returns the IDs of images that snapshots use.
func (s *Store) snapshotImages() (map[string]bool, error) {
	snaps, err := s.Snapshots()
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for _, sn := range snaps {
		m[sn.ImageID] = true
	}
	return m, nil
}

// touchUsedLocked records that image id was just used, as the mtime of
// used/<hex>: cheaper than rewriting (and fsyncing) the index on every
// container start, and lost only in a crash, where it costs no more than
// a less exact GC order.
// +checklocks:s.mu
func (s *Store) touchUsedLocked(id string) {
	p := filepath.Join(s.cfg.Root, "used", strings.TrimPrefix(id, "sha256:"))
	now := s.now()
	if err := os.Chtimes(p, now, now); err != nil {
		if f, err := os.Create(p); err == nil {
			f.Close()
			os.Chtimes(p, now, now)
		}
	}
}

// lastUsedLocked is when image im was last used: its recorded time or its
// used/ file's, whichever is later.
// +checklocks:s.mu
func (s *Store) lastUsedLocked(im *Image) time.Time {
	t := im.LastUsed
	if fi, err := os.Stat(filepath.Join(s.cfg.Root, "used", strings.TrimPrefix(im.ID, "sha256:"))); err == nil && fi.ModTime().After(t) {
		t = fi.ModTime().UTC()
	}
	return t
}
