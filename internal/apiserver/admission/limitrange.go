package admission

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// LimitRanger is the limit range plugin: on pod creation it fills in the
// default requests and limits of the namespace's LimitRanges for containers
// that set none, then rejects (403) pods and claims outside the ranges'
// min, max and max limit/request ratio.
type LimitRanger struct {
	Objects Objects
}

var _ Interface = (*LimitRanger)(nil)

func (l *LimitRanger) ranges(ctx context.Context, ns string) ([]*corev1.LimitRange, error) {
	objs, err := l.Objects.List(ctx, schema.GroupResource{Resource: "limitranges"}, ns, false)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.LimitRange, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.LimitRange))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Mutate implements Interface.Mutate: default requests and limits.
func (l *LimitRanger) Mutate(ctx context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.Operation != Create || a.Subresource != "" {
		return nil
	}
	lrs, err := l.ranges(ctx, a.Namespace)
	if err != nil || len(lrs) == 0 {
		return err
	}
	for _, lr := range lrs {
		for _, item := range lr.Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			apply := func(cs []corev1.Container) {
				for i := range cs {
					r := &cs[i].Resources
					for name, q := range item.Default {
						if _, ok := r.Limits[name]; !ok {
							if r.Limits == nil {
								r.Limits = corev1.ResourceList{}
							}
							r.Limits[name] = q.DeepCopy()
						}
					}
					for name, q := range item.DefaultRequest {
						if _, ok := r.Requests[name]; !ok {
							if r.Requests == nil {
								r.Requests = corev1.ResourceList{}
							}
							r.Requests[name] = q.DeepCopy()
						}
					}
				}
			}
			apply(pod.Spec.InitContainers)
			apply(pod.Spec.Containers)
		}
	}
	return nil
}

// Validate implements Interface.Validate: min, max and ratios.
func (l *LimitRanger) Validate(ctx context.Context, a *Attributes) error {
	if a.Operation != Create || a.Subresource != "" {
		return nil
	}
	var check func(lr *corev1.LimitRange) []string
	switch o := a.Object.(type) {
	case *corev1.Pod:
		check = func(lr *corev1.LimitRange) []string { return checkPod(lr, o) }
	case *corev1.PersistentVolumeClaim:
		check = func(lr *corev1.LimitRange) []string { return checkPVC(lr, o) }
	default:
		return nil
	}
	lrs, err := l.ranges(ctx, a.Namespace)
	if err != nil {
		return err
	}
	var problems []string
	for _, lr := range lrs {
		problems = append(problems, check(lr)...)
	}
	if len(problems) > 0 {
		return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf("%v", problems))
	}
	return nil
}

// bounds checks one observed amount against an item's min and max.
func bounds(kind string, name corev1.ResourceName, item corev1.LimitRangeItem, request, limit *resource.Quantity) []string {
	var out []string
	if min, ok := item.Min[name]; ok {
		if request == nil {
			out = append(out, fmt.Sprintf("minimum %s usage per %s is %s.  No request is specified", name, kind, min.String()))
		} else if request.Cmp(min) < 0 {
			out = append(out, fmt.Sprintf("minimum %s usage per %s is %s, but request is %s", name, kind, min.String(), request.String()))
		}
	}
	if max, ok := item.Max[name]; ok {
		if limit == nil {
			out = append(out, fmt.Sprintf("maximum %s usage per %s is %s.  No limit is specified", name, kind, max.String()))
		} else if limit.Cmp(max) > 0 {
			out = append(out, fmt.Sprintf("maximum %s usage per %s is %s, but limit is %s", name, kind, max.String(), limit.String()))
		}
	}
	if ratio, ok := item.MaxLimitRequestRatio[name]; ok && request != nil && limit != nil && !request.IsZero() {
		got := float64(limit.MilliValue()) / float64(request.MilliValue())
		if got > float64(ratio.MilliValue())/1000 {
			out = append(out, fmt.Sprintf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, kind, ratio.String(), got))
		}
	}
	return out
}

func lookup(l corev1.ResourceList, name corev1.ResourceName) *resource.Quantity {
	if q, ok := l[name]; ok {
		return &q
	}
	return nil
}

func checkPod(lr *corev1.LimitRange, pod *corev1.Pod) []string {
	var out []string
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
				for _, name := range resourceNames(item) {
					out = append(out, bounds("Container", name, item, lookup(c.Resources.Requests, name), lookup(c.Resources.Limits, name))...)
				}
			}
		case corev1.LimitTypePod:
			req, lim := corev1.ResourceList{}, corev1.ResourceList{}
			for _, c := range pod.Spec.Containers {
				addAll(req, c.Resources.Requests)
				addAll(lim, c.Resources.Limits)
			}
			for _, name := range resourceNames(item) {
				out = append(out, bounds("Pod", name, item, lookup(req, name), lookup(lim, name))...)
			}
		}
	}
	return out
}

func checkPVC(lr *corev1.LimitRange, pvc *corev1.PersistentVolumeClaim) []string {
	var out []string
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypePersistentVolumeClaim {
			continue
		}
		req := lookup(pvc.Spec.Resources.Requests, corev1.ResourceStorage)
		out = append(out, bounds("PersistentVolumeClaim", corev1.ResourceStorage, item, req, req)...)
	}
	return out
}

func resourceNames(item corev1.LimitRangeItem) []corev1.ResourceName {
	seen := map[corev1.ResourceName]bool{}
	for _, l := range []corev1.ResourceList{item.Min, item.Max, item.MaxLimitRequestRatio} {
		for n := range l {
			seen[n] = true
		}
	}
	out := make([]corev1.ResourceName, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func addAll(dst, src corev1.ResourceList) {
	for n, q := range src {
		if cur, ok := dst[n]; ok {
			cur.Add(q)
			dst[n] = cur
		} else {
			dst[n] = q.DeepCopy()
		}
	}
}
