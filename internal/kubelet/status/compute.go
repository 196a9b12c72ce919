package status

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Waiting reasons the kubelet reports, as Kubernetes spells them.
const (
	ReasonContainerCreating          = "ContainerCreating"
	ReasonPodInitializing            = "PodInitializing"
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonImagePullBackOff           = "ImagePullBackOff"
	ReasonErrImagePull               = "ErrImagePull"
	ReasonErrImageNeverPull          = "ErrImageNeverPull"
	ReasonInvalidImageName           = "InvalidImageName"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonCreateContainerError       = "CreateContainerError"
	ReasonRunContainerError          = "RunContainerError"
	ReasonPostStartHookError         = "PostStartHookError"
)

// Termination reasons and pod reasons.
const (
	ReasonCompleted              = "Completed"
	ReasonError                  = "Error"
	ReasonOOMKilled              = "OOMKilled"
	ReasonStartError             = "StartError"
	ReasonContainerStatusUnknown = "ContainerStatusUnknown"
	// ReasonDeadlineExceeded is the pod's reason when activeDeadlineSeconds
	// passed.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// Condition reasons.
	ReasonContainersNotInitialized = "ContainersNotInitialized"
	ReasonContainersNotReady       = "ContainersNotReady"
	ReasonPodCompleted             = "PodCompleted"
	ReasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
)

// State is an observed container instance's life-cycle state.
type State int

// Instance states.
const (
	// StateCreated: created by the runtime, not started yet.
	StateCreated State = iota
	// StateRunning: its process runs.
	StateRunning
	// StateExited: it ran and exited (or never started: StartError).
	StateExited
	// StateUnknown: the runtime lost it without recording an exit.
	StateUnknown
)

// Instance is one run of a container, as the runtime reports it.
type Instance struct {
	// ContainerID is the status's containerID, "<runtime>://<id>".
	ContainerID string
	// Attempt is its restart count (0 for the first run).
	Attempt    int
	State      State
	ExitCode   int32
	Reason     string
	Message    string
	StartedAt  metav1.Time
	FinishedAt metav1.Time
	// ImageID is the image it runs, as the status reports it.
	ImageID string
}

// Waiting is a reason a container does not run now, decided by the
// kubelet (back-off, pull and configuration errors).
type Waiting struct {
	Reason  string
	Message string
}

// Container is what the kubelet observed of one container of the spec.
type Container struct {
	Name string
	// Current is the latest instance; nil if none was ever created.
	Current *Instance
	// Previous is the instance before Current; nil if none.
	Previous *Instance
	// Waiting overrides the state when set (the container is to be
	// (re)started but cannot be yet).
	Waiting *Waiting
	// Ready is the readiness probe's verdict (true when the container has
	// no readiness probe); it only counts while Current runs.
	Ready bool
	// Started is the startup probe's verdict (true when the container has
	// none); it only counts while Current runs.
	Started bool
}

// Input is everything Compute needs.
type Input struct {
	Pod *corev1.Pod
	// Now stamps new transitions.
	Now metav1.Time
	// HostIPs and PodIPs are the node's and the pod's addresses (primary
	// first); a hostNetwork pod's PodIPs are the HostIPs.
	HostIPs, PodIPs []string
	// SandboxReady: the pod's namespaces and network are set up.
	SandboxReady bool
	// Containers and InitContainers, by name; a missing entry means
	// nothing was observed.
	Containers, InitContainers map[string]Container
	// DeadlineExceeded: activeDeadlineSeconds passed; the pod is Failed.
	DeadlineExceeded bool
	// Terminated: the kubelet stopped every container for good (the pod
	// was deleted or its deadline passed); the phase becomes terminal.
	Terminated bool
	// Rejected, when set, fails the pod at admission with this reason
	// and message (e.g. an unsupported runtime class).
	Rejected *Waiting
}

// IsSidecar reports whether an init container is a sidecar
// (restartPolicy Always): it starts in order and then keeps running.
func IsSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// Compute returns the pod's status from in. Fields the kubelet does not
// own (nominatedNodeName, qosClass, resize, conditions of other writers)
// are kept from in.Pod.Status, and condition transition times are kept
// while a condition's status does not change.
func Compute(in Input) corev1.PodStatus {
	pod := in.Pod
	old := pod.Status
	st := corev1.PodStatus{
		ObservedGeneration: pod.Generation,
		NominatedNodeName:  old.NominatedNodeName,
		QOSClass:           old.QOSClass,
		Resize:             old.Resize,
		Message:            old.Message,
		Reason:             old.Reason,
		StartTime:          old.StartTime,
	}
	if st.StartTime == nil {
		t := in.Now
		st.StartTime = &t
	}
	for i, ip := range in.HostIPs {
		if i == 0 {
			st.HostIP = ip
		}
		st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: ip})
	}
	for i, ip := range in.PodIPs {
		if i == 0 {
			st.PodIP = ip
		}
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
	}
	oldInit := byName(old.InitContainerStatuses)
	oldApp := byName(old.ContainerStatuses)
	initDone := initialized(pod, in.InitContainers)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st.InitContainerStatuses = append(st.InitContainerStatuses, containerStatus(c, in.InitContainers[c.Name], oldInit[c.Name], ReasonPodInitializing, true))
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		pending := ReasonContainerCreating
		if !initDone {
			pending = ReasonPodInitializing
		}
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(c, in.Containers[c.Name], oldApp[c.Name], pending, false))
	}
	st.Phase = phase(pod, st.InitContainerStatuses, st.ContainerStatuses, in.Terminated)
	switch {
	case in.Rejected != nil:
		st.Phase, st.Reason, st.Message = corev1.PodFailed, in.Rejected.Reason, in.Rejected.Message
	case in.DeadlineExceeded:
		st.Phase, st.Reason = corev1.PodFailed, ReasonDeadlineExceeded
		st.Message = "Pod was active on the node longer than the specified deadline"
	}
	// A terminal phase is final (the API refuses to leave it).
	if old.Phase == corev1.PodSucceeded || old.Phase == corev1.PodFailed {
		st.Phase = old.Phase
		st.Reason, st.Message = old.Reason, old.Message
	}
	st.Conditions = conditions(in, &st, initDone, old.Conditions)
	return st
}

