// Package queue is the scheduler's queue of pending pods, in three parts:
//
//   - the active queue, a heap ordered by the QueueSort plugin, from which
//     the scheduling goroutine pops the next pod;
//   - the back-off queue, a heap ordered by back-off expiry, holding pods
//     that failed recently and may be retried once their exponential
//     per-pod back-off (initial × 2^(attempts-1), capped) has passed;
//   - the unschedulable pool, holding pods that no node fits. A pod leaves
//     it only when a cluster event happens that one of the plugins that
//     rejected it registered for (and whose queueing hint says the event
//     may help), or after it has waited there longer than
//     MaxInUnschedulable (the periodic safety flush).
//
// Pods with scheduling gates wait in a gated set until the gates are
// removed. Events that happen while a pod is being scheduled (in flight)
// are remembered and applied when that pod fails, so a pod never misses
// the event that would have made it schedulable.
//
// Nothing polls: the back-off queue is drained by a timer set to its
// earliest expiry, and the safety flush runs every FlushInterval.
//
// Only internal/scheduler imports it.
package queue
