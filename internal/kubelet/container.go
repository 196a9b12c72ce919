package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/prober"
	"github.com/podvisor/podvisor/internal/kubelet/status"
	"github.com/podvisor/podvisor/internal/kubelet/volume"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// snapshotKey names a container instance's root file system snapshot.
func snapshotKey(uid types.UID, name string, attempt int) string {
	return fmt.Sprintf("%s-%s-%d", uid, name, attempt)
}

// podLogDir is where a pod's container logs go, as Kubernetes lays them
// out: <logs>/<namespace>_<name>_<uid>/<container>/<attempt>.log.
func (k *Kubelet) podLogDir(pod *corev1.Pod) string {
	return filepath.Join(k.logsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// containerRef is the status's containerID of an instance.
func containerRef(st oci.ContainerStatus) string {
	h := st.Handler
	if h == "" {
		h = "runc"
	}
	return h + "://" + st.ID
}

// effectiveSecurity merges the pod's and the container's security
// context (the container's fields win).
type effectiveSecurity struct {
	runAsUser, runAsGroup *int64
	runAsNonRoot          *bool
	seccomp               *corev1.SeccompProfile
}

func mergeSecurity(pod *corev1.Pod, c *corev1.Container) effectiveSecurity {
	var e effectiveSecurity
	if ps := pod.Spec.SecurityContext; ps != nil {
		e.runAsUser, e.runAsGroup, e.runAsNonRoot, e.seccomp = ps.RunAsUser, ps.RunAsGroup, ps.RunAsNonRoot, ps.SeccompProfile
	}
	if cs := c.SecurityContext; cs != nil {
		if cs.RunAsUser != nil {
			e.runAsUser = cs.RunAsUser
		}
		if cs.RunAsGroup != nil {
			e.runAsGroup = cs.RunAsGroup
		}
		if cs.RunAsNonRoot != nil {
			e.runAsNonRoot = cs.RunAsNonRoot
		}
		if cs.SeccompProfile != nil {
			e.seccomp = cs.SeccompProfile
		}
	}
	return e
}

// resolveUser decides the process's identity from the security context
// and the image's user, looking names up in the container's root file
// system, and enforces runAsNonRoot. Errors are configuration errors.
func resolveUser(pod *corev1.Pod, c *corev1.Container, imageUser, rootfs string) (oci.User, error) {
	sec := mergeSecurity(pod, c)
	spec := imageUser
	userPart, _, _ := strings.Cut(imageUser, ":")
	switch {
	case sec.runAsUser != nil && sec.runAsGroup != nil:
		spec = fmt.Sprintf("%d:%d", *sec.runAsUser, *sec.runAsGroup)
	case sec.runAsUser != nil:
		spec = strconv.FormatInt(*sec.runAsUser, 10)
	case sec.runAsGroup != nil:
		spec = userPart + ":" + strconv.FormatInt(*sec.runAsGroup, 10)
	}
	if sec.runAsNonRoot != nil && *sec.runAsNonRoot {
		if sec.runAsUser == nil {
			if userPart == "" {
				return oci.User{}, fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
			}
			if _, err := strconv.ParseUint(userPart, 10, 32); err != nil {
				return oci.User{}, fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", userPart, pod.Namespace+"/"+pod.Name, c.Name)
			}
		}
	}
	u, err := image.ResolveUser(rootfs, spec)
	if err != nil {
		return oci.User{}, fmt.Errorf("resolving user %q: %w", spec, err)
	}
	if sec.runAsNonRoot != nil && *sec.runAsNonRoot && u.UID == 0 {
		return oci.User{}, fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", pod.Namespace+"/"+pod.Name, c.Name)
	}
	out := oci.User{UID: u.UID, GID: u.GID, AdditionalGIDs: u.AdditionalGIDs}
	if ps := pod.Spec.SecurityContext; ps != nil {
		for _, g := range ps.SupplementalGroups {
			out.AdditionalGIDs = append(out.AdditionalGIDs, uint32(g))
		}
		if ps.FSGroup != nil {
			out.AdditionalGIDs = append(out.AdditionalGIDs, uint32(*ps.FSGroup))
		}
	}
	return out, nil
}

// security converts the security context for the runtime; Localhost
// seccomp profiles are read from dir.
func security(pod *corev1.Pod, c *corev1.Container, dir string) (oci.Security, error) {
	var s oci.Security
	if cs := c.SecurityContext; cs != nil {
		s.Privileged = cs.Privileged != nil && *cs.Privileged
		s.ReadOnlyRootFS = cs.ReadOnlyRootFilesystem != nil && *cs.ReadOnlyRootFilesystem
		s.NoNewPrivileges = cs.AllowPrivilegeEscalation != nil && !*cs.AllowPrivilegeEscalation
		if cs.Capabilities != nil {
			for _, a := range cs.Capabilities.Add {
				s.CapAdd = append(s.CapAdd, string(a))
			}
			for _, d := range cs.Capabilities.Drop {
				s.CapDrop = append(s.CapDrop, string(d))
			}
		}
	}
	// Decision: seccomp RuntimeDefault unless the pod says Unconfined
	// (the kubelet's --seccomp-default, on).
	sp := mergeSecurity(pod, c).seccomp
	switch {
	case sp == nil || sp.Type == corev1.SeccompProfileTypeRuntimeDefault:
		s.Seccomp = "RuntimeDefault"
	case sp.Type == corev1.SeccompProfileTypeUnconfined:
		s.Seccomp = "Unconfined"
	case sp.Type == corev1.SeccompProfileTypeLocalhost:
		if sp.LocalhostProfile == nil || *sp.LocalhostProfile == "" {
			return s, errors.New("seccomp profile type Localhost needs localhostProfile")
		}
		rel := filepath.Clean("/" + *sp.LocalhostProfile)
		p := filepath.Join(dir, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return s, fmt.Errorf("reading seccomp profile %s: %w", p, err)
		}
		var prof specs.LinuxSeccomp
		if err := json.Unmarshal(b, &prof); err != nil {
			return s, fmt.Errorf("decoding seccomp profile %s: %w", p, err)
		}
		s.Seccomp, s.SeccompProfile = "localhost/"+p, &prof
	default:
		return s, fmt.Errorf("unknown seccomp profile type %q", sp.Type)
	}
	return s, nil
}

// qosClass computes the pod's QoS class as Kubernetes does.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	requests, limits := 0, 0
	guaranteed := true
	all := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq && !req.IsZero() {
				requests++
			}
			if hasLim && !lim.IsZero() {
				limits++
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case requests == 0 && limits == 0:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// oomScoreAdj is Kubernetes' OOM score policy: Guaranteed -997,
// BestEffort 1000, Burstable 1000 - 1000×request/capacity in [2, 999].
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memCapacity int64) int {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	req := c.Resources.Requests.Memory().Value()
	if memCapacity <= 0 {
		return 999
	}
	adj := 1000 - 1000*req/memCapacity
	if adj < 2 {
		adj = 2
	}
	if adj > 999 {
		adj = 999
	}
	return int(adj)
}

// resources converts requests and limits to cgroup settings.
func resources(c *corev1.Container) oci.Resources {
	var r oci.Resources
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CPURequestMilli = q.MilliValue()
	} else if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPURequestMilli = q.MilliValue()
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPULimitMilli = q.MilliValue()
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitBytes = q.Value()
	}
	return r
}

