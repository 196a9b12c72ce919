package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Config holds the Manager's settings.
type Config struct {
	// PodsDir holds one directory per pod (see the package doc).
	PodsDir string
}

// Deps are the Manager's collaborators.
type Deps struct {
	// Client reads configMaps, secrets, claims and volumes, and requests
	// service-account tokens.
	Client kubernetes.Interface
	// Allocatable returns the node's allocatable resources (defaults of
	// resourceFieldRef limits).
	Allocatable func() corev1.ResourceList
	Log         *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Mounted is a volume ready to be bound into containers.
type Mounted struct {
	// HostPath is the directory (or file, for hostPath) to bind.
	HostPath string
	// ReadOnly: the volume itself is read-only (configMap, secret,
	// downwardAPI, projected, a read-only claim); a mount may add
	// readOnly on its own.
	ReadOnly bool
}

// Manager sets up and tears down pod volumes. Setup and Teardown of one
// pod must not run concurrently (the pod's worker serialises them);
// different pods proceed in parallel.
type Manager struct {
	cfg    Config
	client kubernetes.Interface
	alloc  func() corev1.ResourceList
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	tokens map[tokenKey]token // +checklocks:mu
}

// New returns a Manager.
func New(cfg Config, deps Deps) (*Manager, error) {
	if cfg.PodsDir == "" {
		return nil, errors.New("volume: no pods dir")
	}
	if err := os.MkdirAll(cfg.PodsDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating pods dir: %w", err)
	}
	m := &Manager{cfg: cfg, client: deps.Client, alloc: deps.Allocatable, log: deps.Log, now: deps.Now, tokens: map[tokenKey]token{}}
	if m.alloc == nil {
		m.alloc = func() corev1.ResourceList { return nil }
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m, nil
}

// Volume kinds: directory names under <pod>/volumes.
const (
	kindEmptyDir  = "kubernetes.io~empty-dir"
	kindConfigMap = "kubernetes.io~configmap"
	kindSecret    = "kubernetes.io~secret"
	kindDownward  = "kubernetes.io~downward-api"
	kindProjected = "kubernetes.io~projected"
)

// PodDir returns the directory of pod uid.
func (m *Manager) PodDir(uid types.UID) string { return filepath.Join(m.cfg.PodsDir, string(uid)) }

func (m *Manager) volDir(uid types.UID, kind, name string) string {
	return filepath.Join(m.PodDir(uid), "volumes", kind, name)
}

// SetupError is one volume's set-up failure.
type SetupError struct {
	Volume string
	Err    error
}

func (e *SetupError) Error() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}

func (e *SetupError) Unwrap() error { return e.Err }

// Setup makes every volume of pod available (creating what is missing and
// refreshing the content of configMap, secret, downwardAPI and projected
// volumes) and returns them by name. It is idempotent. On error the
// volumes that worked are returned too, and the error joins one
// *SetupError per failed volume.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) (map[string]Mounted, error) {
	out := make(map[string]Mounted, len(pod.Spec.Volumes))
	var errs []error
	gid := int64(-1)
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		gid = *sc.FSGroup
	}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		mv, err := m.setupOne(ctx, pod, v, gid)
		if err != nil {
			errs = append(errs, &SetupError{Volume: v.Name, Err: err})
			continue
		}
		out[v.Name] = mv
	}
	return out, errors.Join(errs...)
}

func (m *Manager) setupOne(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, gid int64) (Mounted, error) {
	src := &v.VolumeSource
	switch {
	case src.EmptyDir != nil:
		return m.setupEmptyDir(pod, v.Name, src.EmptyDir, gid)
	case src.HostPath != nil:
		p, err := hostPath(src.HostPath.Path, src.HostPath.Type)
		return Mounted{HostPath: p}, err
	case src.ConfigMap != nil:
		return m.setupConfigMap(ctx, pod, v.Name, src.ConfigMap, gid)
	case src.Secret != nil:
		return m.setupSecret(ctx, pod, v.Name, src.Secret, gid)
	case src.DownwardAPI != nil:
		payload, err := downwardPayload(pod, src.DownwardAPI.Items, src.DownwardAPI.DefaultMode, m.alloc())
		if err != nil {
			return Mounted{}, err
		}
		dir := m.volDir(pod.UID, kindDownward, v.Name)
		if _, err := WriteAtomic(dir, payload, gid); err != nil {
			return Mounted{}, err
		}
		return Mounted{HostPath: dir, ReadOnly: true}, nil
	case src.Projected != nil:
		return m.setupProjected(ctx, pod, v.Name, src.Projected, gid)
	case src.PersistentVolumeClaim != nil:
		return m.setupClaim(ctx, pod, src.PersistentVolumeClaim)
	}
	return Mounted{}, fmt.Errorf("volume type of %q is not supported on this node", v.Name)
}

