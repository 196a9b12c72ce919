// Package volumerestrictions is the VolumeRestrictions plugin: a
// PersistentVolumeClaim with the ReadWriteOncePod access mode may be used
// by one pod in the whole cluster at a time. Preemption may evict the
// pod holding it. Only the plugin registry imports it.
package volumerestrictions

import (
	"context"
	"fmt"
	"log/slog"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "VolumeRestrictions"

// ErrReasonReadWriteOncePodConflict is the rejection reason.
const ErrReasonReadWriteOncePodConflict = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"

// VolumeRestrictions enforces ReadWriteOncePod.
type VolumeRestrictions struct {
	handle framework.Handle
	pvcs   corelisters.PersistentVolumeClaimLister
}

var (
	_ framework.PreFilterPlugin   = (*VolumeRestrictions)(nil)
	_ framework.FilterPlugin      = (*VolumeRestrictions)(nil)
	_ framework.EnqueueExtensions = (*VolumeRestrictions)(nil)
)

// New returns the plugin.
func New(_ context.Context, _ any, h framework.Handle) (framework.Plugin, error) {
	return &VolumeRestrictions{handle: h, pvcs: h.SharedInformerFactory().Core().V1().PersistentVolumeClaims().Lister()}, nil
}

// Name implements framework.Plugin.
func (*VolumeRestrictions) Name() string { return Name }

const stateKey framework.StateKey = "PreFilter" + Name

// preFilterState counts the pods already using the incoming pod's
// ReadWriteOncePod claims.
type preFilterState struct {
	rwop      map[string]bool // claim keys "ns/name"
	conflicts int
}

func (s *preFilterState) Clone() framework.StateData {
	c := *s
	return &c
}

func hasRWOP(modes []v1.PersistentVolumeAccessMode) bool {
	for _, m := range modes {
		if m == v1.ReadWriteOncePod {
			return true
		}
	}
	return false
}

// PreFilter implements framework.PreFilterPlugin; Skip for pods without
// ReadWriteOncePod claims.
func (p *VolumeRestrictions) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	s := &preFilterState{rwop: map[string]bool{}}
	for _, vol := range pod.Spec.Volumes {
		if vol.PersistentVolumeClaim == nil {
			continue
		}
		claim, err := p.pvcs.PersistentVolumeClaims(pod.Namespace).Get(vol.PersistentVolumeClaim.ClaimName)
		if apierrors.IsNotFound(err) {
			// VolumeBinding reports missing claims.
			continue
		}
		if err != nil {
			return nil, framework.AsStatus(fmt.Errorf("getting claim %s/%s: %w", pod.Namespace, vol.PersistentVolumeClaim.ClaimName, err))
		}
		if !hasRWOP(claim.Spec.AccessModes) {
			continue
		}
		key := pod.Namespace + "/" + claim.Name
		s.rwop[key] = true
		if p.handle.SnapshotSharedLister().StorageInfos().IsPVCUsedByPods(key) {
			s.conflicts++
		}
	}
	if len(s.rwop) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(stateKey, s)
	return nil, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (p *VolumeRestrictions) PreFilterExtensions() framework.PreFilterExtensions { return p }

func (p *VolumeRestrictions) adjust(state *framework.CycleState, pi *framework.PodInfo, delta int) *framework.Status {
	d, err := state.Read(stateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", stateKey, err))
	}
	s := d.(*preFilterState)
	for _, vol := range pi.Pod.Spec.Volumes {
		if vol.PersistentVolumeClaim != nil && s.rwop[pi.Pod.Namespace+"/"+vol.PersistentVolumeClaim.ClaimName] {
			s.conflicts += delta
		}
	}
	return nil
}

// AddPod implements framework.PreFilterExtensions.
func (p *VolumeRestrictions) AddPod(_ context.Context, state *framework.CycleState, _ *v1.Pod, pi *framework.PodInfo, _ *framework.NodeInfo) *framework.Status {
	return p.adjust(state, pi, 1)
}

// RemovePod implements framework.PreFilterExtensions.
func (p *VolumeRestrictions) RemovePod(_ context.Context, state *framework.CycleState, _ *v1.Pod, pi *framework.PodInfo, _ *framework.NodeInfo) *framework.Status {
	return p.adjust(state, pi, -1)
}

// Filter implements framework.FilterPlugin. The conflict is cluster-wide,
// so every node gets the same answer.
func (p *VolumeRestrictions) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, _ *framework.NodeInfo) *framework.Status {
	d, err := state.Read(stateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", stateKey, err))
	}
	if d.(*preFilterState).conflicts > 0 {
		return framework.NewStatus(framework.Unschedulable, ErrReasonReadWriteOncePodConflict)
	}
	return nil
}

// EventsToRegister implements framework.EnqueueExtensions: the pod holding
// the claim going away helps.
func (p *VolumeRestrictions) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{{
		Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete},
		QueueingHintFn: func(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
			deleted, _, err := framework.Objects[v1.Pod](oldObj, newObj)
			if err != nil || deleted == nil {
				return framework.Queue, err
			}
			if deleted.Namespace != pod.Namespace {
				return framework.QueueSkip, nil
			}
			claims := map[string]bool{}
			for _, v := range pod.Spec.Volumes {
				if v.PersistentVolumeClaim != nil {
					claims[v.PersistentVolumeClaim.ClaimName] = true
				}
			}
			for _, v := range deleted.Spec.Volumes {
				if v.PersistentVolumeClaim != nil && claims[v.PersistentVolumeClaim.ClaimName] {
					return framework.Queue, nil
				}
			}
			return framework.QueueSkip, nil
		},
	}, {
		Event: framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add | framework.Update},
	}}, nil
}