// mounts binds c's volume mounts (subPath and subPathExpr resolved).
func mounts(pod *corev1.Pod, c *corev1.Container, vols map[string]volume.Mounted, mapping func(string) (string, bool)) ([]oci.Mount, error) {
	var out []oci.Mount
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q of mount %s is not set up", m.Name, m.MountPath)
		}
		host := v.HostPath
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = expand(m.SubPathExpr, mapping)
		}
		if sub != "" {
			p, err := volume.SubPath(host, sub)
			if err != nil {
				return nil, fmt.Errorf("mount %s: %w", m.MountPath, err)
			}
			host = p
		}
		om := oci.Mount{ContainerPath: m.MountPath, HostPath: host, ReadOnly: m.ReadOnly || v.ReadOnly}
		if m.MountPropagation != nil {
			switch *m.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				om.Propagation = "rslave"
			case corev1.MountPropagationBidirectional:
				om.Propagation = "rshared"
			}
		}
		out = append(out, om)
	}
	return out, nil
}

// buildConfig turns container c into a runtime configuration; rootfs is
// its mounted snapshot. Errors are configuration errors
// (CreateContainerConfigError).
func (k *Kubelet) buildConfig(ctx context.Context, r *podRecord, pod *corev1.Pod, c *corev1.Container, s startAction, icfg image.ImageConfig, rootfs string) (oci.ContainerConfig, error) {
	w := &r.w
	in := envInput{pod: pod, hostIPs: k.hostIPs(), services: k.servicesFor(pod)}
	if w.podIP.IsValid() {
		in.podIPs = []string{w.podIP.String()}
	} else if pod.Spec.HostNetwork {
		in.podIPs = in.hostIPs
	}
	k.mu.Lock()
	in.allocatable = k.allocatable.DeepCopy()
	k.mu.Unlock()
	env, err := k.makeEnv(ctx, in, c)
	if err != nil {
		return oci.ContainerConfig{}, err
	}
	vals := map[string]string{}
	for _, e := range env {
		vals[e.Name] = e.Value
	}
	mapping := func(n string) (string, bool) { v, ok := vals[n]; return v, ok }
	args := mergeCommand(c.Command, c.Args, icfg.Entrypoint, icfg.Cmd, mapping)
	user, err := resolveUser(pod, c, icfg.User, rootfs)
	if err != nil {
		return oci.ContainerConfig{}, err
	}
	sec, err := security(pod, c, k.cfg.SeccompDir)
	if err != nil {
		return oci.ContainerConfig{}, err
	}
	ms, err := mounts(pod, c, w.volumes, mapping)
	if err != nil {
		return oci.ContainerConfig{}, err
	}
	// Image env first, the pod's env overriding it.
	full := map[string]bool{}
	for _, e := range env {
		full[e.Name] = true
	}
	var envs []string
	for _, e := range icfg.Env {
		name, _, _ := strings.Cut(e, "=")
		if !full[name] {
			envs = append(envs, e)
		}
	}
	envs = append(envs, envStrings(env)...)
	wd := c.WorkingDir
	if wd == "" {
		wd = icfg.WorkingDir
	}
	mem := int64(0)
	if capm, err := k.host.Capacity(); err == nil {
		mem = capm.Memory().Value()
	}
	adj := oomScoreAdj(pod, c, mem)
	cfg := oci.ContainerConfig{
		Name: c.Name, Attempt: s.attempt, Rootfs: rootfs, Args: args, Env: envs, WorkingDir: wd,
		User: user, Stdin: c.Stdin, TTY: c.TTY, Security: sec, Mounts: ms,
		TerminationMessagePath: c.TerminationMessagePath,
		Resources:              resources(c),
		OOMScoreAdj:            &adj,
		Log:                    oci.LogConfig{Path: filepath.Join(k.podLogDir(pod), c.Name, strconv.Itoa(s.attempt)+".log")},
		Labels: map[string]string{
			labelImage: c.Image, labelSnapshot: snapshotKey(pod.UID, c.Name, s.attempt),
			labelGrace: strconv.FormatInt(gracePeriod(pod), 10),
		},
	}
	if s.init {
		cfg.Labels[labelInit] = "true"
	}
	if w.sandbox != nil {
		mounted := map[string]bool{}
		for _, m := range c.VolumeMounts {
			mounted[filepath.Clean(m.MountPath)] = true
		}
		dir := k.volumes.PodDir(pod.UID)
		if !mounted["/etc/hosts"] {
			cfg.EtcHosts = filepath.Join(dir, "etc-hosts")
		}
		if !mounted["/etc/resolv.conf"] {
			cfg.ResolvConf = filepath.Join(dir, "resolv.conf")
		}
		if !mounted["/etc/hostname"] && !pod.Spec.HostNetwork {
			cfg.HostnameFile = filepath.Join(dir, "hostname")
		}
	}
	return cfg, nil
}

