package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/podvisor/podvisor/internal/kubelet/status"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// harness is a kubelet over fakes: a fake clientset, runtime, image
// store, sandboxes and network.
type harness struct {
	t       *testing.T
	cs      *fake.Clientset
	rt      *fakeRuntime
	images  *fakeImages
	sbs     *fakeSandboxes
	net     *fakeNetwork
	dataDir string
	cfg     Config
	cancel  context.CancelFunc
	done    chan error
	k       *Kubelet
}

func newHarness(t *testing.T) *harness {
	h := &harness{
		t: t, cs: fake.NewClientset(), rt: newFakeRuntime(), images: newFakeImages(t.TempDir(), "busybox", "busybox:1.36"),
		sbs: newFakeSandboxes(), net: &fakeNetwork{}, dataDir: t.TempDir(),
	}
	// The fake clientset gives created objects no UID; the API server
	// does.
	n := 0
	h.cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if p, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod); ok && p.UID == "" {
			n++
			p.UID = types.UID(fmt.Sprintf("generated-%d", n))
		}
		return false, nil, nil
	})
	h.cfg = Config{
		NodeName: "node1", DataDir: h.dataDir, PodCIDR: "10.42.0.0/24",
		SyncPeriod: 200 * time.Millisecond, RelistPeriod: 20 * time.Millisecond,
		NodeStatusPeriod: 50 * time.Millisecond, LeasePeriod: 50 * time.Millisecond,
		BackOffBase: 100 * time.Millisecond, BackOffMax: 400 * time.Millisecond,
		ManifestCheckPeriod: 100 * time.Millisecond,
	}
	return h
}