func (m *Manager) setupEmptyDir(pod *corev1.Pod, name string, e *corev1.EmptyDirVolumeSource, gid int64) (Mounted, error) {
	dir := m.volDir(pod.UID, kindEmptyDir, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return Mounted{}, fmt.Errorf("creating emptyDir: %w", err)
	}
	if e.Medium == corev1.StorageMediumMemory && !isMountpoint(dir) {
		opts := "mode=0777"
		if e.SizeLimit != nil && !e.SizeLimit.IsZero() {
			opts += fmt.Sprintf(",size=%d", e.SizeLimit.Value())
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return Mounted{}, fmt.Errorf("mounting tmpfs for emptyDir: %w", err)
		}
	} else if e.Medium != "" && e.Medium != corev1.StorageMediumMemory && e.Medium != corev1.StorageMediumDefault {
		return Mounted{}, fmt.Errorf("emptyDir medium %q is not supported", e.Medium)
	}
	// 0777 like Kubernetes (the umask narrowed MkdirAll).
	if err := os.Chmod(dir, 0o777); err != nil {
		return Mounted{}, err
	}
	if gid >= 0 {
		if err := setOwnership(dir, gid, false); err != nil {
			return Mounted{}, fmt.Errorf("setting fsGroup ownership: %w", err)
		}
	}
	return Mounted{HostPath: dir}, nil
}

// Teardown unmounts and removes pod uid's volume directories (emptyDir,
// configMap, secret, downwardAPI, projected); hostPath and persistent
// volume data are not in it and are never touched. It is idempotent.
func (m *Manager) Teardown(uid types.UID) error {
	m.mu.Lock()
	for k := range m.tokens {
		if k.pod == uid {
			delete(m.tokens, k)
		}
	}
	m.mu.Unlock()
	base := filepath.Join(m.PodDir(uid), "volumes")
	kinds, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return os.RemoveAll(m.PodDir(uid))
	}
	if err != nil {
		return fmt.Errorf("listing volumes of %s: %w", uid, err)
	}
	var errs []error
	for _, k := range kinds {
		vols, _ := os.ReadDir(filepath.Join(base, k.Name()))
		for _, v := range vols {
			p := filepath.Join(base, k.Name(), v.Name())
			if isMountpoint(p) {
				if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
					errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
					continue
				}
			}
			if isMountpoint(p) {
				errs = append(errs, fmt.Errorf("%s is still mounted", p))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.RemoveAll(m.PodDir(uid)); err != nil {
		return fmt.Errorf("removing pod dir: %w", err)
	}
	return nil
}

// Pods lists the pod directories on disk (orphans are torn down after an
// agent restart).
func (m *Manager) Pods() ([]types.UID, error) {
	ents, err := os.ReadDir(m.cfg.PodsDir)
	if err != nil {
		return nil, fmt.Errorf("listing pod dirs: %w", err)
	}
	var out []types.UID
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, types.UID(e.Name()))
		}
	}
	return out, nil
}

// isMountpoint reports whether p is a mount point: its device differs
// from its parent's, or (bind mounts of the same file system) it is
// listed in /proc/self/mountinfo.
func isMountpoint(p string) bool {
	var st, pst unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &pst) != nil {
		return false
	}
	if st.Dev != pst.Dev {
		return true
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMount(f[4]) == p {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			n := 0
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
				}
				n = n*8 + int(c-'0')
			}
			if ok {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
