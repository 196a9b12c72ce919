package kubelet

import (
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PodLookup is what the kubelet's streaming and stats server (logs, exec,
// attach, port-forward, /stats/summary) needs to know about the pods this
// node runs. The Kubelet implements it; the agent wiring hands it to the
// server.
//
// Methods are safe for concurrent use, read the kubelet's in-memory state
// only (no API or runtime calls) and return copies the caller may keep.
type PodLookup interface {
	// GetPod returns the pod namespace/name as this kubelet runs it; ok is
	// false when no such pod is on this node (or it is fully gone).
	GetPod(namespace, name string) (PodState, bool)
	// ListPods returns every pod the kubelet runs or is terminating, for
	// stats. The order is unspecified.
	ListPods() []PodState
	// Container returns container name of pod namespace/name (an app,
	// init or sidecar container). With previous it returns the instance
	// before the current one (terminated; the runtime keeps it until the
	// container restarts again), as `kubectl logs --previous`.
	//
	// An empty name picks the pod's only container.
	//
	// Errors (test with errors.Is): ErrPodNotFound, ErrContainerNotFound
	// (no such container in the pod spec, no container name given for a
	// pod with several, or no previous instance), ErrContainerNotStarted
	// (the container has never been created: its message names the
	// waiting reason, e.g. ContainerCreating or ImagePullBackOff).
	Container(namespace, name, container string, previous bool) (ContainerRef, error)
}

// PodState is one pod as the kubelet runs it.
type PodState struct {
	// Pod is the pod as its source gave it, with the status the kubelet
	// last computed. It is shared: do not modify it.
	Pod *corev1.Pod
	// UID is Pod.UID, also the pod sandbox and pod network id
	// (podnet.Network.Stats(string(UID))).
	UID types.UID
	// NetNS is the pinned network namespace file of the pod (for
	// port-forward); "" for a hostNetwork pod or before the sandbox
	// exists.
	NetNS string
	// HostNetwork reports spec.hostNetwork.
	HostNetwork bool
	// Containers are the current instances of the pod's containers
	// (init and app) that the runtime knows, in spec order.
	Containers []ContainerRef
}

// ContainerRef names one instance of a container in the runtime.
type ContainerRef struct {
	// Name is the container's name in the pod spec.
	Name string
	// ID is the runtime's container ID (internal/runtime/oci: Logs, Exec,
	// Attach, Stats take it).
	ID string
	// Init reports an init container (sidecars included).
	Init bool
	// Attempt is the instance's restart count.
	Attempt int
	// Running reports whether the instance ran at the last check.
	Running bool
	// StartedAt and FinishedAt are the instance's start and exit times
	// (zero when not started or not exited).
	StartedAt, FinishedAt time.Time
	// Stdin and TTY are the container spec's stdin and tty (attach).
	Stdin, TTY bool
}

// Errors returned by PodLookup.
var (
	// ErrPodNotFound: no such pod runs on this node.
	ErrPodNotFound = errors.New("pod not found")
	// ErrContainerNotFound: no such container (or previous instance).
	ErrContainerNotFound = errors.New("container not found")
	// ErrContainerNotStarted: the container has not been created yet.
	ErrContainerNotStarted = errors.New("container not started")
)
