package framework

import (
	"log/slog"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// EventResource is the kind of object a cluster event is about.
type EventResource string

// The resources the scheduler watches for events that may make pending
// pods schedulable.
const (
	// AssignedPod is a pod bound (or assumed) to a node: its arrival,
	// change or departure changes what fits there.
	AssignedPod EventResource = "AssignedPod"
	// UnscheduledPod is the pending pod itself being changed.
	UnscheduledPod        EventResource = "UnscheduledPod"
	Node                  EventResource = "Node"
	PersistentVolume      EventResource = "PersistentVolume"
	PersistentVolumeClaim EventResource = "PersistentVolumeClaim"
	StorageClass          EventResource = "StorageClass"
	Namespace             EventResource = "Namespace"
	// WildCard matches every resource; used for the periodic flush and
	// for pods whose rejection no plugin claimed.
	WildCard EventResource = "*"
)

// ActionType says what happened, as a bit set so a plugin can register
// for several at once.
type ActionType uint32

// Actions. The Update* bits refine an update; Update matches them all.
const (
	Add ActionType = 1 << iota
	Delete
	UpdateNodeAllocatable
	UpdateNodeLabel
	UpdateNodeTaint
	UpdateNodeCondition
	// UpdateNodeSchedulable: spec.unschedulable changed.
	UpdateNodeSchedulable
	UpdateNodeImages
	UpdatePodLabel
	// UpdatePodScaleDown: a pod's requests shrank.
	UpdatePodScaleDown
	// UpdatePodSpec: a pending pod's spec changed in a way that may
	// change where it fits (tolerations, node selector, affinity...).
	UpdatePodSpec
	// UpdateOther: any other update of the resource.
	UpdateOther

	Update = UpdateNodeAllocatable | UpdateNodeLabel | UpdateNodeTaint | UpdateNodeCondition |
		UpdateNodeSchedulable | UpdateNodeImages | UpdatePodLabel | UpdatePodScaleDown | UpdatePodSpec | UpdateOther
	All = Add | Delete | Update
)

var actionNames = []string{"Add", "Delete", "UpdateNodeAllocatable", "UpdateNodeLabel", "UpdateNodeTaint",
	"UpdateNodeCondition", "UpdateNodeSchedulable", "UpdateNodeImages", "UpdatePodLabel", "UpdatePodScaleDown",
	"UpdatePodSpec", "UpdateOther"}

func (a ActionType) String() string {
	if a == All {
		return "All"
	}
	var parts []string
	for i, n := range actionNames {
		if a&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}

// ClusterEvent is something that happened to the cluster.
type ClusterEvent struct {
	Resource   EventResource
	ActionType ActionType
}

func (e ClusterEvent) String() string { return string(e.Resource) + "/" + e.ActionType.String() }

// Match reports whether the registered event r covers the incoming event e.
func (r ClusterEvent) Match(e ClusterEvent) bool {
	return (r.Resource == WildCard || e.Resource == WildCard || r.Resource == e.Resource) && r.ActionType&e.ActionType != 0
}

// QueueingHint is a plugin's verdict on whether an event may make a pod it
// rejected schedulable.
type QueueingHint int

const (
	// QueueSkip: the event cannot help the pod; leave it where it is.
	QueueSkip QueueingHint = iota
	// Queue: the event may help; retry the pod.
	Queue
)

// QueueingHintFn decides, for a pod the plugin rejected, whether an event
// (its old and new object; old is nil for Add, new is nil for Delete) may
// make the pod schedulable. Called with the queue's lock held, so it must
// be fast and must not call the queue. An error counts as Queue.
type QueueingHintFn func(logger *slog.Logger, pod *v1.Pod, oldObj, newObj any) (QueueingHint, error)

// ClusterEventWithHint is an event a plugin registers for, with an
// optional hint (nil means always Queue).
type ClusterEventWithHint struct {
	Event          ClusterEvent
	QueueingHintFn QueueingHintFn
}

// Events the scheduler itself raises.
var (
	// EventUnschedulableTimeout is the periodic flush of pods that stayed
	// unschedulable too long.
	EventUnschedulableTimeout = ClusterEvent{Resource: WildCard, ActionType: All}
	// EventAssignedPodDelete is raised when a pod leaves a node, also when
	// a binding fails and its assumed pod is forgotten.
	EventAssignedPodDelete = ClusterEvent{Resource: AssignedPod, ActionType: Delete}
)