// start runs a kubelet; stop ends it (containers stay in the fake
// runtime, as they would on a node).
func (h *harness) start() {
	h.t.Helper()
	k, err := New(h.cfg, Deps{
		Client: h.cs, Runtime: h.rt, Images: h.images, Sandboxes: h.sbs,
		NewNetwork: func(netip.Prefix) (Network, error) { return h.net, nil },
		Log:        slog.New(slog.DiscardHandler), Host: fakeHost{usage: HostUsage{MemoryAvailable: 1 << 30, DiskAvailable: 1 << 30, DiskTotal: 2 << 30}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.k, h.cancel, h.done = k, cancel, make(chan error, 1)
	go func() { h.done <- k.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("kubelet: %v", err)
	}
	h.cancel = nil
}

func (h *harness) create(p *corev1.Pod) *corev1.Pod {
	h.t.Helper()
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	p.Spec.NodeName = "node1"
	if p.UID == "" {
		p.UID = types.UID("uid-" + p.Name)
	}
	for i := range p.Spec.Containers {
		if p.Spec.Containers[i].Image == "" {
			p.Spec.Containers[i].Image = "busybox:1.36"
		}
	}
	for i := range p.Spec.InitContainers {
		if p.Spec.InitContainers[i].Image == "" {
			p.Spec.InitContainers[i].Image = "busybox:1.36"
		}
	}
	if p.Spec.RestartPolicy == "" {
		p.Spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	out, err := h.cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// wait polls pod ns/name until cond holds (a missing pod is nil).
func (h *harness) wait(ns, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last *corev1.Pod
	for time.Now().Before(deadline) {
		p, err := h.cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			p = nil
		} else if err != nil {
			h.t.Fatal(err)
		}
		if cond(p) {
			return p
		}
		last = p
		time.Sleep(10 * time.Millisecond)
	}
	if last != nil {
		h.t.Fatalf("timed out waiting for %s; last status: %+v", what, last.Status)
	}
	h.t.Fatalf("timed out waiting for %s", what)
	return nil
}

func waitingReason(p *corev1.Pod, c int) string {
	if p == nil || len(p.Status.ContainerStatuses) <= c || p.Status.ContainerStatuses[c].State.Waiting == nil {
		return ""
	}
	return p.Status.ContainerStatuses[c].State.Waiting.Reason
}

func (h *harness) events(reason string) []string {
	evs, _ := h.cs.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
	var out []string
	for _, e := range evs.Items {
		if e.Reason == reason {
			out = append(out, e.Message)
		}
	}
	return out
}

func (h *harness) waitEvent(reason, contains string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range h.events(reason) {
			if strings.Contains(m, contains) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("no %s event containing %q; have %v", reason, contains, h.events(reason))
}

func isRunning(p *corev1.Pod) bool {
	if p == nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestRegistersNodeAndLease(t *testing.T) {
	h := newHarness(t)
	h.start()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := h.cs.CoreV1().Nodes().Get(ctx, "node1", metav1.GetOptions{})
		l, lerr := h.cs.CoordinationV1().Leases(leaseNamespace).Get(ctx, "node1", metav1.GetOptions{})
		if err == nil && lerr == nil {
			ready := false
			for _, c := range n.Status.Conditions {
				ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
			}
			if ready && n.Labels[corev1.LabelHostname] == "host1" && n.Spec.PodCIDR == "10.42.0.0/24" && *l.Spec.HolderIdentity == "node1" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %v (%v), lease %v (%v)", n, err, l, lerr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPodRunsAndReportsStatus(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Command: []string{"true"}}},
		Containers:     []corev1.Container{{Name: "c", Command: []string{"httpd"}}},
	}})
	// The init container runs first; make it succeed.
	deadline := time.Now().Add(30 * time.Second)
	for len(h.rt.byName("uid-web", "init")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("init container never created")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(h.rt.byName("uid-web", "c")) != 0 {
		t.Fatal("app container started before the init container completed")
	}
	h.rt.exit(h.rt.byName("uid-web", "init")[0].ID, 0, oci.ReasonCompleted)
	p := h.wait("default", "web", "Running and Ready", isRunning)
	cs := p.Status.ContainerStatuses[0]
	if p.Status.PodIP == "" || p.Status.HostIP != "192.168.5.5" || cs.ContainerID == "" || !strings.HasPrefix(cs.ContainerID, "runc://") ||
		cs.ImageID == "" || cs.State.Running == nil || !cs.Ready || p.Status.StartTime == nil {
		t.Errorf("status: %+v", p.Status)
	}
	ic := p.Status.InitContainerStatuses[0]
	if ic.State.Terminated == nil || ic.State.Terminated.Reason != "Completed" {
		t.Errorf("init container status: %+v", ic)
	}
	for _, r := range []string{"Pulled", "Created", "Started"} {
		h.waitEvent(r, "")
	}
	st, ok := h.k.GetPod("default", "web")
	if !ok || st.NetNS == "" || len(st.Containers) != 2 {
		t.Errorf("lookup: %+v %v", st, ok)
	}
	ref, err := h.k.Container("default", "web", "", false)
	if err != nil || ref.ID != h.rt.byName("uid-web", "c")[0].ID || !ref.Running {
		t.Errorf("lookup container: %+v %v", ref, err)
	}
	if _, err := h.k.Container("default", "web", "c", true); err == nil {
		t.Errorf("a previous instance that does not exist was found")
	}
	hosts, _ := os.ReadFile(filepath.Join(h.dataDir, "pods", "uid-web", "etc-hosts"))
	if !strings.Contains(string(hosts), p.Status.PodIP+"\tweb") {
		t.Errorf("hosts file:\n%s", hosts)
	}
}

func TestCrashLoopBackOff(t *testing.T) {
	h := newHarness(t)
	// Long enough for the waiting state to be seen between restarts.
	h.cfg.BackOffBase, h.cfg.BackOffMax = time.Second, 4*time.Second
	h.start()
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crash"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"false"}}}}})
	seen := map[int]bool{}
	for attempt := 0; attempt < 3; attempt++ {
		deadline := time.Now().Add(30 * time.Second)
		for {
			is := h.rt.byName("uid-crash", "c")
			if len(is) > 0 && is[len(is)-1].Attempt == attempt && is[len(is)-1].State == oci.StateRunning {
				h.rt.exit(is[len(is)-1].ID, 1, oci.ReasonError)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("attempt %d never ran: %+v", attempt, is)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if attempt >= 1 {
			p := h.wait("default", "crash", "CrashLoopBackOff", func(p *corev1.Pod) bool {
				return waitingReason(p, 0) == status.ReasonCrashLoopBackOff && p.Status.ContainerStatuses[0].RestartCount == int32(attempt)
			})
			seen[attempt] = true
			cs := p.Status.ContainerStatuses[0]
			if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
				t.Errorf("lastState: %+v", cs.LastTerminationState)
			}
		}
	}
	if len(h.rt.byName("uid-crash", "c")) > 2 {
		t.Errorf("old instances not removed: %d kept", len(h.rt.byName("uid-crash", "c")))
	}
	h.waitEvent("BackOff", "Back-off restarting failed container c")
	ref, err := h.k.Container("default", "crash", "c", true)
	if err != nil || ref.Attempt != 1 {
		t.Errorf("previous instance: %+v %v", ref, err)
	}
}

func TestRestartPolicyNeverAndOOM(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "once"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "c", Command: []string{"eat"}}}}})
	deadline := time.Now().Add(30 * time.Second)
	for len(h.rt.byName("uid-once", "c")) == 0 || h.rt.byName("uid-once", "c")[0].State != oci.StateRunning {
		if time.Now().After(deadline) {
			t.Fatal("never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.rt.exit(h.rt.byName("uid-once", "c")[0].ID, 137, oci.ReasonOOMKilled)
	p := h.wait("default", "once", "Failed", func(p *corev1.Pod) bool { return p != nil && p.Status.Phase == corev1.PodFailed })
	term := p.Status.ContainerStatuses[0].State.Terminated
	if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("terminated: %+v", term)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(h.rt.byName("uid-once", "c")); n != 1 {
		t.Errorf("restartPolicy Never: %d instances", n)
	}
	if _, ok := h.net.Lookup("uid-once"); ok {
		t.Errorf("a finished pod keeps its address")
	}
}

func TestWaitingReasons(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "badimage"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nosuch/image:1", ImagePullPolicy: corev1.PullIfNotPresent}}}})
	h.wait("default", "badimage", "ErrImagePull", func(p *corev1.Pod) bool { return waitingReason(p, 0) == status.ReasonErrImagePull })
	h.wait("default", "badimage", "ImagePullBackOff", func(p *corev1.Pod) bool { return waitingReason(p, 0) == status.ReasonImagePullBackOff })
	h.waitEvent("Failed", `Failed to pull image "nosuch/image:1"`)

	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nocm"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"sh"},
		Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "later"}, Key: "k"}}}}}}}})
	p := h.wait("default", "nocm", "CreateContainerConfigError", func(p *corev1.Pod) bool { return waitingReason(p, 0) == status.ReasonCreateContainerConfigError })
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; msg != `configmap "later" not found` {
		t.Errorf("message %q", msg)
	}
	h.cs.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	h.wait("default", "nocm", "running once the configmap exists", isRunning)

	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "novol"}, Spec: corev1.PodSpec{
		Volumes:    []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}}}},
		Containers: []corev1.Container{{Name: "c", Command: []string{"sh"}, VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/v"}}}}}})
	p = h.wait("default", "novol", "ContainerCreating with the mount error", func(p *corev1.Pod) bool {
		return waitingReason(p, 0) == status.ReasonContainerCreating && strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, `configmap "absent" not found`)
	})
	h.waitEvent("FailedMount", `MountVolume.SetUp failed for volume "v" : configmap "absent" not found`)

	h.rt.mu.Lock()
	h.rt.failCreate = `exec: "nosuchcmd": executable file not found in $PATH`
	h.rt.mu.Unlock()
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nocmd"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"nosuchcmd"}}}}})
	p = h.wait("default", "nocmd", "CreateContainerError", func(p *corev1.Pod) bool { return waitingReason(p, 0) == status.ReasonCreateContainerError })
	if !strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, "executable file not found") {
		t.Errorf("message %q", p.Status.ContainerStatuses[0].State.Waiting.Message)
	}
}

