package admission

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Quota is the resource quota plugin: a create that would take a
// namespace's usage over a ResourceQuota's hard limits is refused with 403
// "exceeded quota"; a pod that does not state a quota'd compute resource is
// refused with "failed quota". Usage is counted from the stored objects at
// admission, and written to the quota's status.
//
// Two creates admitted at the same moment in one namespace may both pass
// against the same usage: the check is not serialized with the writes.
type Quota struct {
	Objects Objects
	Status  QuotaStatusWriter
}

var _ Interface = (*Quota)(nil)

// Mutate implements Interface.Mutate: nothing to change.
func (*Quota) Mutate(context.Context, *Attributes) error { return nil }

// Validate implements Interface.Validate.
func (q *Quota) Validate(ctx context.Context, a *Attributes) error {
	if a.Operation != Create || a.Subresource != "" || !a.Resource.Namespaced {
		return nil
	}
	objs, err := q.Objects.List(ctx, schema.GroupResource{Resource: "resourcequotas"}, a.Namespace, false)
	if err != nil || len(objs) == 0 {
		return err
	}
	delta := Usage(a.Resource.GroupResource(), a.Object)
	quotas := make([]*corev1.ResourceQuota, 0, len(objs))
	for _, o := range objs {
		quotas = append(quotas, o.(*corev1.ResourceQuota))
	}
	sort.Slice(quotas, func(i, j int) bool { return quotas[i].Name < quotas[j].Name })
	type update struct {
		name string
		used corev1.ResourceList
	}
	var updates []update
	for _, quota := range quotas {
		if !inScope(quota, a.Object) {
			continue
		}
		var keys []corev1.ResourceName
		for name := range quota.Spec.Hard {
			if _, ok := delta[name]; ok {
				keys = append(keys, name)
			}
		}
		if pod, ok := a.Object.(*corev1.Pod); ok {
			if msg := missingCompute(quota, pod); msg != "" {
				return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf("failed quota: %s: %s", quota.Name, msg))
			}
		}
		if len(keys) == 0 {
			continue
		}
		used, err := q.used(ctx, quota, a.Namespace)
		if err != nil {
			return err
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		var req, have, lim []string
		exceeded := false
		for _, k := range keys {
			u := used[k]
			sum := u.DeepCopy()
			sum.Add(delta[k])
			if sum.Cmp(quota.Spec.Hard[k]) > 0 {
				exceeded = true
			}
			d, h := delta[k], quota.Spec.Hard[k]
			req = append(req, fmt.Sprintf("%s=%s", k, d.String()))
			have = append(have, fmt.Sprintf("%s=%s", k, u.String()))
			lim = append(lim, fmt.Sprintf("%s=%s", k, h.String()))
		}
		if exceeded {
			return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s",
				quota.Name, strings.Join(req, ","), strings.Join(have, ","), strings.Join(lim, ",")))
		}
		for _, k := range keys {
			u := used[k]
			u.Add(delta[k])
			used[k] = u
		}
		updates = append(updates, update{quota.Name, used})
	}
	if a.DryRun || q.Status == nil {
		return nil
	}
	for _, u := range updates {
		if err := q.Status.SetQuotaUsed(ctx, a.Namespace, u.name, u.used); err != nil {
			return err
		}
	}
	return nil
}

// used counts the namespace's usage of the resources quota limits.
func (q *Quota) used(ctx context.Context, quota *corev1.ResourceQuota, ns string) (corev1.ResourceList, error) {
	grs := map[schema.GroupResource]bool{}
	for name := range quota.Spec.Hard {
		grs[resourceOf(name)] = true
	}
	used := corev1.ResourceList{}
	for name := range quota.Spec.Hard {
		used[name] = resource.Quantity{Format: resource.DecimalSI}
	}
	for gr := range grs {
		if gr.Resource == "" {
			continue
		}
		objs, err := q.Objects.List(ctx, gr, ns, true)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if !inScope(quota, o) {
				continue
			}
			for name, v := range Usage(gr, o) {
				if cur, ok := used[name]; ok {
					cur.Add(v)
					used[name] = cur
				}
			}
		}
	}
	return used, nil
}

// resourceOf names the resource whose objects count towards a quota key.
func resourceOf(name corev1.ResourceName) schema.GroupResource {
	n := string(name)
	switch {
	case n == "pods" || n == "cpu" || n == "memory" || n == "ephemeral-storage" ||
		strings.HasPrefix(n, "requests.") && n != "requests.storage" || strings.HasPrefix(n, "limits."):
		return schema.GroupResource{Resource: "pods"}
	case strings.HasPrefix(n, "services"):
		return schema.GroupResource{Resource: "services"}
	case n == "persistentvolumeclaims" || n == "requests.storage" || strings.HasSuffix(n, ".storageclass.storage.k8s.io/requests.storage"):
		return schema.GroupResource{Resource: "persistentvolumeclaims"}
	case n == "configmaps" || n == "secrets" || n == "resourcequotas" || n == "replicationcontrollers":
		return schema.GroupResource{Resource: n}
	case strings.HasPrefix(n, "count/"):
		return schema.ParseGroupResource(strings.TrimPrefix(n, "count/"))
	}
	return schema.GroupResource{}
}

