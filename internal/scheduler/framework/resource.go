package framework

import (
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Default requests used for scoring (never for fitting) when a container
// requests no cpu or memory, so that a node full of request-less pods does
// not look empty to LeastAllocated and BalancedAllocation. Kubernetes uses
// the same figures.
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is a compact, integer view of a ResourceList: cpu in
// millicores, memory and ephemeral storage in bytes, a pod count, and
// every other resource (extended resources, hugepages) by name.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPodNumber is only meaningful for a node's allocatable.
	AllowedPodNumber int64
	// ScalarResources holds extended resources and hugepages.
	ScalarResources map[v1.ResourceName]int64
}

// NewResource converts rl.
func NewResource(rl v1.ResourceList) Resource {
	var r Resource
	r.Add(rl)
	return r
}

// Add adds every quantity of rl to r.
func (r *Resource) Add(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if IsScalarResourceName(name) {
				r.AddScalar(name, q.Value())
			}
		}
	}
}

// AddResource adds o to r.
func (r *Resource) AddResource(o *Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	r.AllowedPodNumber += o.AllowedPodNumber
	for n, v := range o.ScalarResources {
		r.AddScalar(n, v)
	}
}

// SubResource subtracts o from r.
func (r *Resource) SubResource(o *Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	r.AllowedPodNumber -= o.AllowedPodNumber
	for n, v := range o.ScalarResources {
		r.AddScalar(n, -v)
	}
}

// AddScalar adds v of the scalar resource name.
func (r *Resource) AddScalar(name v1.ResourceName, v int64) {
	if r.ScalarResources == nil {
		r.ScalarResources = map[v1.ResourceName]int64{}
	}
	r.ScalarResources[name] += v
}

// SetMax raises every field of r to at least the one in o.
func (r *Resource) SetMax(o *Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	r.AllowedPodNumber = max(r.AllowedPodNumber, o.AllowedPodNumber)
	for n, v := range o.ScalarResources {
		if v > r.ScalarResources[n] {
			if r.ScalarResources == nil {
				r.ScalarResources = map[v1.ResourceName]int64{}
			}
			r.ScalarResources[n] = v
		}
	}
}

// Clone returns a deep copy.
func (r *Resource) Clone() *Resource {
	c := *r
	if r.ScalarResources != nil {
		c.ScalarResources = make(map[v1.ResourceName]int64, len(r.ScalarResources))
		for n, v := range r.ScalarResources {
			c.ScalarResources[n] = v
		}
	}
	return &c
}

// Get returns the amount of one resource (cpu in millicores).
func (r *Resource) Get(name v1.ResourceName) int64 {
	switch name {
	case v1.ResourceCPU:
		return r.MilliCPU
	case v1.ResourceMemory:
		return r.Memory
	case v1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case v1.ResourcePods:
		return r.AllowedPodNumber
	default:
		return r.ScalarResources[name]
	}
}

// IsZero reports whether r requests nothing.
func (r *Resource) IsZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 || r.AllowedPodNumber != 0 {
		return false
	}
	for _, v := range r.ScalarResources {
		if v != 0 {
			return false
		}
	}
	return true
}

// IsScalarResourceName reports whether name is tracked in
// Resource.ScalarResources: an extended resource (a domain-prefixed name
// outside kubernetes.io), a hugepages-<size> resource, or an attachable
// volume count.
func IsScalarResourceName(name v1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, v1.ResourceHugePagesPrefix) || strings.HasPrefix(s, v1.ResourceAttachableVolumesPrefix) {
		return true
	}
	return IsExtendedResourceName(name)
}

// IsExtendedResourceName reports whether name is an extended resource: it
// has a domain prefix that is not kubernetes.io, and is not a quota
// "requests." name.
func IsExtendedResourceName(name v1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, v1.DefaultResourceRequestsPrefix) {
		return false
	}
	slash := strings.IndexByte(s, '/')
	if slash < 0 {
		return false
	}
	domain := s[:slash]
	return domain != "kubernetes.io" && !strings.HasSuffix(domain, ".kubernetes.io")
}

