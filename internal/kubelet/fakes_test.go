package kubelet

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// fakeRuntime is an in-memory Runtime. Containers "run" until the test
// makes them exit (exit) or the kubelet stops them.
type fakeRuntime struct {
	mu      sync.Mutex
	n       int
	cs      map[string]*oci.ContainerStatus
	created []string
	// execCode answers Exec by the command's first word.
	execCode map[string]int
	// failCreate makes CreateContainer fail with this message.
	failCreate string
	// gate, when set, holds each CreateContainer until it can receive;
	// inFlight and maxInFlight count the creations held there.
	gate                  chan struct{}
	inFlight, maxInFlight int
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{cs: map[string]*oci.ContainerStatus{}, execCode: map[string]int{}}
}

func (f *fakeRuntime) CreateContainer(ctx context.Context, sb oci.PodSandbox, cfg oci.ContainerConfig) (string, error) {
	f.mu.Lock()
	gate := f.gate
	if gate != nil {
		f.inFlight++
		f.maxInFlight = max(f.maxInFlight, f.inFlight)
		f.mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
		}
		f.mu.Lock()
		f.inFlight--
	}
	defer f.mu.Unlock()
	if f.failCreate != "" {
		return "", fmt.Errorf("%s", f.failCreate)
	}
	if len(cfg.Args) == 0 {
		return "", fmt.Errorf("container %q has no command", cfg.Name)
	}
	f.n++
	id := fmt.Sprintf("%024x", f.n)
	h := sb.Handler
	if h == "" {
		h = "runc"
	}
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	f.cs[id] = &oci.ContainerStatus{ID: id, Name: cfg.Name, Attempt: cfg.Attempt, PodID: sb.ID, PodName: sb.Name, PodNamespace: sb.Namespace,
		Handler: h, State: oci.StateCreated, CreatedAt: time.Now(), Labels: labels, LogPath: cfg.Log.Path}
	f.created = append(f.created, id)
	return id, nil
}

func (f *fakeRuntime) get(id string) (*oci.ContainerStatus, error) {
	c, ok := f.cs[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, oci.ErrNotFound)
	}
	return c, nil
}

func (f *fakeRuntime) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return err
	}
	c.State, c.StartedAt = oci.StateRunning, time.Now()
	return nil
}

func (f *fakeRuntime) Status(ctx context.Context, id string) (oci.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return oci.ContainerStatus{}, err
	}
	return *c, nil
}

func (f *fakeRuntime) List(ctx context.Context) ([]oci.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []oci.ContainerStatus
	for _, c := range f.cs {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// exit makes a running container exit with code (OOMKilled if oom).
func (f *fakeRuntime) exit(id string, code int, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cs[id]
	if c == nil || c.State != oci.StateRunning {
		return
	}
	c.State, c.ExitCode, c.FinishedAt, c.Reason = oci.StateExited, code, time.Now(), reason
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if c.State == oci.StateRunning || c.State == oci.StateCreated {
		c.State, c.ExitCode, c.FinishedAt, c.Reason = oci.StateExited, 137, time.Now(), oci.ReasonError
	}
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cs, id)
	return nil
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, ec oci.ExecConfig) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return -1, err
	}
	return f.execCode[ec.Args[0]], nil
}

func (f *fakeRuntime) Logs(ctx context.Context, id string, opts oci.LogOptions, w io.Writer) error {
	io.WriteString(w, "last words\n")
	return nil
}

// byName returns the instances of container name, oldest first.
func (f *fakeRuntime) byName(podID, name string) []oci.ContainerStatus {
	all, _ := f.List(context.Background())
	var out []oci.ContainerStatus
	for _, c := range all {
		if c.PodID == podID && c.Name == name {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Attempt < out[j].Attempt })
	return out
}

// fakeImages knows the images in present; pulls of others fail.
type fakeImages struct {
	// rootfs is a directory with /etc/passwd and /etc/group, every
	// snapshot's root.
	rootfs  string
	mu      sync.Mutex
	present map[string]image.Image
	pulls   int
	snaps   map[string]string
}

