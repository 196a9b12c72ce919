package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/localpv"
)

// VolumeNodeLabel keeps the label localpv.NodeLabel on persistent volumes
// in step with their node affinity, as Kubernetes' PersistentVolumeLabel
// plugin kept zone labels: on every create and update (status included)
// a volume pinned to a node (localpv.PinnedNode) gets NodeLabel=<node>,
// and any other volume loses the label, whoever wrote it. Node agents
// list and watch their volumes by this label, and the node authorizer
// allows them nothing else, so it must say the truth.
type VolumeNodeLabel struct{}

var _ Interface = VolumeNodeLabel{}

// Mutate implements Interface.Mutate.
func (VolumeNodeLabel) Mutate(_ context.Context, a *Attributes) error {
	if a.Resource.GroupResource() != (schema.GroupResource{Resource: "persistentvolumes"}) ||
		(a.Operation != Create && a.Operation != Update) {
		return nil
	}
	pv, ok := a.Object.(*corev1.PersistentVolume)
	if !ok {
		return nil
	}
	node, pinned := localpv.PinnedNode(pv)
	switch {
	case pinned && pv.Labels[localpv.NodeLabel] != node:
		if pv.Labels == nil {
			pv.Labels = map[string]string{}
		}
		pv.Labels[localpv.NodeLabel] = node
	case !pinned:
		delete(pv.Labels, localpv.NodeLabel)
	}
	return nil
}

// Validate implements Interface.Validate: nothing to check.
func (VolumeNodeLabel) Validate(context.Context, *Attributes) error { return nil }
