// Package scheduler is podvisor's pod scheduler: an API client that
// watches pods without a node, decides where each should run, and binds
// it through the pods/binding subresource.
//
// Pieces (see the subpackages): a scheduling queue (queue), a cache of
// nodes and of bound and assumed pods with a per-cycle snapshot (cache),
// the plugin framework (framework) and the in-tree plugins (plugins). This
// package wires them to client-go informers, runs the scheduling loop, and
// writes outcomes back: the binding, Scheduled and FailedScheduling events,
// the PodScheduled condition and status.nominatedNodeName.
//
// One scheduling cycle, on the scheduling goroutine, for one pod popped
// from the queue: refresh the snapshot; PreFilter; Filter over the nodes
// (in parallel; see numFeasibleNodesToFind for how many are enough);
// PostFilter (preemption) if none fits; PreScore, Score, NormalizeScore and
// weights over the feasible nodes; pick the best node (ties broken by the
// seeded random generator); assume the pod in the cache; Reserve; Permit.
// The binding cycle then runs on its own goroutine: wait for Permit,
// PreBind, Bind, PostBind; on failure Unreserve, forget the assumed pod
// and requeue it.
//
// Leader election on a Lease (kube-system/kube-scheduler by default) lets
// several servers run a scheduler: only the leader schedules, the others
// keep their caches warm.
//
// Only the server wiring (internal/server), benchmarks and tests import
// it.
package scheduler
