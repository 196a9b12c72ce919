package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// defaultPodLevelResources fills in pod-level requests and limits
// (spec.resources) from the containers', as Kubernetes does once a pod
// sets some of them:
//   - hugepage limits missing at pod level become the containers' total;
//   - with pod limits set, each missing pod request becomes the
//     containers' effective request (cpu, memory) or else the pod limit;
//   - with only pod requests set, a missing cpu or memory limit becomes the
//     containers' total when every container has one.
//
// Worked example: containers requesting 100m and 200m cpu under a pod limit
// of 1 cpu give a pod request of 300m.
func defaultPodLevelResources(spec *corev1.PodSpec) {
	r := spec.Resources
	if r == nil || (len(r.Limits) == 0 && len(r.Requests) == 0) {
		return
	}
	ctrLimits := effectiveContainerResources(spec, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits })
	if r.Limits == nil {
		r.Limits = corev1.ResourceList{}
	}
	for name, q := range ctrLimits {
		if !isHugePages(name) {
			continue
		}
		if _, ok := r.Requests[name]; ok {
			continue
		}
		if _, ok := r.Limits[name]; !ok {
			r.Limits[name] = q.DeepCopy()
		}
	}
	if len(r.Limits) > 0 {
		if r.Requests == nil {
			r.Requests = corev1.ResourceList{}
		}
		ctrRequests := effectiveContainerResources(spec, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests })
		for name, q := range ctrRequests {
			if _, ok := r.Requests[name]; !ok && (name == corev1.ResourceCPU || name == corev1.ResourceMemory) {
				r.Requests[name] = q.DeepCopy()
			}
		}
		for name, q := range r.Limits {
			if _, ok := r.Requests[name]; !ok && podLevelResource(name) {
				r.Requests[name] = q.DeepCopy()
			}
		}
		if len(r.Requests) == 0 {
			r.Requests = nil
		}
		return
	}
	r.Limits = nil
	if len(r.Requests) == 0 {
		return
	}
	limits := corev1.ResourceList{}
	for name, q := range ctrLimits {
		if (name == corev1.ResourceCPU || name == corev1.ResourceMemory) && allContainersLimit(spec, name) {
			limits[name] = q.DeepCopy()
		}
	}
	if len(limits) > 0 {
		r.Limits = limits
	}
}

func isHugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func podLevelResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || isHugePages(name)
}

func allContainersLimit(spec *corev1.PodSpec, name corev1.ResourceName) bool {
	for _, ctrs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range ctrs {
			if _, ok := ctrs[i].Resources.Limits[name]; !ok {
				return false
			}
		}
	}
	return true
}

// effectiveContainerResources is what the pod's containers need at their
// peak: regular and sidecar containers all run together, each plain init
// container runs alone beside the sidecars started before it.
func effectiveContainerResources(spec *corev1.PodSpec, get func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	sum := corev1.ResourceList{}
	add := func(dst corev1.ResourceList, src corev1.ResourceList) {
		for name, q := range src {
			v := dst[name]
			v.Add(q)
			dst[name] = v
		}
	}
	for i := range spec.Containers {
		add(sum, get(&spec.Containers[i]))
	}
	sidecars := corev1.ResourceList{}
	peakInit := corev1.ResourceList{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(sidecars, get(c))
			continue
		}
		during := sidecars.DeepCopy()
		add(during, get(c))
		for name, q := range during {
			if cur, ok := peakInit[name]; !ok || q.Cmp(cur) > 0 {
				peakInit[name] = q.DeepCopy()
			}
		}
	}
	add(sum, sidecars)
	for name, q := range peakInit {
		if cur, ok := sum[name]; !ok || q.Cmp(cur) > 0 {
			sum[name] = q.DeepCopy()
		}
	}
	for name, q := range sum {
		if q.Cmp(resource.Quantity{}) == 0 {
			delete(sum, name)
		}
	}
	return sum
}
