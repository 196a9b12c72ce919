package kubelet

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/kubelet/status"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// Container labels the kubelet keeps with each container in the runtime.
const (
	labelInit     = "io.podvisor.container.init"
	labelImage    = "io.podvisor.container.image"
	labelImageID  = "io.podvisor.image.id"
	labelSnapshot = "io.podvisor.snapshot"
	labelGrace    = "io.podvisor.pod.grace"
)

// startAction starts a container (a new instance).
type startAction struct {
	c       *corev1.Container
	init    bool
	attempt int
	// replace is an instance to remove first (created but never started,
	// e.g. the agent died between create and start).
	replace string
}

// killAction stops a running instance.
type killAction struct {
	id, name string
	// reason is the Killing event's message.
	reason string
}

// actions is what one sync should do to a pod's containers.
type actions struct {
	start []startAction
	kill  []killAction
	// backoff: containers waiting to be restarted, and for how long.
	backoff map[string]time.Duration
	// initFailed: an init container failed and will not be retried
	// (restartPolicy Never): the pod has failed.
	initFailed bool
	// complete: every app container has terminated and none will be
	// restarted: the pod is done (its sidecars are to be stopped).
	complete bool
}

// actionInput is what computeActions decides from.
type actionInput struct {
	pod *corev1.Pod
	// instances of each container name, oldest first.
	instances map[string][]oci.ContainerStatus
	// unhealthy maps running instance IDs that failed their liveness or
	// startup probe to the kill reason.
	unhealthy map[string]string
	// started reports whether a running instance passed its startup
	// probe (or has none).
	started func(name, id string) bool
	// backoff returns how long a container whose last instance finished
	// at t must still wait before a restart (0: restart now).
	backoff func(name string, t time.Time) time.Duration
	// initialized: the pod completed its init containers before (their
	// instances may be gone); they are not run again.
	initialized bool
	// lastRestarts is each container's restart count from the previous
	// status, for containers the runtime no longer knows.
	lastRestarts map[string]int
}

func (in *actionInput) current(name string) *oci.ContainerStatus {
	is := in.instances[name]
	if len(is) == 0 {
		return nil
	}
	return &is[len(is)-1]
}

// nextAttempt is the attempt number of a new instance of name.
func (in *actionInput) nextAttempt(name string) int {
	if c := in.current(name); c != nil {
		if c.State == oci.StateCreated {
			return c.Attempt
		}
		return c.Attempt + 1
	}
	if n, ok := in.lastRestarts[name]; ok {
		return n + 1
	}
	return 0
}

// shouldRestart applies a restart policy to an exited instance.
func shouldRestart(policy corev1.RestartPolicy, exitCode int) bool {
	switch policy {
	case corev1.RestartPolicyAlways:
		return true
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}

func containerPolicy(pod *corev1.Pod, c *corev1.Container) corev1.RestartPolicy {
	if c.RestartPolicy != nil {
		return corev1.RestartPolicy(*c.RestartPolicy)
	}
	return pod.Spec.RestartPolicy
}

// computeActions decides, from the pod spec and what runs, what to start
// and kill. It is pure: the caller executes the result and calls it
// again at the next sync. Rules, as Kubernetes applies them:
//   - init containers run one at a time in order; each must exit 0 before
//     the next starts (a failure is retried with back-off unless the
//     restartPolicy is Never, which fails the pod); sidecars (init
//     containers with restartPolicy Always) start in order, must be
//     running and started before the next init container, and are
//     restarted whenever they exit;
//   - app containers start once initialization is done, are restarted
//     per the pod's restartPolicy with exponential back-off, and are
//     killed (then restarted) when their liveness or startup probe fails
//     or their image changes;
//   - an instance created but never started is replaced.
func computeActions(in actionInput) actions {
	pod := in.pod
	a := actions{backoff: map[string]time.Duration{}}
	restartOrWait := func(c *corev1.Container, init bool, cur *oci.ContainerStatus) {
		if d := in.backoff(c.Name, cur.FinishedAt); d > 0 {
			a.backoff[c.Name] = d
			return
		}
		a.start = append(a.start, startAction{c: c, init: init, attempt: in.nextAttempt(c.Name)})
	}
	// checkRunning queues a kill for a running instance that must go.
	checkRunning := func(c *corev1.Container, cur *oci.ContainerStatus) bool {
		if why, bad := in.unhealthy[cur.ID]; bad {
			a.kill = append(a.kill, killAction{id: cur.ID, name: c.Name, reason: why})
			return false
		}
		if img, ok := cur.Labels[labelImage]; ok && img != c.Image {
			a.kill = append(a.kill, killAction{id: cur.ID, name: c.Name, reason: "Container " + c.Name + " definition changed, will be restarted"})
			return false
		}
		return true
	}

	initDone := true
	appStarted := false
	for i := range pod.Spec.Containers {
		if in.current(pod.Spec.Containers[i].Name) != nil {
			appStarted = true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cur := in.current(c.Name)
		if status.IsSidecar(c) {
			switch {
			case cur == nil:
				a.start = append(a.start, startAction{c: c, init: true, attempt: in.nextAttempt(c.Name)})
				initDone = false
			case cur.State == oci.StateCreated:
				a.start = append(a.start, startAction{c: c, init: true, attempt: cur.Attempt, replace: cur.ID})
				initDone = false
			case cur.State == oci.StateRunning:
				if !checkRunning(c, cur) || !in.started(c.Name, cur.ID) {
					initDone = false
				}
			default:
				restartOrWait(c, true, cur)
				if !appStarted && !in.initialized {
					initDone = false
				}
			}
			if !initDone {
				break
			}
			continue
		}
		if in.initialized || appStarted {
			continue
		}
		switch {
		case cur == nil:
			a.start = append(a.start, startAction{c: c, init: true, attempt: in.nextAttempt(c.Name)})
			initDone = false
		case cur.State == oci.StateCreated:
			a.start = append(a.start, startAction{c: c, init: true, attempt: cur.Attempt, replace: cur.ID})
			initDone = false
		case cur.State == oci.StateRunning:
			initDone = false
		case cur.ExitCode == 0 && cur.State == oci.StateExited:
			continue
		default:
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				a.initFailed = true
			} else {
				restartOrWait(c, true, cur)
			}
			initDone = false
		}
		if !initDone {
			break
		}
	}
	if a.initFailed {
		a.complete = true
		a.start = nil
		return a
	}
	if !initDone {
		return a
	}

	done := len(pod.Spec.Containers) > 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur := in.current(c.Name)
		switch {
		case cur == nil:
			a.start = append(a.start, startAction{c: c, attempt: in.nextAttempt(c.Name)})
			done = false
		case cur.State == oci.StateCreated:
			a.start = append(a.start, startAction{c: c, attempt: cur.Attempt, replace: cur.ID})
			done = false
		case cur.State == oci.StateRunning:
			checkRunning(c, cur)
			done = false
		default:
			if shouldRestart(pod.Spec.RestartPolicy, cur.ExitCode) || cur.State == oci.StateUnknown && pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
				restartOrWait(c, false, cur)
				done = false
			}
		}
	}
	if done {
		a.complete = true
		// Sidecars are not restarted once the pod is done.
		kept := a.start[:0]
		for _, s := range a.start {
			if !s.init {
				kept = append(kept, s)
			}
		}
		a.start = kept
		for name := range a.backoff {
			delete(a.backoff, name)
		}
	}
	return a
}
