package scheduler

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/cache"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// addEventHandlers connects the informers to the cache and the queue.
// Assigned pods feed the cache; pending pods of this scheduler feed the
// queue; nodes feed the cache; every change that may help a pending pod
// (per the plugins' registrations) moves the pods it may help.
func (s *Scheduler) addEventHandlers() error {
	pods := s.factory.Core().V1().Pods().Informer()
	nodes := s.factory.Core().V1().Nodes().Informer()
	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return fmt.Errorf("adding scheduler event handler: %w", err)
		}
		s.synced = append(s.synced, reg.HasSynced)
		return nil
	}
	if err := add(pods, cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			pod := podOf(obj)
			return pod != nil && pod.Spec.NodeName != "" && !terminal(pod)
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    s.addAssignedPod,
			UpdateFunc: s.updateAssignedPod,
			DeleteFunc: s.deleteAssignedPod,
		},
	}); err != nil {
		return err
	}
	if err := add(pods, cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			pod := podOf(obj)
			return pod != nil && pod.Spec.NodeName == "" && !terminal(pod) && s.responsible(pod)
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    s.addPendingPod,
			UpdateFunc: s.updatePendingPod,
			DeleteFunc: s.deletePendingPod,
		},
	}); err != nil {
		return err
	}
	if err := add(nodes, cache.ResourceEventHandlerFuncs{
		AddFunc:    s.addNode,
		UpdateFunc: s.updateNode,
		DeleteFunc: s.deleteNode,
	}); err != nil {
		return err
	}
	moveOn := func(res framework.EventResource, update func(old, new any) framework.ActionType) cache.ResourceEventHandler {
		return cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				s.queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: res, ActionType: framework.Add}, nil, obj, nil)
			},
			UpdateFunc: func(old, obj any) {
				a := framework.UpdateOther
				if update != nil {
					a = update(old, obj)
				}
				if a != 0 {
					s.queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: res, ActionType: a}, old, obj, nil)
				}
			},
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				s.queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: res, ActionType: framework.Delete}, obj, nil, nil)
			},
		}
	}
	specChanged := func(old, obj any) framework.ActionType {
		switch o := old.(type) {
		case *v1.PersistentVolume:
			n := obj.(*v1.PersistentVolume)
			if equality.Semantic.DeepEqual(o.Spec, n.Spec) && o.Status.Phase == n.Status.Phase && equality.Semantic.DeepEqual(o.Labels, n.Labels) {
				return 0
			}
		case *v1.PersistentVolumeClaim:
			n := obj.(*v1.PersistentVolumeClaim)
			if equality.Semantic.DeepEqual(o.Spec, n.Spec) && o.Status.Phase == n.Status.Phase && equality.Semantic.DeepEqual(o.Annotations, n.Annotations) {
				return 0
			}
		case *storagev1.StorageClass:
			n := obj.(*storagev1.StorageClass)
			if equality.Semantic.DeepEqual(o.AllowedTopologies, n.AllowedTopologies) && equality.Semantic.DeepEqual(o.VolumeBindingMode, n.VolumeBindingMode) {
				return 0
			}
		case *v1.Namespace:
			n := obj.(*v1.Namespace)
			if equality.Semantic.DeepEqual(o.Labels, n.Labels) {
				return 0
			}
		}
		return framework.UpdateOther
	}
	f := s.factory
	for _, x := range []struct {
		inf cache.SharedIndexInformer
		res framework.EventResource
	}{
		{f.Core().V1().PersistentVolumes().Informer(), framework.PersistentVolume},
		{f.Core().V1().PersistentVolumeClaims().Informer(), framework.PersistentVolumeClaim},
		{f.Storage().V1().StorageClasses().Informer(), framework.StorageClass},
		{f.Core().V1().Namespaces().Informer(), framework.Namespace},
	} {
		if err := add(x.inf, moveOn(x.res, specChanged)); err != nil {
			return err
		}
	}
	return nil
}

func podOf(obj any) *v1.Pod {
	switch o := obj.(type) {
	case *v1.Pod:
		return o
	case cache.DeletedFinalStateUnknown:
		p, _ := o.Obj.(*v1.Pod)
		return p
	}
	return nil
}

func terminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

func (s *Scheduler) addAssignedPod(obj any) {
	pod := podOf(obj)
	if err := s.cache.AddPod(pod); err != nil {
		s.log.Error("adding pod to the scheduler cache", "pod", framework.PodKey(pod), "err", err)
	}
	// The pod may have been pending here (bound by someone else).
	s.queue.Delete(pod)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add}, nil, pod, nil)
}