func newFakeImages(rootfs string, refs ...string) *fakeImages {
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("root:x:0:\n"), 0o644)
	f := &fakeImages{rootfs: rootfs, present: map[string]image.Image{}, snaps: map[string]string{}}
	for _, r := range refs {
		n, _ := image.NormalizeRef(r)
		f.present[n] = image.Image{ID: "sha256:" + fmt.Sprintf("%064x", len(f.present)+1), RepoTags: []string{n}, Size: 1000}
	}
	return f
}

func (f *fakeImages) lookup(ref string) (image.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, im := range f.present {
		if im.ID == ref {
			return im, nil
		}
	}
	n, err := image.NormalizeRef(ref)
	if err != nil {
		return image.Image{}, err
	}
	im, ok := f.present[n]
	if !ok {
		return image.Image{}, fmt.Errorf("%w: %s", image.ErrNotFound, ref)
	}
	return im, nil
}

func (f *fakeImages) Get(ref string) (image.Image, error) { return f.lookup(ref) }
func (f *fakeImages) Pull(ctx context.Context, ref string, opts image.PullOptions) (image.Image, error) {
	f.mu.Lock()
	f.pulls++
	f.mu.Unlock()
	if im, err := f.lookup(ref); err == nil {
		return im, nil
	}
	return image.Image{}, fmt.Errorf("pulling %s: manifest unknown", ref)
}
func (f *fakeImages) Config(ref string) (image.ImageConfig, error) {
	if _, err := f.lookup(ref); err != nil {
		return image.ImageConfig{}, err
	}
	return image.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}, nil
}
func (f *fakeImages) Prepare(key, ref string) (image.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps[key] = ref
	return image.Snapshot{Key: key, ImageID: ref, Rootfs: f.rootfs}, nil
}
func (f *fakeImages) RemoveSnapshot(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.snaps, key)
	return nil
}
func (f *fakeImages) Snapshots() ([]image.Snapshot, error) { return nil, nil }
func (f *fakeImages) List() ([]image.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []image.Image
	for _, im := range f.present {
		out = append(out, im)
	}
	return out, nil
}
func (f *fakeImages) GC(p image.GCPolicy) (image.GCResult, error) { return image.GCResult{}, nil }

// fakeSandboxes records sandboxes in memory.
type fakeSandboxes struct {
	mu  sync.Mutex
	sbs map[string]*podsandbox.Sandbox
}

func newFakeSandboxes() *fakeSandboxes { return &fakeSandboxes{sbs: map[string]*podsandbox.Sandbox{}} }

func (f *fakeSandboxes) Create(id string, o podsandbox.Options) (*podsandbox.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sb, ok := f.sbs[id]; ok {
		return sb, nil
	}
	sb := &podsandbox.Sandbox{ID: id, Hostname: o.Hostname, NetNS: "/fake/" + id + "/net", CgroupParent: "/podvisor/pod" + id}
	f.sbs[id] = sb
	return sb, nil
}
func (f *fakeSandboxes) Get(id string) (*podsandbox.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sb, ok := f.sbs[id]; ok {
		return sb, nil
	}
	return nil, fmt.Errorf("no sandbox %s", id)
}
func (f *fakeSandboxes) List() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.sbs {
		out = append(out, id)
	}
	return out, nil
}
func (f *fakeSandboxes) Remove(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sbs, id)
	return nil
}

// fakeNetwork hands out 10.42.0.x addresses.
type fakeNetwork struct {
	mu     sync.Mutex
	next   int
	ips    map[string]netip.Addr
	setups int
}

func (f *fakeNetwork) Init() error { return nil }
func (f *fakeNetwork) Setup(podID, netns string, ports []podnet.PortMapping) (podnet.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ips == nil {
		f.ips = map[string]netip.Addr{}
	}
	f.setups++
	if ip, ok := f.ips[podID]; ok {
		return podnet.Result{IP: ip}, nil
	}
	f.next++
	ip := netip.AddrFrom4([4]byte{10, 42, 0, byte(1 + f.next)})
	f.ips[podID] = ip
	return podnet.Result{IP: ip}, nil
}
func (f *fakeNetwork) Lookup(podID string) (netip.Addr, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ip, ok := f.ips[podID]
	return ip, ok
}
func (f *fakeNetwork) Teardown(podID, netns string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ips, podID)
	return nil
}
func (f *fakeNetwork) Owners() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.ips {
		out = append(out, id)
	}
	return out, nil
}