func TestProbes(t *testing.T) {
	h := newHarness(t)
	h.rt.execCode["ready"] = 1
	h.start()
	probe := func(cmd string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}}, PeriodSeconds: 1, FailureThreshold: 1, SuccessThreshold: 1, TimeoutSeconds: 1}
	}
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probed"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"sh"},
		ReadinessProbe: probe("ready"), LivenessProbe: probe("live")}}}})
	p := h.wait("default", "probed", "running, not ready", func(p *corev1.Pod) bool {
		return p != nil && p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	if p.Status.ContainerStatuses[0].Ready {
		t.Errorf("ready before its readiness probe passed")
	}
	h.waitEvent("Unhealthy", "Readiness probe failed")
	h.rt.mu.Lock()
	h.rt.execCode["ready"] = 0
	h.rt.mu.Unlock()
	h.wait("default", "probed", "ready", isRunning)
	h.rt.mu.Lock()
	h.rt.execCode["live"] = 1
	h.rt.mu.Unlock()
	h.wait("default", "probed", "restarted after liveness failure", func(p *corev1.Pod) bool {
		return p != nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	h.waitEvent("Killing", "failed liveness probe, will be restarted")
}

func TestGracefulDeletion(t *testing.T) {
	h := newHarness(t)
	h.start()
	pod := h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "gone"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"sh"}}}}})
	h.wait("default", "gone", "running", isRunning)
	// What the API server does on a graceful delete.
	now := metav1.Now()
	g := int64(5)
	pod, _ = h.cs.CoreV1().Pods("default").Get(context.Background(), "gone", metav1.GetOptions{})
	pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &now, &g
	if _, err := h.cs.CoreV1().Pods("default").Update(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.wait("default", "gone", "deleted by the kubelet", func(p *corev1.Pod) bool { return p == nil })
	if n := len(h.rt.byName("uid-gone", "c")); n != 0 {
		t.Errorf("%d containers left", n)
	}
	if _, err := h.sbs.Get("uid-gone"); err == nil {
		t.Errorf("sandbox left")
	}
	h.waitEvent("Killing", "Stopping container c")
	var deletes int
	for _, a := range h.cs.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			deletes++
		}
	}
	if deletes == 0 {
		t.Errorf("the kubelet never deleted the pod")
	}
}