// assignedPodChange classifies an update of a bound pod.
func assignedPodChange(old, pod *v1.Pod) framework.ActionType {
	var a framework.ActionType
	if !equality.Semantic.DeepEqual(old.Labels, pod.Labels) {
		a |= framework.UpdatePodLabel
	}
	o, n := framework.ComputePodRequests(old).Requests, framework.ComputePodRequests(pod).Requests
	if n.MilliCPU < o.MilliCPU || n.Memory < o.Memory || n.EphemeralStorage < o.EphemeralStorage {
		a |= framework.UpdatePodScaleDown
	}
	return a
}

func (s *Scheduler) updateAssignedPod(oldObj, obj any) {
	old, pod := podOf(oldObj), podOf(obj)
	if err := s.cache.UpdatePod(old, pod); err != nil {
		s.log.Error("updating pod in the scheduler cache", "pod", framework.PodKey(pod), "err", err)
	}
	if a := assignedPodChange(old, pod); a != 0 {
		s.queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: a}, old, pod, nil)
	}
}

func (s *Scheduler) deleteAssignedPod(obj any) {
	pod := podOf(obj)
	if pod == nil {
		return
	}
	if err := s.cache.RemovePod(pod); err != nil {
		s.log.Error("removing pod from the scheduler cache", "pod", framework.PodKey(pod), "err", err)
	}
	s.queue.MoveAllToActiveOrBackoffQueue(framework.EventAssignedPodDelete, pod, nil, nil)
}

func (s *Scheduler) addPendingPod(obj any) {
	s.queue.Add(podOf(obj))
}

func (s *Scheduler) updatePendingPod(oldObj, obj any) {
	pod := podOf(obj)
	if s.cache.IsAssumedPod(pod) {
		// Being bound by us: the binding cycle owns it.
		return
	}
	s.queue.Update(podOf(oldObj), pod)
}

func (s *Scheduler) deletePendingPod(obj any) {
	pod := podOf(obj)
	if pod == nil {
		return
	}
	s.queue.Delete(pod)
	if wp := s.fwk.GetWaitingPod(pod.UID); wp != nil {
		wp.Reject("", "pod was deleted while waiting for permission to bind")
	}
}

func (s *Scheduler) addNode(obj any) {
	node, ok := obj.(*v1.Node)
	if !ok {
		return
	}
	s.cache.AddNode(node)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}, nil, node, nil)
}

// nodeChange classifies a node update by what scheduling looks at;
// heartbeat-only updates give 0.
func nodeChange(old, node *v1.Node) framework.ActionType {
	var a framework.ActionType
	if !equality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) {
		a |= framework.UpdateNodeAllocatable
	}
	if !equality.Semantic.DeepEqual(old.Labels, node.Labels) {
		a |= framework.UpdateNodeLabel
	}
	if !equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) {
		a |= framework.UpdateNodeTaint
	}
	if old.Spec.Unschedulable != node.Spec.Unschedulable {
		a |= framework.UpdateNodeSchedulable
	}
	if !sameConditions(old.Status.Conditions, node.Status.Conditions) {
		a |= framework.UpdateNodeCondition
	}
	if len(old.Status.Images) != len(node.Status.Images) || !equality.Semantic.DeepEqual(old.Status.Images, node.Status.Images) {
		a |= framework.UpdateNodeImages
	}
	return a
}

// sameConditions compares condition types and statuses, not heartbeats.
func sameConditions(a, b []v1.NodeCondition) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[v1.NodeConditionType]v1.ConditionStatus, len(a))
	for _, c := range a {
		m[c.Type] = c.Status
	}
	for _, c := range b {
		if s, ok := m[c.Type]; !ok || s != c.Status {
			return false
		}
	}
	return true
}

func (s *Scheduler) updateNode(oldObj, obj any) {
	old, ok1 := oldObj.(*v1.Node)
	node, ok2 := obj.(*v1.Node)
	if !ok1 || !ok2 {
		return
	}
	a := nodeChange(old, node)
	if a == 0 {
		// Nothing scheduling reads changed (a heartbeat, an annotation):
		// keep the cache and the snapshot as they are.
		return
	}
	s.cache.UpdateNode(old, node)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.Node, ActionType: a}, old, node, nil)
}

func (s *Scheduler) deleteNode(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	node, ok := obj.(*v1.Node)
	if !ok {
		return
	}
	s.cache.RemoveNode(node)
	s.queue.MoveAllToActiveOrBackoffQueue(framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Delete}, node, nil, nil)
}
