package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/kubelet/prober"
	"github.com/podvisor/podvisor/internal/kubelet/status"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// startWorker starts r's worker goroutine.
func (k *Kubelet) startWorker(r *podRecord) {
	k.go_(func() { k.runWorker(r) })
}

// runWorker syncs r whenever it is poked or its timer fires, until the
// pod is gone or the kubelet stops.
func (k *Kubelet) runWorker(r *podRecord) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-k.ctx.Done():
			return
		case <-r.wakeCh:
		case <-timer.C:
		}
		next := k.syncPod(k.ctx, r)
		if next < 0 {
			if k.finishRecord(r) {
				return
			}
			next = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if next == 0 {
			r.poke()
			next = time.Hour
		}
		timer.Reset(next)
	}
}

// finishRecord drops r once its pod is gone; it reports false (and
// resets r) when the pod came back meanwhile.
func (k *Kubelet) finishRecord(r *podRecord) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	pod, _ := k.desiredLocked(r.uid)
	if pod != nil && pod.DeletionTimestamp == nil {
		fresh := newRecord(r.uid, k.cfg.BackOffBase, k.cfg.BackOffMax)
		r.w = fresh.w
		return false
	}
	delete(k.pods, r.uid)
	delete(k.admittedPods, r.uid)
	return true
}

