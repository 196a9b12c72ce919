// Package framework is the scheduler's plugin framework: the interfaces a
// plugin implements for each extension point (queue sort, pre-filter,
// filter, post-filter, pre-score, score, reserve, permit, pre-bind, bind,
// post-bind, and queueing hints), the Status a plugin returns, the
// CycleState plugins share within one scheduling cycle, the NodeInfo and
// PodInfo views of the cluster they decide over, the Handle through which
// they reach the rest of the scheduler, and the Framework runner that calls
// them in order.
//
// It imports no plugin: plugins (internal/scheduler/plugins/<p>) import it,
// and internal/scheduler wires both together. Only the scheduler and its
// plugins import it.
//
// Concurrency: Filter and Score plugins are called concurrently for
// different nodes of one cycle and must not write to the CycleState there;
// every other extension point is called from one goroutine at a time.
// NodeInfo and PodInfo values handed to plugins belong to the cycle's
// snapshot and must be treated as read-only unless a plugin cloned them.
package framework