// PodRequests is what a pod asks of a node, computed once per pod.
type PodRequests struct {
	// Requests is the effective request used to decide whether the pod
	// fits (see ComputePodRequests).
	Requests Resource
	// NonZeroMilliCPU and NonZeroMemory are the cpu and memory requests
	// with DefaultMilliCPURequest/DefaultMemoryRequest substituted for
	// every container that requests none; used only for scoring.
	NonZeroMilliCPU, NonZeroMemory int64
}

// ComputePodRequests computes a pod's effective requests with Kubernetes'
// rules:
//
//   - Regular containers run together: their requests add up.
//   - Init containers run one at a time before them, so the pod needs the
//     largest of them, not their sum. A restartable init container (a
//     sidecar, restartPolicy Always) keeps running once started: it adds
//     to every init container started after it and to the regular
//     containers.
//   - The effective request is max(sum(containers) + sum(sidecars),
//     max over init containers i of (request(i) + sidecars started before i)).
//   - Pod-level resources (spec.resources.requests), when set, replace the
//     container aggregate for the resources they name.
//   - spec.overhead (from the RuntimeClass) is added on top.
//
// Worked example: containers a (cpu 1) and b (cpu 2); init containers
// i1 (cpu 4), sidecar s (cpu 0.5, restartable), i2 (cpu 3). Regular phase:
// 1 + 2 + 0.5 = 3.5. Init phase: i1 alone needs 4; i2 runs beside s: 3.5.
// Effective request: max(3.5, 4, 3.5) = 4 cpu.
func ComputePodRequests(pod *v1.Pod) PodRequests {
	var out PodRequests
	var regular, sidecars, initMax Resource
	var nzCPU, nzMem, nzSideCPU, nzSideMem, nzInitCPU, nzInitMem int64
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		regular.Add(c.Resources.Requests)
		cpu, mem := nonZero(c.Resources.Requests)
		nzCPU += cpu
		nzMem += mem
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cpu, mem := nonZero(c.Resources.Requests)
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			sidecars.Add(c.Resources.Requests)
			nzSideCPU += cpu
			nzSideMem += mem
			// A sidecar's own start also needs the sidecars before it.
			at := sidecars.Clone()
			initMax.SetMax(at)
			nzInitCPU = max(nzInitCPU, nzSideCPU)
			nzInitMem = max(nzInitMem, nzSideMem)
			continue
		}
		at := NewResource(c.Resources.Requests)
		at.AddResource(&sidecars)
		initMax.SetMax(&at)
		nzInitCPU = max(nzInitCPU, cpu+nzSideCPU)
		nzInitMem = max(nzInitMem, mem+nzSideMem)
	}
	regular.AddResource(&sidecars)
	regular.SetMax(&initMax)
	nzCPU = max(nzCPU+nzSideCPU, nzInitCPU)
	nzMem = max(nzMem+nzSideMem, nzInitMem)

	if pod.Spec.Resources != nil {
		// Pod-level requests win for the resources they name.
		for name, q := range pod.Spec.Resources.Requests {
			switch name {
			case v1.ResourceCPU:
				regular.MilliCPU = q.MilliValue()
				nzCPU = q.MilliValue()
			case v1.ResourceMemory:
				regular.Memory = q.Value()
				nzMem = q.Value()
			default:
				if strings.HasPrefix(string(name), v1.ResourceHugePagesPrefix) {
					if regular.ScalarResources == nil {
						regular.ScalarResources = map[v1.ResourceName]int64{}
					}
					regular.ScalarResources[name] = q.Value()
				}
			}
		}
	}
	if pod.Spec.Overhead != nil {
		regular.Add(pod.Spec.Overhead)
		nzCPU += pod.Spec.Overhead.Cpu().MilliValue()
		nzMem += pod.Spec.Overhead.Memory().Value()
	}
	out.Requests = regular
	out.NonZeroMilliCPU, out.NonZeroMemory = nzCPU, nzMem
	return out
}

// nonZero returns the cpu and memory requests of one container with the
// scoring defaults substituted for missing ones.
func nonZero(rl v1.ResourceList) (cpu, mem int64) {
	cpu, mem = DefaultMilliCPURequest, DefaultMemoryRequest
	if q, ok := rl[v1.ResourceCPU]; ok {
		cpu = q.MilliValue()
	}
	if q, ok := rl[v1.ResourceMemory]; ok {
		mem = q.Value()
	}
	return cpu, mem
}