func terminalPhase(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// phaseNow is the pod's phase as last computed or reported.
func (k *Kubelet) phaseNow(r *podRecord, pod *corev1.Pod) corev1.PodPhase {
	if r.w.computed {
		return r.w.status.Phase
	}
	if t := r.apiTarget(); t != nil {
		return t.Status.Phase
	}
	return pod.Status.Phase
}

// syncPod reconciles one pod with what runs. It returns when to sync
// again, or a negative duration once the pod is gone.
func (k *Kubelet) syncPod(ctx context.Context, r *podRecord) time.Duration {
	pod := r.desired()
	w := &r.w
	k.refreshContainers(ctx, r)
	if pod == nil || pod.DeletionTimestamp != nil {
		if pod == nil && !k.sourcesAllReady() {
			// Not known yet: a source has not delivered its pods.
			return time.Second
		}
		return k.syncTerminating(ctx, r, pod)
	}
	w.lastPod = pod
	next := k.cfg.SyncPeriod
	if isStatic(pod) {
		k.syncMirror(ctx, r, pod)
	}
	if !w.admitted {
		if err := k.admit(ctx, r, pod); err != nil {
			w.podErr = err.Error()
			k.updateStatus(r, pod, false)
			return 2 * time.Second
		}
	}
	if w.rejected != nil {
		k.updateStatus(r, pod, false)
		return next
	}
	if terminalPhase(k.phaseNow(r, pod)) {
		k.finishPod(ctx, r, pod)
		k.updateStatus(r, pod, false)
		k.releaseAdmission(r.uid)
		return next
	}
	now := k.now()
	if ads := pod.Spec.ActiveDeadlineSeconds; ads != nil {
		start := now
		if t := r.apiTarget(); t != nil && t.Status.StartTime != nil {
			start = t.Status.StartTime.Time
		} else if w.computed && w.status.StartTime != nil {
			start = w.status.StartTime.Time
		}
		left := start.Add(time.Duration(*ads) * time.Second).Sub(now)
		if left <= 0 {
			if !w.deadlineExceeded {
				k.event(pod, corev1.EventTypeNormal, status.ReasonDeadlineExceeded, "Pod was active on the node longer than the specified deadline")
			}
			w.deadlineExceeded = true
			if ids := running(w.containers); len(ids) > 0 {
				k.killContainers(ctx, r, pod, ids, time.Duration(gracePeriod(pod))*time.Second, func(name string) string {
					return "Stopping container " + name
				})
			}
			k.updateStatus(r, pod, true)
			k.finishPod(ctx, r, pod)
			return next
		}
		if left < next {
			next = left
		}
	}
	if err := k.ensureSandbox(ctx, r, pod); err != nil {
		if !errors.Is(err, errNetworkNotReady) && err.Error() != w.podErr {
			k.event(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		}
		w.podErr = err.Error()
		k.updateStatus(r, pod, false)
		return 2 * time.Second
	}
	mounted, err := k.volumes.Setup(ctx, pod)
	w.volumes = mounted
	if err != nil {
		msg := err.Error()
		if msg != w.lastMountErr || now.Sub(w.lastMountEvent) > 2*time.Minute {
			for _, e := range unjoin(err) {
				k.event(pod, corev1.EventTypeWarning, "FailedMount", "%v", e)
			}
			w.lastMountErr, w.lastMountEvent = msg, now
		}
		w.podErr = msg
		w.restarts.next("mount", now)
		k.updateStatus(r, pod, false)
		return w.restarts.delay("mount")
	}
	w.restarts.reset("mount")
	k.step(pod.UID, "volumes")
	w.podErr, w.lastMountErr = "", ""
	if t := k.volumes.NextTokenRefresh(pod.UID); !t.IsZero() {
		if d := t.Sub(now); d < next {
			next = max(d, time.Second)
		}
	}

	acts := computeActions(k.actionInput(r, pod))
	intent := map[string]bool{}
	if len(acts.kill) > 0 {
		for _, kl := range acts.kill {
			c := specOf(pod, kl.name)
			grace := time.Duration(gracePeriod(pod)) * time.Second
			if c != nil && c.LivenessProbe != nil && c.LivenessProbe.TerminationGracePeriodSeconds != nil && strings.Contains(kl.reason, "liveness") {
				grace = time.Duration(*c.LivenessProbe.TerminationGracePeriodSeconds) * time.Second
			}
			k.stopInstance(ctx, pod, c, kl.id, grace, kl.reason, true)
			k.refreshInstance(ctx, r, kl.id)
			intent[kl.name] = true
		}
		// Re-decide at once with the killed instances exited.
		next = 0
	}
	for name, d := range acts.backoff {
		intent[name] = true
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", w.restarts.delay(name), name, pod.Name, pod.Namespace, pod.UID)
		if w.waiting[name].Reason != status.ReasonCrashLoopBackOff {
			k.event(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", name, pod.Name, pod.Namespace, pod.UID)
		}
		w.waiting[name] = status.Waiting{Reason: status.ReasonCrashLoopBackOff, Message: msg}
		if d < next {
			next = d
		}
	}
	in := k.actionInput(r, pod)
	for _, s := range acts.start {
		intent[s.c.Name] = true
		if cur := in.current(s.c.Name); cur != nil && cur.State != oci.StateCreated {
			w.restarts.next(s.c.Name, k.now())
		}
		if err := k.startContainer(ctx, r, pod, s); err != nil {
			d := 2 * time.Second
			if rem := w.restarts.remaining("create/"+s.c.Name, w.restarts.lastAt("create/"+s.c.Name), k.now()); rem > 0 {
				d = rem
			}
			if rem := w.pulls.remaining(s.c.Image, w.pulls.lastAt(s.c.Image), k.now()); rem > 0 {
				d = rem
			}
			if d < next {
				next = d
			}
			if s.init && !status.IsSidecar(s.c) {
				break
			}
		}
	}
	for name := range w.waiting {
		if !intent[name] {
			delete(w.waiting, name)
		}
	}
	k.updateProbes(r, pod)
	k.updateStatus(r, pod, acts.initFailed)
	if acts.complete || terminalPhase(w.status.Phase) {
		next = 0
	}
	return next
}

// unjoin splits an errors.Join error.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// instancesByName groups the pod's instances by container name, oldest
// first.
func instancesByName(cs []oci.ContainerStatus) map[string][]oci.ContainerStatus {
	out := map[string][]oci.ContainerStatus{}
	for _, c := range cs {
		out[c.Name] = append(out[c.Name], c)
	}
	for _, is := range out {
		sort.SliceStable(is, func(i, j int) bool {
			if is[i].Attempt != is[j].Attempt {
				return is[i].Attempt < is[j].Attempt
			}
			return is[i].CreatedAt.Before(is[j].CreatedAt)
		})
	}
	return out
}

// actionInput gathers what computeActions needs.
func (k *Kubelet) actionInput(r *podRecord, pod *corev1.Pod) actionInput {
	w := &r.w
	in := actionInput{
		pod:          pod,
		instances:    instancesByName(w.containers),
		unhealthy:    map[string]string{},
		lastRestarts: map[string]int{},
		backoff: func(name string, t time.Time) time.Duration {
			return w.restarts.remaining(name, t, k.now())
		},
		started: func(name, id string) bool {
			c := specOf(pod, name)
			if c == nil || c.StartupProbe == nil {
				return true
			}
			res, ok := k.probes.Result(pod.UID, name, prober.Startup, id)
			return ok && res == prober.Success
		},
	}
	old := pod.Status
	if t := r.apiTarget(); t != nil {
		old = t.Status
	}
	for _, c := range old.Conditions {
		if c.Type == corev1.PodInitialized && c.Status == corev1.ConditionTrue {
			in.initialized = true
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), old.InitContainerStatuses...), old.ContainerStatuses...) {
		if cs.ContainerID != "" {
			in.lastRestarts[cs.Name] = int(cs.RestartCount)
		}
	}
	for name, is := range in.instances {
		cur := is[len(is)-1]
		if cur.State != oci.StateRunning {
			continue
		}
		if res, ok := k.probes.Result(pod.UID, name, prober.Liveness, cur.ID); ok && res == prober.Failure {
			in.unhealthy[cur.ID] = reasonFor("liveness", name)
		}
		if res, ok := k.probes.Result(pod.UID, name, prober.Startup, cur.ID); ok && res == prober.Failure {
			in.unhealthy[cur.ID] = reasonFor("startup", name)
		}
	}
	return in
}

// updateProbes starts and stops probe workers for the running
// containers.
func (k *Kubelet) updateProbes(r *podRecord, pod *corev1.Pod) {
	w := &r.w
	prev := map[string]corev1.ContainerStatus{}
	if t := r.apiTarget(); t != nil {
		for _, cs := range append(append([]corev1.ContainerStatus(nil), t.Status.InitContainerStatuses...), t.Status.ContainerStatuses...) {
			prev[cs.ContainerID] = cs
		}
	}
	run := map[string]prober.Running{}
	for name, is := range instancesByName(w.containers) {
		cur := is[len(is)-1]
		if cur.State != oci.StateRunning {
			continue
		}
		p := prev[containerRef(cur)]
		run[name] = prober.Running{ID: cur.ID, StartedAt: cur.StartedAt, WasReady: p.Ready, WasStarted: p.Started != nil && *p.Started}
	}
	ip, ns := "", ""
	if w.podIP.IsValid() {
		ip = w.podIP.String()
	} else {
		ip = k.hostIPs()[0]
	}
	if w.sandbox != nil {
		ns = w.sandbox.NetNS
	}
	k.probes.Update(pod, ip, ns, run)
}

// updateStatus computes the pod's status and hands it to the status
// manager. terminated: the kubelet stopped the pod for good.
func (k *Kubelet) updateStatus(r *podRecord, pod *corev1.Pod, terminated bool) {
	w := &r.w
	target := r.apiTarget()
	base := pod.DeepCopy()
	old := pod.Status
	if target != nil {
		old = *target.Status.DeepCopy()
	}
	if w.computed {
		mine := *w.status.DeepCopy()
		owned := map[corev1.PodConditionType]bool{}
		for _, c := range mine.Conditions {
			owned[c.Type] = true
		}
		for _, c := range old.Conditions {
			if !owned[c.Type] {
				mine.Conditions = append(mine.Conditions, c)
			}
		}
		if terminalPhase(old.Phase) {
			mine.Phase, mine.Reason, mine.Message = old.Phase, old.Reason, old.Message
		}
		old = mine
	}
	base.Status = old
	in := status.Input{
		Pod: base, Now: metav1.NewTime(k.now()), HostIPs: k.hostIPs(),
		SandboxReady:     w.sandbox != nil && (pod.Spec.HostNetwork || w.netReady),
		DeadlineExceeded: w.deadlineExceeded, Terminated: terminated, Rejected: w.rejected,
		Containers: map[string]status.Container{}, InitContainers: map[string]status.Container{},
	}
	switch {
	case pod.Spec.HostNetwork:
		in.PodIPs = in.HostIPs
	case w.netReady:
		in.PodIPs = []string{w.podIP.String()}
	case len(old.PodIPs) > 0:
		for _, p := range old.PodIPs {
			in.PodIPs = append(in.PodIPs, p.IP)
		}
	}
	byName := instancesByName(w.containers)
	initDone := false
	for _, c := range old.Conditions {
		initDone = initDone || (c.Type == corev1.PodInitialized && c.Status == corev1.ConditionTrue)
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		in.InitContainers[c.Name] = k.observe(r, pod, c, byName[c.Name], true)
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		in.Containers[c.Name] = k.observe(r, pod, c, byName[c.Name], len(pod.Spec.InitContainers) > 0 && !initDone)
	}
	st := status.Compute(in)
	w.status, w.computed = st, true
	k.statuses.Set(r.uid, target, st)
	k.publish(r)
}

// observe turns a container's instances into the status package's view.
// blocked: app containers wait for init containers.
func (k *Kubelet) observe(r *podRecord, pod *corev1.Pod, c *corev1.Container, is []oci.ContainerStatus, blocked bool) status.Container {
	w := &r.w
	o := status.Container{Name: c.Name}
	if n := len(is); n > 0 {
		o.Current = k.instance(r, c, is[n-1])
		if n > 1 {
			o.Previous = k.instance(r, c, is[n-2])
		}
	}
	cur := o.Current
	if cur == nil || cur.State == status.StateExited || cur.State == status.StateUnknown {
		if wt, ok := w.waiting[c.Name]; ok {
			o.Waiting = &wt
		} else if cur == nil && w.podErr != "" && !blocked {
			o.Waiting = &status.Waiting{Reason: status.ReasonContainerCreating, Message: w.podErr}
		}
	}
	if cur != nil && cur.State == status.StateRunning {
		id := is[len(is)-1].ID
		o.Started = true
		if c.StartupProbe != nil {
			res, ok := k.probes.Result(pod.UID, c.Name, prober.Startup, id)
			o.Started = ok && res == prober.Success
		}
		o.Ready = true
		if c.ReadinessProbe != nil {
			res, ok := k.probes.Result(pod.UID, c.Name, prober.Readiness, id)
			o.Ready = ok && res == prober.Success
		}
	}
	return o
}

// instance converts one runtime instance.
func (k *Kubelet) instance(r *podRecord, c *corev1.Container, st oci.ContainerStatus) *status.Instance {
	in := &status.Instance{
		ContainerID: containerRef(st), Attempt: st.Attempt, ExitCode: int32(st.ExitCode),
		Reason: st.Reason, Message: st.Message, ImageID: st.Labels[labelImageID],
		StartedAt: metav1.NewTime(st.StartedAt), FinishedAt: metav1.NewTime(st.FinishedAt),
	}
	switch st.State {
	case oci.StateCreated:
		in.State = status.StateCreated
	case oci.StateRunning:
		in.State = status.StateRunning
	case oci.StateExited:
		in.State = status.StateExited
		if in.Message == "" && st.ExitCode != 0 && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
			in.Message = k.logTail(r, st.ID)
		}
	default:
		in.State = status.StateUnknown
	}
	return in
}

// logTail is the end of an exited instance's log (the termination
// message of FallbackToLogsOnError): at most 80 lines and 2048 bytes.
func (k *Kubelet) logTail(r *podRecord, id string) string {
	if m, ok := r.w.termMsgs[id]; ok {
		return m
	}
	var b bytes.Buffer
	ctx, cancel := context.WithTimeout(k.ctx, 5*time.Second)
	defer cancel()
	k.rt.Logs(ctx, id, oci.LogOptions{Tail: 80}, &b)
	s := b.String()
	if len(s) > 2048 {
		s = s[len(s)-2048:]
	}
	r.w.termMsgs[id] = s
	return s
}