func byName(ss []corev1.ContainerStatus) map[string]*corev1.ContainerStatus {
	m := make(map[string]*corev1.ContainerStatus, len(ss))
	for i := range ss {
		m[ss[i].Name] = &ss[i]
	}
	return m
}

// initialized reports whether every init container completed (sidecars:
// started and passed their startup probe). Once the pod was initialized
// it stays so: a sidecar restarting later does not undo it.
func initialized(pod *corev1.Pod, obs map[string]Container) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodInitialized && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		o := obs[c.Name]
		if IsSidecar(c) {
			if o.Current == nil || o.Current.State != StateRunning || !o.Started {
				return false
			}
			continue
		}
		if !completed(o) {
			return false
		}
	}
	return true
}

// completed reports whether a (non-sidecar) init container's latest run
// succeeded.
func completed(o Container) bool {
	if o.Current == nil {
		return false
	}
	return o.Current.State == StateExited && o.Current.ExitCode == 0
}

// terminated turns an instance that ended into a terminated state.
func terminated(in *Instance) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode: in.ExitCode, Reason: in.Reason, Message: in.Message,
		StartedAt: in.StartedAt, FinishedAt: in.FinishedAt, ContainerID: in.ContainerID,
	}
	if in.State == StateUnknown {
		t.ExitCode = 137
		t.Reason = ReasonContainerStatusUnknown
		if t.Message == "" {
			t.Message = "The container could not be located when the pod was terminated"
		}
	}
	if t.Reason == "" {
		if t.ExitCode == 0 {
			t.Reason = ReasonCompleted
		} else {
			t.Reason = ReasonError
		}
	}
	return t
}

func ended(in *Instance) bool {
	return in != nil && (in.State == StateExited || in.State == StateUnknown)
}

// containerStatus builds one container's status. pending is the waiting
// reason before its first instance exists.
func containerStatus(c *corev1.Container, o Container, old *corev1.ContainerStatus, pending string, init bool) corev1.ContainerStatus {
	s := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(bool)}
	cur := o.Current
	if cur != nil {
		s.RestartCount = int32(cur.Attempt)
		s.ContainerID = cur.ContainerID
		s.ImageID = cur.ImageID
	}
	if ended(o.Previous) {
		s.LastTerminationState.Terminated = terminated(o.Previous)
	}
	switch {
	case o.Waiting != nil:
		if ended(cur) {
			s.LastTerminationState = corev1.ContainerState{Terminated: terminated(cur)}
		}
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: o.Waiting.Reason, Message: o.Waiting.Message}
	case cur == nil:
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: pending}
		// Keep what an earlier kubelet reported (e.g. before the node's
		// runtime state was lost): never lose a restart count.
		if old != nil {
			s.RestartCount = old.RestartCount
			s.LastTerminationState = old.LastTerminationState
		}
	case cur.State == StateCreated:
		s.State.Waiting = &corev1.ContainerStateWaiting{Reason: ReasonContainerCreating}
	case cur.State == StateRunning:
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: cur.StartedAt}
		*s.Started = o.Started
		s.Ready = o.Ready && o.Started
	default:
		s.State.Terminated = terminated(cur)
	}
	if init && !IsSidecar(c) {
		// A plain init container is ready once it completed, as Kubernetes
		// reports it.
		s.Ready = s.State.Terminated != nil && s.State.Terminated.ExitCode == 0
	}
	return s
}