func TestAgentRestartKeepsContainers(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "keep"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"sh"}}}}})
	before := h.wait("default", "keep", "running", isRunning)
	id := h.rt.byName("uid-keep", "c")[0].ID
	setups := h.net.setups
	h.stop()
	h.start()
	time.Sleep(500 * time.Millisecond)
	after := h.wait("default", "keep", "running", isRunning)
	is := h.rt.byName("uid-keep", "c")
	if len(is) != 1 || is[0].ID != id || is[0].State != oci.StateRunning {
		t.Fatalf("containers after restart: %+v", is)
	}
	if after.Status.ContainerStatuses[0].RestartCount != 0 || after.Status.PodIP != before.Status.PodIP {
		t.Errorf("status after restart: %+v", after.Status)
	}
	if h.net.setups != setups {
		t.Errorf("network set up again after restart")
	}
	// Leftovers of a pod deleted while the agent was down are removed.
	h.stop()
	h.cs.CoreV1().Pods("default").Delete(context.Background(), "keep", metav1.DeleteOptions{})
	h.start()
	deadline := time.Now().Add(30 * time.Second)
	for len(h.rt.byName("uid-keep", "c")) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("orphaned container not removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStaticPodsAndMirrors(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	h.cfg.PodManifestPath = dir
	manifest := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n    command: [sh]\n"
	os.WriteFile(filepath.Join(dir, "static.yaml"), []byte(manifest), 0o644)
	h.start()
	m := h.wait("default", "static-node1", "mirror pod running", isRunning)
	if _, ok := m.Annotations[corev1.MirrorPodAnnotationKey]; !ok {
		t.Fatalf("mirror annotations %v", m.Annotations)
	}
	// Deleted mirrors come back.
	h.cs.CoreV1().Pods("default").Delete(context.Background(), "static-node1", metav1.DeleteOptions{})
	h.wait("default", "static-node1", "mirror recreated", func(p *corev1.Pod) bool { return p != nil && p.UID != m.UID })
	// Removing the manifest removes the pod and its mirror.
	os.Remove(filepath.Join(dir, "static.yaml"))
	h.wait("default", "static-node1", "mirror removed", func(p *corev1.Pod) bool { return p == nil })
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, _ := h.rt.List(context.Background())
		if len(all) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers left: %+v", all)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAdmissionRejectsOverCapacity(t *testing.T) {
	h := newHarness(t)
	h.cfg.MaxPods = 1
	h.start()
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "first"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"sh"}}}}})
	h.wait("default", "first", "running", isRunning)
	h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "second"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Command: []string{"sh"}}}}})
	p := h.wait("default", "second", "rejected", func(p *corev1.Pod) bool { return p != nil && p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != "OutOfpods" {
		t.Errorf("reason %q (%s)", p.Status.Reason, p.Status.Message)
	}
	if fmt.Sprint(h.rt.byName("uid-second", "c")) != "[]" {
		t.Errorf("a rejected pod got containers")
	}
}

func TestParallelStartsBound(t *testing.T) {
	h := newHarness(t)
	h.cfg.ParallelStarts = 2
	h.rt.gate = make(chan struct{})
	h.start()
	const pods = 6
	for i := range pods {
		h.create(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Command: []string{"sleep"}}},
		}})
	}
	inFlight := func() (int, int) {
		h.rt.mu.Lock()
		defer h.rt.mu.Unlock()
		return h.rt.inFlight, h.rt.maxInFlight
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, _ := inFlight(); n < 2; n, _ = inFlight() {
		if time.Now().After(deadline) {
			t.Fatalf("%d container creations in flight, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Give the other pods' workers time to (wrongly) join the two held
	// creations, then let every creation through one at a time.
	time.Sleep(300 * time.Millisecond)
	for i := range pods {
		select {
		case h.rt.gate <- struct{}{}:
		case <-time.After(30 * time.Second):
			t.Fatalf("creation %d never reached the runtime", i)
		}
	}
	for i := range pods {
		h.wait("default", fmt.Sprintf("p%d", i), "Running and Ready", isRunning)
	}
	if _, most := inFlight(); most != 2 {
		t.Errorf("at most %d container creations ran at once, want 2 (ParallelStarts)", most)
	}
}