func countKey(gr schema.GroupResource) corev1.ResourceName {
	if gr.Group == "" {
		return corev1.ResourceName("count/" + gr.Resource)
	}
	return corev1.ResourceName("count/" + gr.Resource + "." + gr.Group)
}

func one() resource.Quantity { return *resource.NewQuantity(1, resource.DecimalSI) }

// Usage is what one object of resource gr counts towards quotas.
func Usage(gr schema.GroupResource, obj runtime.Object) corev1.ResourceList {
	u := corev1.ResourceList{countKey(gr): one()}
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
			return corev1.ResourceList{}
		}
		u[corev1.ResourcePods] = one()
		req, lim := podResources(o)
		for n, q := range req {
			u[corev1.ResourceName("requests."+string(n))] = q
			if n == corev1.ResourceCPU || n == corev1.ResourceMemory || n == corev1.ResourceEphemeralStorage {
				u[n] = q
			}
		}
		for n, q := range lim {
			u[corev1.ResourceName("limits."+string(n))] = q
		}
	case *corev1.Service:
		u[corev1.ResourceServices] = one()
		ports := int64(0)
		if o.Spec.Type == corev1.ServiceTypeNodePort || o.Spec.Type == corev1.ServiceTypeLoadBalancer {
			ports = int64(len(o.Spec.Ports))
		}
		u[corev1.ResourceServicesNodePorts] = *resource.NewQuantity(ports, resource.DecimalSI)
		lb := int64(0)
		if o.Spec.Type == corev1.ServiceTypeLoadBalancer {
			lb = 1
		}
		u[corev1.ResourceServicesLoadBalancers] = *resource.NewQuantity(lb, resource.DecimalSI)
	case *corev1.PersistentVolumeClaim:
		u[corev1.ResourcePersistentVolumeClaims] = one()
		if q, ok := o.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			u[corev1.ResourceRequestsStorage] = q
		}
	case *corev1.ConfigMap:
		u[corev1.ResourceConfigMaps] = one()
	case *corev1.Secret:
		u[corev1.ResourceSecrets] = one()
	case *corev1.ResourceQuota:
		u[corev1.ResourceQuotas] = one()
	}
	return u
}

// podResources sums a pod's container requests and limits; init
// containers count by their maximum, as Kubernetes computes it.
func podResources(p *corev1.Pod) (req, lim corev1.ResourceList) {
	req, lim = corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		addAll(req, c.Resources.Requests)
		addAll(lim, c.Resources.Limits)
	}
	for _, c := range p.Spec.InitContainers {
		for n, q := range c.Resources.Requests {
			if cur, ok := req[n]; !ok || q.Cmp(cur) > 0 {
				req[n] = q.DeepCopy()
			}
		}
		for n, q := range c.Resources.Limits {
			if cur, ok := lim[n]; !ok || q.Cmp(cur) > 0 {
				lim[n] = q.DeepCopy()
			}
		}
	}
	return req, lim
}

// missingCompute reports containers that leave out a compute resource the
// quota limits.
func missingCompute(quota *corev1.ResourceQuota, pod *corev1.Pod) string {
	var parts []string
	for _, key := range []corev1.ResourceName{"limits.cpu", "limits.memory", "requests.cpu", "requests.memory", "cpu", "memory"} {
		if _, ok := quota.Spec.Hard[key]; !ok {
			continue
		}
		kind, name := "requests", string(key)
		if strings.HasPrefix(name, "limits.") {
			kind, name = "limits", strings.TrimPrefix(name, "limits.")
		} else {
			name = strings.TrimPrefix(name, "requests.")
		}
		var missing []string
		for _, c := range pod.Spec.Containers {
			l := c.Resources.Requests
			if kind == "limits" {
				l = c.Resources.Limits
			}
			if _, ok := l[corev1.ResourceName(name)]; !ok {
				missing = append(missing, c.Name)
			}
		}
		if len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("must specify %s for: %s", key, strings.Join(missing, ",")))
		}
	}
	return strings.Join(parts, "; ")
}

// inScope reports whether obj counts for quota's scopes.
func inScope(quota *corev1.ResourceQuota, obj runtime.Object) bool {
	pod, isPod := obj.(*corev1.Pod)
	for _, s := range quota.Spec.Scopes {
		if !isPod {
			return false
		}
		switch s {
		case corev1.ResourceQuotaScopeTerminating:
			if pod.Spec.ActiveDeadlineSeconds == nil {
				return false
			}
		case corev1.ResourceQuotaScopeNotTerminating:
			if pod.Spec.ActiveDeadlineSeconds != nil {
				return false
			}
		case corev1.ResourceQuotaScopeBestEffort:
			if !bestEffort(pod) {
				return false
			}
		case corev1.ResourceQuotaScopeNotBestEffort:
			if bestEffort(pod) {
				return false
			}
		}
	}
	return true
}

func bestEffort(p *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
			return false
		}
	}
	return true
}
