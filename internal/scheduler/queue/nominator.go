package queue

import (
	"sync"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Nominator remembers which pending pods preemption nominated to which
// node, so that other pods of lower priority do not take the room freed
// for them. It implements framework.PodNominator and is safe for
// concurrent use.
type Nominator struct {
	// count is the number of nominations, read without the lock by the
	// Filter fast path (usually zero).
	count atomic.Int64

	mu sync.RWMutex
	// +checklocks:mu
	byNode map[string][]*framework.PodInfo
	// +checklocks:mu
	nodeOf map[types.UID]string
}

var _ framework.PodNominator = (*Nominator)(nil)

// NewNominator returns an empty nominator.
func NewNominator() *Nominator {
	return &Nominator{byNode: map[string][]*framework.PodInfo{}, nodeOf: map[types.UID]string{}}
}

// AddNominatedPod implements framework.PodNominator. An empty nodeName
// uses the pod's status.nominatedNodeName; if that is empty too, nothing
// is recorded.
func (n *Nominator) AddNominatedPod(pi *framework.PodInfo, nodeName string) {
	if nodeName == "" {
		nodeName = pi.Pod.Status.NominatedNodeName
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleteLocked(pi.Pod.UID)
	if nodeName == "" {
		return
	}
	n.nodeOf[pi.Pod.UID] = nodeName
	n.byNode[nodeName] = append(n.byNode[nodeName], pi)
	n.count.Add(1)
}

// UpdateNominatedPod follows a pending pod's update. A nomination this
// scheduler made is kept while the update does not carry it yet (the
// status patch may still be in flight); a nomination cleared in the API is
// dropped.
func (n *Nominator) UpdateNominatedPod(oldPod *v1.Pod, pi *framework.PodInfo) {
	nodeName := pi.Pod.Status.NominatedNodeName
	n.mu.Lock()
	defer n.mu.Unlock()
	if nodeName == "" && (oldPod == nil || oldPod.Status.NominatedNodeName == "") {
		nodeName = n.nodeOf[pi.Pod.UID]
	}
	n.deleteLocked(pi.Pod.UID)
	if nodeName == "" {
		return
	}
	n.nodeOf[pi.Pod.UID] = nodeName
	n.byNode[nodeName] = append(n.byNode[nodeName], pi)
	n.count.Add(1)
}

// DeleteNominatedPodIfExists implements framework.PodNominator.
func (n *Nominator) DeleteNominatedPodIfExists(pod *v1.Pod) {
	if n.count.Load() == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleteLocked(pod.UID)
}

// +checklocks:n.mu
func (n *Nominator) deleteLocked(uid types.UID) {
	node, ok := n.nodeOf[uid]
	if !ok {
		return
	}
	delete(n.nodeOf, uid)
	list := n.byNode[node]
	for i, pi := range list {
		if pi.Pod.UID == uid {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(n.byNode, node)
	} else {
		n.byNode[node] = list
	}
	n.count.Add(-1)
}

// NominatedPodsForNode implements framework.PodNominator.
func (n *Nominator) NominatedPodsForNode(nodeName string) []*framework.PodInfo {
	if n.count.Load() == 0 {
		return nil
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	list := n.byNode[nodeName]
	if len(list) == 0 {
		return nil
	}
	return append([]*framework.PodInfo(nil), list...)
}

// NominatedNode returns the node pod is nominated to, if any.
func (n *Nominator) NominatedNode(pod *v1.Pod) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nodeOf[pod.UID]
}
