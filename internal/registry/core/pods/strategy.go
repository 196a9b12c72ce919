// Package pods is the strategy for core/v1 pods: defaults, validation, the
// few spec fields an update may change, status and graceful deletion, and
// the fields field selectors use (spec.nodeName, status.phase, ...).
// Imported by the API server.
package pods

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the pods strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.TypedChecks(validation.ValidatePod, validation.ValidatePodUpdate, validation.ValidatePodStatusUpdate)}}
}

var (
	_ registry.Strategy              = (*Strategy)(nil)
	_ registry.StatusStrategy        = (*Strategy)(nil)
	_ registry.Deleter               = (*Strategy)(nil)
	_ registry.DeletedObjectReturner = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true,
		ShortNames: []string{"po"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.Pod{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.PodList{} }

// ReturnDeletedObject implements registry.DeletedObjectReturner.
func (*Strategy) ReturnDeletedObject() bool { return true }

// PrepareForCreate implements registry.Strategy.PrepareForCreate.
func (s *Strategy) PrepareForCreate(obj runtime.Object) {
	s.Base.PrepareForCreate(obj)
	p := obj.(*corev1.Pod)
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: QOSClass(p)}
}

// PrepareForUpdate implements registry.Strategy.PrepareForUpdate.
func (s *Strategy) PrepareForUpdate(obj, old runtime.Object) {
	s.Base.PrepareForUpdate(obj, old)
}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	p := obj.(*corev1.Pod)
	return registry.MetaAttrs(obj, fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	})
}

// BeforeDelete implements registry.Deleter: graceful deletion. A pod that
// runs on a node gets its grace period (from the options or the spec) and
// stays until the kubelet confirms; a pod never scheduled, already finished,
// or deleted with grace 0 goes at once.
func (*Strategy) BeforeDelete(obj runtime.Object, opts *metav1.DeleteOptions, now time.Time) bool {
	p := obj.(*corev1.Pod)
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if p.Spec.TerminationGracePeriodSeconds != nil {
		grace = *p.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if grace < 0 {
		grace = 1
	}
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		grace = 0
	}
	// A second delete may shorten the grace period, never extend it.
	if p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds < grace {
		grace = *p.DeletionGracePeriodSeconds
	}
	opts.GracePeriodSeconds = &grace
	if grace == 0 {
		return false
	}
	p.DeletionGracePeriodSeconds = &grace
	return true
}

// QOSClass computes a pod's quality-of-service class from its containers'
// requests and limits.
func QOSClass(p *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	cs := append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...)
	for _, c := range cs {
		for n, q := range c.Resources.Requests {
			if n != corev1.ResourceCPU && n != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			add(requests, n, q)
		}
		have := 0
		for n, q := range c.Resources.Limits {
			if n != corev1.ResourceCPU && n != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			have++
			add(limits, n, q)
		}
		if have != 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for n, r := range requests {
			if l, ok := limits[n]; !ok || l.Cmp(r) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func add(l corev1.ResourceList, n corev1.ResourceName, q resource.Quantity) {
	if cur, ok := l[n]; ok {
		cur.Add(q)
		l[n] = cur
	} else {
		l[n] = q.DeepCopy()
	}
}
