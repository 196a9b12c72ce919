// Package cache is the scheduler's in-memory view of the cluster: the
// nodes, the pods bound to them and the pods the scheduler has assumed
// onto them (decided but not yet bound), kept up to date by informer
// events, and the per-cycle Snapshot that the plugins read, copied
// incrementally (only nodes changed since the last cycle are copied).
//
// Assumed pods: the scheduling cycle assumes a pod on its chosen node
// (AssumePod) before the asynchronous binding cycle runs, so the next
// cycle already counts it. The binding cycle then either confirms it
// (the informer's add of the bound pod, AddPod) or forgets it on failure
// (ForgetPod). An assumed pod whose binding finished but whose add never
// arrives expires after the TTL.
//
// Only internal/scheduler and tests of plugins (which build snapshots
// with NewSnapshot) import it. It is safe for concurrent use; the lock
// order is Cache.mu only (the snapshot is owned by the scheduling
// goroutine and needs no lock).
package cache
