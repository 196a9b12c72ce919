package stream

import (
	"context"
	"errors"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// Errors a Pods implementation returns (wrapped or as is). They mirror
// internal/kubelet's PodLookup errors.
var (
	// ErrPodNotFound: the kubelet does not run the pod (404).
	ErrPodNotFound = errors.New("pod not found")
	// ErrContainerNotFound: the pod has no such container, or (previous)
	// no instance before the current one (404; 400 for previous).
	ErrContainerNotFound = errors.New("container not found")
	// ErrContainerNotStarted: the container was never created; the
	// message names why it waits (400).
	ErrContainerNotStarted = errors.New("container not started")
)

// Pods is what the server needs to know of the pods the kubelet runs. It
// has the shape of internal/kubelet's PodLookup, which the kubelet
// implements; the agent wiring passes it (or an adapter) in.
//
// Methods are safe for concurrent use, read the kubelet's in-memory
// state only, and return values the caller may keep.
type Pods interface {
	// GetPod returns the pod namespace/name; ok is false when no such
	// pod is on this node.
	GetPod(namespace, name string) (PodState, bool)
	// ListPods returns every pod the kubelet runs or is terminating.
	ListPods() []PodState
	// Container returns the current instance of a pod's container, or
	// with previous the one before it (kept by the runtime until the next
	// restart). An empty name picks the pod's only container. Errors:
	// ErrPodNotFound, ErrContainerNotFound, ErrContainerNotStarted.
	Container(namespace, name, container string, previous bool) (ContainerRef, error)
}

// PodState is one pod as the kubelet runs it.
type PodState struct {
	// Pod is the pod with the status the kubelet last computed; shared,
	// not to be modified.
	Pod *corev1.Pod
	// UID is the pod's UID: the pod sandbox and pod network id.
	UID types.UID
	// NetNS is the pod's pinned network namespace file; "" for a
	// hostNetwork pod or before the sandbox exists.
	NetNS       string
	HostNetwork bool
	// Containers are the current instances (init and app) the runtime
	// knows, in spec order.
	Containers []ContainerRef
}

// ContainerRef is one instance of a container in the runtime.
type ContainerRef struct {
	// Name is the container's name in the pod spec.
	Name string
	// ID is the runtime (oci) container ID.
	ID   string
	Init bool
	// Attempt is the instance's restart count.
	Attempt int
	// Running reports whether the instance ran at the last check.
	Running               bool
	StartedAt, FinishedAt time.Time
	// Stdin and TTY are the container spec's stdin and tty.
	Stdin, TTY bool
}

// Runtime is what the server needs of the container runtime;
// *oci.Runtime implements it.
type Runtime interface {
	Exec(ctx context.Context, id string, ec oci.ExecConfig) (int, error)
	AttachTTY(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error
	Logs(ctx context.Context, id string, opts oci.LogOptions, w io.Writer) error
	Status(ctx context.Context, id string) (oci.ContainerStatus, error)
	Stats(ctx context.Context, id string) (oci.Stats, error)
}

var _ Runtime = (*oci.Runtime)(nil)

// Network reads a pod's network counters; *podnet.Network implements it.
type Network interface {
	Stats(podID string) (podnet.NetStats, error)
}

var _ Network = (*podnet.Network)(nil)
