// Package podstate answers the questions workload controllers ask about a
// pod's status: is it active, ready, available, finished; and which of a
// set of pods a controller should delete first when it scales down. It is
// pure (no I/O); controllers under internal/controller import it.
package podstate

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// IsActive reports whether pod counts towards its controller's replicas:
// not finished (Succeeded or Failed) and not being deleted.
func IsActive(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed &&
		pod.DeletionTimestamp == nil
}

// IsTerminal reports whether pod has finished: phase Succeeded or Failed.
func IsTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// Condition returns pod's condition of type t, or nil.
func Condition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// IsReady reports whether pod's Ready condition is True.
func IsReady(pod *corev1.Pod) bool {
	c := Condition(pod, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsAvailable reports whether pod has been ready for at least
// minReadySeconds at now.
func IsAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !IsReady(pod) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := Condition(pod, corev1.PodReady)
	if c.LastTransitionTime.IsZero() {
		return false
	}
	return !c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).After(now)
}

// AvailableIn returns how long until a ready pod becomes available given
// minReadySeconds, or 0 if it is available or not ready (nothing to wait
// for). Controllers requeue after it so availability needs no polling.
func AvailableIn(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if minReadySeconds == 0 || !IsReady(pod) {
		return 0
	}
	c := Condition(pod, corev1.PodReady)
	if c.LastTransitionTime.IsZero() {
		return 0
	}
	d := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
	if d <= 0 {
		return 0
	}
	return d
}

// Restarts returns the highest restart count among pod's containers.
func Restarts(pod *corev1.Pod) int32 {
	var n int32
	for _, s := range pod.Status.ContainerStatuses {
		n = max(n, s.RestartCount)
	}
	return n
}

// DeletionCost returns pod's controller.kubernetes.io/pod-deletion-cost
// annotation, 0 when absent or not an int32.
func DeletionCost(pod *corev1.Pod) int32 {
	v, ok := pod.Annotations[corev1.PodDeletionCost]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// SortForDeletion orders pods so that the ones a controller should delete
// first come first, as Kubernetes does:
//
//  1. not yet scheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. lower pod-deletion-cost annotation first;
//  5. higher rank first (ranks[i] is pod i's rank: the ReplicaSet
//     controller passes the number of related pods on the same node, so
//     doubled-up pods go first);
//  6. ready for a shorter time first;
//  7. more container restarts first;
//  8. created more recently first.
//
// Times in 6 and 8 are compared on a log2 scale of their age at now, so
// pods of about the same age tie and fall through to the next rule (and
// finally to their UID), which spreads deletions instead of always
// removing the newest. ranks may be nil (all equal).
func SortForDeletion(pods []*corev1.Pod, ranks []int, now time.Time) {
	if ranks == nil {
		ranks = make([]int, len(pods))
	}
	sort.Sort(&byDeletion{pods: pods, ranks: ranks, now: now})
}

type byDeletion struct {
	pods  []*corev1.Pod
	ranks []int
	now   time.Time
}

func (s *byDeletion) Len() int { return len(s.pods) }
func (s *byDeletion) Swap(i, j int) {
	s.pods[i], s.pods[j] = s.pods[j], s.pods[i]
	s.ranks[i], s.ranks[j] = s.ranks[j], s.ranks[i]
}

func (s *byDeletion) Less(i, j int) bool {
	a, b := s.pods[i], s.pods[j]
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrder[a.Status.Phase], phaseOrder[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := IsReady(a), IsReady(b); ra != rb {
		return !ra
	}
	if ca, cb := DeletionCost(a), DeletionCost(b); ca != cb {
		return ca < cb
	}
	if s.ranks[i] != s.ranks[j] {
		return s.ranks[i] > s.ranks[j]
	}
	if IsReady(a) && IsReady(b) {
		ta, tb := readySince(a), readySince(b)
		if !ta.Equal(tb) {
			la, lb := logAge(ta, s.now), logAge(tb, s.now)
			if la != lb {
				return la < lb
			}
		}
	}
	if ra, rb := Restarts(a), Restarts(b); ra != rb {
		return ra > rb
	}
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		la, lb := logAge(ta, s.now), logAge(tb, s.now)
		if la != lb {
			return la < lb
		}
	}
	return a.UID < b.UID
}

func readySince(pod *corev1.Pod) time.Time {
	if c := Condition(pod, corev1.PodReady); c != nil {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// logAge buckets the age of t at now: ages within a factor of two of each
// other share a bucket. Younger is smaller; a zero t (never) is oldest
// unknown, treated as age now (bucket by now's age since zero), which puts
// it last among equals.
func logAge(t, now time.Time) int {
	if t.IsZero() {
		return math.MaxInt
	}
	age := now.Sub(t)
	if age < time.Second {
		return 0
	}
	return int(math.Floor(math.Log2(age.Seconds()))) + 1
}
