package resourcequota

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
)

// storageClassSuffix joins a class name and a resource in per-class quota
// names: gold.storageclass.storage.k8s.io/requests.storage.
const storageClassSuffix = ".storageclass.storage.k8s.io/"

// podResources are the quota names computed from pods.
var podResources = sets.New[corev1.ResourceName](
	corev1.ResourcePods, "count/pods",
	corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsEphemeralStorage,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory, corev1.ResourceLimitsEphemeralStorage,
)

func isPodResource(n corev1.ResourceName) bool {
	return podResources.Has(n) || strings.HasPrefix(string(n), corev1.DefaultResourceRequestsPrefix)
}

// PodCounts reports whether pod counts against quota at now: it has not
// finished, and it is not past the end of a graceful deletion (a pod
// whose node is gone may linger; Kubernetes stops charging for it then).
func PodCounts(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// MatchesScopes reports whether pod is selected by q's scopes and scope
// selector (all must match).
func MatchesScopes(q *corev1.ResourceQuota, pod *corev1.Pod) bool {
	for _, s := range q.Spec.Scopes {
		if !matchScope(s, corev1.ScopeSelectorOpExists, nil, pod) {
			return false
		}
	}
	if q.Spec.ScopeSelector != nil {
		for _, r := range q.Spec.ScopeSelector.MatchExpressions {
			if !matchScope(r.ScopeName, r.Operator, r.Values, pod) {
				return false
			}
		}
	}
	return true
}

func matchScope(scope corev1.ResourceQuotaScope, op corev1.ScopeSelectorOperator, values []string, pod *corev1.Pod) bool {
	switch scope {
	case corev1.ResourceQuotaScopeTerminating:
		return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
	case corev1.ResourceQuotaScopeNotTerminating:
		return pod.Spec.ActiveDeadlineSeconds == nil || *pod.Spec.ActiveDeadlineSeconds < 0
	case corev1.ResourceQuotaScopeBestEffort:
		return bestEffort(pod)
	case corev1.ResourceQuotaScopeNotBestEffort:
		return !bestEffort(pod)
	case corev1.ResourceQuotaScopePriorityClass:
		pc := pod.Spec.PriorityClassName
		switch op {
		case corev1.ScopeSelectorOpExists:
			return pc != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return pc == ""
		case corev1.ScopeSelectorOpIn:
			return sets.New(values...).Has(pc)
		case corev1.ScopeSelectorOpNotIn:
			return !sets.New(values...).Has(pc)
		}
	}
	return false // unknown scopes select nothing
}

// bestEffort: no container requests or limits cpu or memory.
func bestEffort(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				for n := range l {
					if n == corev1.ResourceCPU || n == corev1.ResourceMemory {
						return false
					}
				}
			}
		}
	}
	return true
}

// PodUsage sums what the pods q selects use: their number and their
// effective requests and limits (the larger of the containers' sum and
// any init container's, plus overhead: what the scheduler reserves).
func PodUsage(q *corev1.ResourceQuota, pods []*corev1.Pod, now time.Time) corev1.ResourceList {
	count := int64(0)
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	for _, pod := range pods {
		if !PodCounts(pod, now) || !MatchesScopes(q, pod) {
			continue
		}
		count++
		add(requests, resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
		add(limits, resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{}))
	}
	out := corev1.ResourceList{
		corev1.ResourcePods: *resource.NewQuantity(count, resource.DecimalSI),
		"count/pods":        *resource.NewQuantity(count, resource.DecimalSI),
	}
	zero := func(n corev1.ResourceName) resource.Quantity {
		if n == corev1.ResourceCPU {
			return *resource.NewMilliQuantity(0, resource.DecimalSI)
		}
		return *resource.NewQuantity(0, resource.BinarySI)
	}
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		r, ok := requests[n]
		if !ok {
			r = zero(n)
		}
		l, ok := limits[n]
		if !ok {
			l = zero(n)
		}
		out[n] = r
		out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+string(n))] = r
		out[corev1.ResourceName("limits."+string(n))] = l
	}
	for n, v := range requests {
		if n != corev1.ResourceCPU && n != corev1.ResourceMemory && n != corev1.ResourceEphemeralStorage && n != corev1.ResourcePods {
			out[corev1.ResourceName(corev1.DefaultResourceRequestsPrefix+string(n))] = v
		}
	}
	return out
}

func add(sum, l corev1.ResourceList) {
	for n, v := range l {
		s := sum[n]
		s.Add(v)
		sum[n] = s
	}
}

// ServiceUsage counts node ports (each port of a NodePort or LoadBalancer
// Service that has one) and LoadBalancer Services.
func ServiceUsage(svcs []*corev1.Service) corev1.ResourceList {
	var nodePorts, lbs int64
	for _, s := range svcs {
		switch s.Spec.Type {
		case corev1.ServiceTypeLoadBalancer:
			lbs++
			fallthrough
		case corev1.ServiceTypeNodePort:
			for _, p := range s.Spec.Ports {
				if p.NodePort != 0 || s.Spec.Type == corev1.ServiceTypeNodePort ||
					s.Spec.AllocateLoadBalancerNodePorts == nil || *s.Spec.AllocateLoadBalancerNodePorts {
					nodePorts++
				}
			}
		}
	}
	return corev1.ResourceList{
		corev1.ResourceServicesNodePorts:     *resource.NewQuantity(nodePorts, resource.DecimalSI),
		corev1.ResourceServicesLoadBalancers: *resource.NewQuantity(lbs, resource.DecimalSI),
	}
}

// ClaimUsage sums the storage claims request, in total and per storage
// class, and counts claims per class.
func ClaimUsage(pvcs []*corev1.PersistentVolumeClaim) corev1.ResourceList {
	total := *resource.NewQuantity(0, resource.BinarySI)
	out := corev1.ResourceList{}
	for _, c := range pvcs {
		req := c.Spec.Resources.Requests[corev1.ResourceStorage]
		total.Add(req)
		class := ""
		if c.Spec.StorageClassName != nil {
			class = *c.Spec.StorageClassName
		}
		if class == "" {
			continue
		}
		sn := corev1.ResourceName(class + storageClassSuffix + string(corev1.ResourceRequestsStorage))
		s, ok := out[sn]
		if !ok {
			s = *resource.NewQuantity(0, resource.BinarySI)
		}
		s.Add(req)
		out[sn] = s
		cn := corev1.ResourceName(class + storageClassSuffix + string(corev1.ResourcePersistentVolumeClaims))
		n := out[cn]
		n.Add(*resource.NewQuantity(1, resource.DecimalSI))
		out[cn] = n
	}
	out[corev1.ResourceRequestsStorage] = total
	return out
}
