package kubelet

import (
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// Runtime runs containers; *oci.Runtime implements it. Methods are
// called concurrently for different containers.
type Runtime interface {
	CreateContainer(ctx context.Context, sb oci.PodSandbox, cfg oci.ContainerConfig) (string, error)
	Start(ctx context.Context, id string) error
	Status(ctx context.Context, id string) (oci.ContainerStatus, error)
	List(ctx context.Context) ([]oci.ContainerStatus, error)
	Stop(ctx context.Context, id string, grace time.Duration) error
	Remove(ctx context.Context, id string) error
	Exec(ctx context.Context, id string, ec oci.ExecConfig) (int, error)
	Logs(ctx context.Context, id string, opts oci.LogOptions, w io.Writer) error
}

var _ Runtime = (*oci.Runtime)(nil)

// Images stores images and makes container snapshots; *image.Store
// implements it.
type Images interface {
	Get(ref string) (image.Image, error)
	Pull(ctx context.Context, ref string, opts image.PullOptions) (image.Image, error)
	Config(ref string) (image.ImageConfig, error)
	Prepare(key, ref string) (image.Snapshot, error)
	RemoveSnapshot(key string) error
	Snapshots() ([]image.Snapshot, error)
	List() ([]image.Image, error)
	GC(p image.GCPolicy) (image.GCResult, error)
}

var _ Images = (*image.Store)(nil)

// Sandboxes makes pod sandboxes; *podsandbox.Manager implements it.
type Sandboxes interface {
	Create(id string, o podsandbox.Options) (*podsandbox.Sandbox, error)
	Get(id string) (*podsandbox.Sandbox, error)
	List() ([]string, error)
	Remove(id string) error
}

var _ Sandboxes = (*podsandbox.Manager)(nil)

// Network is the node's pod network. NewPodNetwork adapts a
// *podnet.Network.
type Network interface {
	// Init prepares the node (bridge, forwarding, nftables).
	Init() error
	// Setup connects a pod (idempotent; a retry keeps its address).
	Setup(podID, netnsPath string, ports []podnet.PortMapping) (podnet.Result, error)
	// Lookup returns the address of a pod whose network is set up (after
	// an agent restart: its address is allocated and its veth exists).
	Lookup(podID string) (netip.Addr, bool)
	// Teardown disconnects a pod and frees its address (idempotent).
	Teardown(podID, netnsPath string) error
	// Owners lists the pods holding addresses (orphans are torn down).
	Owners() ([]string, error)
}

// NetworkFactory makes the pod network once the node's pod CIDR is known
// (spec.podCIDR from the node controller, or Config.PodCIDR).
type NetworkFactory func(podCIDR netip.Prefix) (Network, error)