// phase computes the pod phase from container statuses, following
// Kubernetes' rules: init containers must complete first (a failed one
// fails the pod only with restartPolicy Never), then Running while any
// app container runs, and Succeeded/Failed once every app container has
// terminated and none will be restarted.
func phase(pod *corev1.Pod, inits, apps []corev1.ContainerStatus, terminated bool) corev1.PodPhase {
	pendingInit, failedInit := 0, 0
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		s := inits[i]
		if IsSidecar(c) {
			if s.Started == nil || !*s.Started {
				pendingInit++
			}
			continue
		}
		switch {
		case s.State.Running != nil:
			pendingInit++
		case s.State.Terminated != nil:
			if s.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
			if s.LastTerminationState.Terminated.ExitCode != 0 {
				failedInit++
			}
		default:
			pendingInit++
		}
	}
	var running, waiting, stopped, succeeded int
	for _, s := range apps {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	if failedInit > 0 && (pod.Spec.RestartPolicy == corev1.RestartPolicyNever || terminated) {
		return corev1.PodFailed
	}
	if terminated {
		// The kubelet stopped everything for good.
		if running == 0 && waiting == 0 && stopped > 0 && stopped == succeeded && failedInit == 0 && pendingInit == 0 {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	switch {
	case pendingInit > 0 && running == 0:
		return corev1.PodPending
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0 && stopped == len(apps):
		if pod.Spec.RestartPolicy == corev1.RestartPolicyAlways {
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// conditions computes the kubelet's pod conditions, keeping other
// writers' conditions (PodScheduled, readiness gates, DisruptionTarget)
// and unchanged transition times.
func conditions(in Input, st *corev1.PodStatus, initDone bool, old []corev1.PodCondition) []corev1.PodCondition {
	pod := in.Pod
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	mk := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
			reason, msg = "", ""
		}
		return corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: pod.Generation}
	}
	var out []corev1.PodCondition
	// PodReadyToStartContainers: namespaces and network exist.
	out = append(out, mk(corev1.PodReadyToStartContainers, in.SandboxReady && !terminal, "", ""))

	var notInit []string
	for _, s := range st.InitContainerStatuses {
		if !s.Ready && !(s.Started != nil && *s.Started) {
			notInit = append(notInit, s.Name)
		}
	}
	initC := mk(corev1.PodInitialized, initDone, ReasonContainersNotInitialized, fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(notInit, " ")))
	if terminal && len(pod.Spec.InitContainers) > 0 && !initDone {
		initC = mk(corev1.PodInitialized, false, ReasonPodCompleted, "")
	}
	if len(pod.Spec.InitContainers) == 0 {
		initC = mk(corev1.PodInitialized, true, "", "")
	}
	out = append(out, initC)

	var unready []string
	for _, s := range st.ContainerStatuses {
		if !s.Ready {
			unready = append(unready, s.Name)
		}
	}
	for i, s := range st.InitContainerStatuses {
		if IsSidecar(&pod.Spec.InitContainers[i]) && !s.Ready {
			unready = append(unready, s.Name)
		}
	}
	var cr corev1.PodCondition
	switch {
	case terminal:
		cr = mk(corev1.ContainersReady, false, ReasonPodCompleted, "")
	case !initDone && len(unready) == 0:
		cr = mk(corev1.ContainersReady, false, ReasonContainersNotInitialized, "containers with incomplete status: ["+strings.Join(notInit, " ")+"]")
	default:
		cr = mk(corev1.ContainersReady, len(unready) == 0, ReasonContainersNotReady, fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " ")))
	}
	out = append(out, cr)

	ready := cr
	ready.Type = corev1.PodReady
	if cr.Status == corev1.ConditionTrue {
		var gates []string
		for _, g := range pod.Spec.ReadinessGates {
			ok := false
			for _, c := range old {
				if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
					ok = true
				}
			}
			if !ok {
				gates = append(gates, string(g.ConditionType))
			}
		}
		if len(gates) > 0 {
			ready = mk(corev1.PodReady, false, ReasonReadinessGatesNotReady, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", gates[0]))
			if len(gates) > 1 {
				ready.Message = fmt.Sprintf("the status of pod readiness gates are not \"True\": %v", gates)
			}
		}
	}
	out = append(out, ready)

	mine := map[corev1.PodConditionType]bool{}
	for _, c := range out {
		mine[c.Type] = true
	}
	// PodScheduled is the scheduler's, but a pod on this node is
	// scheduled (static pods and pods bound by hand have none).
	hasScheduled := false
	for _, c := range old {
		if c.Type == corev1.PodScheduled {
			hasScheduled = true
		}
	}
	if !hasScheduled {
		out = append(out, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
	}
	prev := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range old {
		prev[c.Type] = c
		if !mine[c.Type] {
			out = append(out, c)
		}
	}
	for i := range out {
		c := &out[i]
		if p, ok := prev[c.Type]; ok && p.Status == c.Status && !p.LastTransitionTime.IsZero() {
			c.LastTransitionTime = p.LastTransitionTime
		} else if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = in.Now
		}
	}
	order := map[corev1.PodConditionType]int{
		corev1.PodReadyToStartContainers: 0, corev1.PodInitialized: 1, corev1.PodReady: 2,
		corev1.ContainersReady: 3, corev1.PodScheduled: 4,
	}
	sort.SliceStable(out, func(i, j int) bool {
		oi, iok := order[out[i].Type]
		oj, jok := order[out[j].Type]
		if !iok {
			oi = 10
		}
		if !jok {
			oj = 10
		}
		return oi < oj
	})
	return out
}
