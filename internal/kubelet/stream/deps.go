package stream

import (
	"context"
	"io"

	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// The kubelet's pod state, as the server reads it: the kubelet's
// PodLookup (its pod manager implements it; the agent wiring passes it
// in). See internal/kubelet for the contracts.
type (
	// Pods answers which pods run and which runtime container is a pod's
	// container now and before its last restart.
	Pods = kubelet.PodLookup
	// PodState is one pod as the kubelet runs it.
	PodState = kubelet.PodState
	// ContainerRef is one instance of a container in the runtime.
	ContainerRef = kubelet.ContainerRef
)

// Errors of Pods, mapped to Statuses: ErrPodNotFound is 404,
// ErrContainerNotFound 404 (400 for a previous instance),
// ErrContainerNotStarted 400 naming why the container waits.
var (
	ErrPodNotFound         = kubelet.ErrPodNotFound
	ErrContainerNotFound   = kubelet.ErrContainerNotFound
	ErrContainerNotStarted = kubelet.ErrContainerNotStarted
)

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
