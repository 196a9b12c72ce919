package stream

import (
	"context"
	"errors"
	"io"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// Errors a Pods implementation returns (wrapped or as is); the server
// answers them with 404.
var (
	// ErrPodNotFound: the kubelet does not run the pod.
	ErrPodNotFound = errors.New("pod not found")
	// ErrContainerNotFound: the pod has no such container, or (previous)
	// no instance before the current one.
	ErrContainerNotFound = errors.New("container not found")
)

// ContainerRef names one instance of a pod's container in the runtime.
type ContainerRef struct {
	// ID is the runtime (oci) container ID. It may be "" for a previous
	// instance whose container was removed but whose log was kept.
	ID string
	// LogPath is the instance's CRI log file (the ContainerConfig's
	// Log.Path); used when ID is "".
	LogPath string
}

// Pods is the kubelet's view of the pods it runs, implemented by its pod
// manager. The server calls it from many goroutines at once: every method
// must be safe for concurrent use and must not block on I/O.
type Pods interface {
	// GetPods returns the pods the kubelet runs now, from every source
	// (API server, static manifests, URL), with their current status
	// (status.startTime is used by stats). Callers do not modify them.
	GetPods() []*corev1.Pod
	// Container returns the runtime container of the named container of
	// pod namespace/name: the current instance, or with previous the one
	// before the last restart (kept until the next restart, as `kubectl
	// logs --previous` needs). Init and ephemeral containers count.
	// Errors: ErrPodNotFound, ErrContainerNotFound (wrapped or not).
	Container(namespace, pod, container string, previous bool) (ContainerRef, error)
	// NetNS returns the path of the pod's pinned network namespace (the
	// podsandbox's Sandbox.NetNS), or "" for a hostNetwork pod.
	// Errors: ErrPodNotFound when the pod, or its sandbox, does not exist.
	NetNS(namespace, pod string) (string, error)
}

// Runtime is what the server needs of the container runtime;
// *oci.Runtime implements it.
type Runtime interface {
	Exec(ctx context.Context, id string, ec oci.ExecConfig) (int, error)
	AttachTTY(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error
	Logs(ctx context.Context, id string, opts oci.LogOptions, w io.Writer) error
	Status(ctx context.Context, id string) (oci.ContainerStatus, error)
	List(ctx context.Context) ([]oci.ContainerStatus, error)
	Stats(ctx context.Context, id string) (oci.Stats, error)
}

var _ Runtime = (*oci.Runtime)(nil)

// Network reads a pod's network counters; *podnet.Network implements it.
type Network interface {
	Stats(podID string) (podnet.NetStats, error)
}

var _ Network = (*podnet.Network)(nil)