// gracePeriod is the pod's termination grace period in seconds.
func gracePeriod(pod *corev1.Pod) int64 {
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

// startContainer creates and starts one instance of s.c. Failures set
// the container's waiting reason and Events.
func (k *Kubelet) startContainer(ctx context.Context, r *podRecord, pod *corev1.Pod, s startAction) error {
	w := &r.w
	c := s.c
	if s.replace != "" {
		k.removeInstance(ctx, r, s.replace)
	}
	// Runtime failures back off exponentially; configuration errors
	// (a missing configMap) are retried at every sync, so that creating
	// the object starts the container soon.
	wait := func(reason string, err error) error {
		w.waiting[c.Name] = status.Waiting{Reason: reason, Message: err.Error()}
		k.event(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		if reason != status.ReasonCreateContainerConfigError {
			w.restarts.next("create/"+c.Name, k.now())
		}
		return errWaiting
	}
	if d := w.restarts.remaining("create/"+c.Name, w.restarts.lastAt("create/"+c.Name), k.now()); d > 0 {
		return errWaiting // the previous failure's reason stays
	}
	im, err := k.ensureImage(ctx, r, pod, c)
	if err != nil {
		return err
	}
	k.step(pod.UID, "image")
	icfg, err := k.images.Config(im.ID)
	if err != nil {
		return wait(status.ReasonCreateContainerError, fmt.Errorf("reading image config: %w", err))
	}
	key := snapshotKey(pod.UID, c.Name, s.attempt)
	snap, err := k.images.Prepare(key, im.ID)
	if err != nil {
		return wait(status.ReasonCreateContainerError, fmt.Errorf("preparing root file system: %w", err))
	}
	k.step(pod.UID, "snapshot")
	cfg, err := k.buildConfig(ctx, r, pod, c, s, icfg, snap.Rootfs)
	if err != nil {
		k.images.RemoveSnapshot(key)
		return wait(status.ReasonCreateContainerConfigError, err)
	}
	cfg.Labels[labelImageID] = imageID(im)
	sb := w.sandbox.PodSandbox(pod.Namespace, pod.Name, w.handler)
	select {
	case k.starts <- struct{}{}:
	case <-ctx.Done():
		k.images.RemoveSnapshot(key)
		return ctx.Err()
	}
	release := func() { <-k.starts }
	id, err := k.rt.CreateContainer(ctx, sb, cfg)
	if err != nil {
		release()
		k.images.RemoveSnapshot(key)
		return wait(status.ReasonCreateContainerError, err)
	}
	st, err := k.rt.Status(ctx, id)
	if err != nil {
		st = oci.ContainerStatus{ID: id, Name: c.Name, Attempt: s.attempt, State: oci.StateCreated, Labels: cfg.Labels, Handler: w.handler}
	}
	w.containers = append(w.containers, st)
	k.step(pod.UID, "created")
	k.event(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	err = k.rt.Start(ctx, id)
	release()
	if err != nil {
		k.removeInstance(ctx, r, id)
		return wait(status.ReasonRunContainerError, err)
	}
	k.step(pod.UID, "started")
	w.restarts.reset("create/" + c.Name)
	delete(w.waiting, c.Name)
	k.refreshInstance(ctx, r, id)
	k.event(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	k.publish(r)
	if lc := c.Lifecycle; lc != nil && lc.PostStart != nil {
		hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		res, msg := k.runner.Run(hctx, prober.HookHandler(lc.PostStart), k.hookTarget(r, c, id))
		cancel()
		if res != prober.Success {
			k.event(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %s", msg)
			k.stopInstance(ctx, pod, c, id, time.Duration(gracePeriod(pod))*time.Second, "FailedPostStartHook", false)
			k.refreshInstance(ctx, r, id)
		}
	}
	k.gcInstances(ctx, r, c.Name)
	return nil
}

// hookTarget is where a lifecycle handler of c runs.
func (k *Kubelet) hookTarget(r *podRecord, c *corev1.Container, id string) prober.Target {
	t := prober.Target{ContainerID: id, Container: c}
	if r.w.podIP.IsValid() {
		t.PodIP = r.w.podIP.String()
	} else {
		ips := k.hostIPs()
		t.PodIP = ips[0]
	}
	if r.w.sandbox != nil {
		t.NetNS = r.w.sandbox.NetNS
	}
	return t
}

// refreshInstance re-reads one instance's status.
func (k *Kubelet) refreshInstance(ctx context.Context, r *podRecord, id string) {
	st, err := k.rt.Status(ctx, id)
	for i := range r.w.containers {
		if r.w.containers[i].ID == id {
			if errors.Is(err, oci.ErrNotFound) {
				r.w.containers = append(r.w.containers[:i], r.w.containers[i+1:]...)
				return
			}
			if err == nil {
				r.w.containers[i] = st
			}
			return
		}
	}
}

// refreshContainers re-reads every known instance of the pod.
func (k *Kubelet) refreshContainers(ctx context.Context, r *podRecord) {
	ids := make([]string, len(r.w.containers))
	for i, c := range r.w.containers {
		ids[i] = c.ID
	}
	for _, id := range ids {
		k.refreshInstance(ctx, r, id)
	}
}

// removeInstance removes an instance, its snapshot and (unless it is
// the newest instance of its container) nothing else: logs of kept
// instances stay.
func (k *Kubelet) removeInstance(ctx context.Context, r *podRecord, id string) {
	var st *oci.ContainerStatus
	for i := range r.w.containers {
		if r.w.containers[i].ID == id {
			st = &r.w.containers[i]
		}
	}
	if err := k.rt.Remove(ctx, id); err != nil {
		k.log.Warn("removing container", "id", id, "err", err)
		return
	}
	if st != nil {
		if key := st.Labels[labelSnapshot]; key != "" {
			if err := k.images.RemoveSnapshot(key); err != nil {
				k.log.Warn("removing snapshot", "key", key, "err", err)
			}
		}
		if st.LogPath != "" && strings.HasPrefix(st.LogPath, k.logsDir+"/") {
			removeLogFiles(st.LogPath)
		}
	}
	for i := range r.w.containers {
		if r.w.containers[i].ID == id {
			r.w.containers = append(r.w.containers[:i], r.w.containers[i+1:]...)
			break
		}
	}
	delete(r.w.hooked, id)
	delete(r.w.termMsgs, id)
}

// removeLogFiles removes a log and its rotated files.
func removeLogFiles(p string) {
	matches, _ := filepath.Glob(p + "*")
	for _, m := range matches {
		if m == p || strings.HasPrefix(m, p+".") {
			os.Remove(m)
		}
	}
}

// gcInstances keeps the current and the previous instance of container
// name (logs --previous, lastState) and removes older ones.
func (k *Kubelet) gcInstances(ctx context.Context, r *podRecord, name string) {
	var mine []oci.ContainerStatus
	for _, c := range r.w.containers {
		if c.Name == name {
			mine = append(mine, c)
		}
	}
	if len(mine) <= 2 {
		return
	}
	for _, c := range mine[:len(mine)-2] {
		if c.State == oci.StateRunning {
			continue
		}
		k.removeInstance(ctx, r, c.ID)
	}
}
