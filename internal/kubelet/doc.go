// Package kubelet is the node agent's pod manager: it registers the Node,
// renews its Lease, merges the pods bound to this node (API server, static
// manifest directory, manifest URL) into one desired set, and runs one
// worker per pod that reconciles what runs (pod sandbox and network,
// volumes, images, init containers, containers, probes, hooks, graceful
// termination) with what the pod asks for, reporting status and Events
// through the API.
//
// The runtime plumbing lives below it: internal/kubelet/image (images and
// snapshots), internal/kubelet/podsandbox (namespaces), internal/kubelet/podnet
// (pod network) and internal/runtime/oci (containers through runc or
// visor). Its own sub-packages: status (pod status computation and the
// status manager), prober (liveness, readiness and startup probes) and
// volume (volume set-up).
//
// The streaming and stats server reads pod state through PodLookup.
//
// Only the agent wiring (internal/agent), tests and benchmarks import this
// package.
package kubelet
