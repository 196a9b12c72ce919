package framework

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// NodeToStatus holds, for every node a pod was rejected on, why.
type NodeToStatus map[string]*Status

// Diagnosis explains why a pod fits no node.
type Diagnosis struct {
	// NodeToStatus has one entry per node evaluated.
	NodeToStatus NodeToStatus
	// UnschedulablePlugins rejected the pod somewhere.
	UnschedulablePlugins sets.Set[string]
	// PreFilterMsg is set when a PreFilter plugin rejected the pod for
	// every node at once.
	PreFilterMsg string
	// PostFilterMsg is what preemption had to say.
	PostFilterMsg string
}

// FitError is the error of a pod that fits no node. Its message is the
// one Kubernetes users know:
//
//	0/3 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint {k: v}. preemption: ...
type FitError struct {
	Pod         *v1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// NoNodeAvailableMsg starts every FitError message.
const NoNodeAvailableMsg = "0/%v nodes are available"

// Error returns the FailedScheduling message: the number of nodes per
// reason (sorted, so the message is stable), or the PreFilter message, then
// the PostFilter message.
func (e *FitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, NoNodeAvailableMsg+":", e.NumAllNodes)
	if e.Diagnosis.PreFilterMsg != "" {
		// A PreFilter rejection applies to every node; counting it per
		// node would repeat it.
		fmt.Fprintf(&b, " %s.", e.Diagnosis.PreFilterMsg)
	} else if h := ReasonHistogram(e.Diagnosis.NodeToStatus); h != "" {
		fmt.Fprintf(&b, " %s.", h)
	}
	if e.Diagnosis.PostFilterMsg != "" {
		fmt.Fprintf(&b, " %s", e.Diagnosis.PostFilterMsg)
		if !strings.HasSuffix(e.Diagnosis.PostFilterMsg, ".") {
			b.WriteString(".")
		}
	}
	return b.String()
}

// ReasonHistogram counts the nodes per reason and renders "N reason"
// entries sorted as strings and joined by ", ".
func ReasonHistogram(statuses NodeToStatus) string {
	counts := map[string]int{}
	for _, s := range statuses {
		for _, r := range s.Reasons() {
			counts[r]++
		}
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
