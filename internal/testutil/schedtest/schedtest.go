// Package schedtest builds pods, nodes and volumes for scheduler tests and
// benchmarks with a fluent, compact syntax:
//
//	schedtest.Pod("web-1").Req("500m", "1Gi").Label("app", "web").Obj()
//	schedtest.Node("n1").Cap("4", "8Gi", 110).Zone("a").Taint("k", "v", v1.TaintEffectNoSchedule).Obj()
//
// Only tests and benchmarks import it.
package schedtest

import (
	"fmt"
	"log/slog"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PodBuilder builds a pod.
type PodBuilder struct{ p *v1.Pod }

// Pod starts a pod named name in namespace "default" with one container
// and a UID derived from the name.
func Pod(name string) *PodBuilder {
	return &PodBuilder{p: &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(time.Unix(1700000000, 0))},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}, SchedulerName: v1.DefaultSchedulerName},
	}}
}

// Obj returns the pod.
func (b *PodBuilder) Obj() *v1.Pod { return b.p }

// Namespace sets the namespace.
func (b *PodBuilder) Namespace(ns string) *PodBuilder { b.p.Namespace = ns; return b }

// UID sets the UID.
func (b *PodBuilder) UID(uid string) *PodBuilder { b.p.UID = types.UID(uid); return b }

// Created sets the creation time.
func (b *PodBuilder) Created(t time.Time) *PodBuilder {
	b.p.CreationTimestamp = metav1.NewTime(t)
	return b
}

// Node binds the pod to node.
func (b *PodBuilder) Node(node string) *PodBuilder { b.p.Spec.NodeName = node; return b }

// SchedulerName sets spec.schedulerName.
func (b *PodBuilder) SchedulerName(n string) *PodBuilder { b.p.Spec.SchedulerName = n; return b }

// Priority sets spec.priority.
func (b *PodBuilder) Priority(p int32) *PodBuilder { b.p.Spec.Priority = &p; return b }

// PreemptNever sets preemptionPolicy Never.
func (b *PodBuilder) PreemptNever() *PodBuilder {
	n := v1.PreemptNever
	b.p.Spec.PreemptionPolicy = &n
	return b
}

// Label adds a label.
func (b *PodBuilder) Label(k, v string) *PodBuilder {
	if b.p.Labels == nil {
		b.p.Labels = map[string]string{}
	}
	b.p.Labels[k] = v
	return b
}

func resources(cpu, mem string) v1.ResourceList {
	rl := v1.ResourceList{}
	if cpu != "" {
		rl[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		rl[v1.ResourceMemory] = resource.MustParse(mem)
	}
	return rl
}

// Req sets the first container's cpu and memory requests ("" for none).
func (b *PodBuilder) Req(cpu, mem string) *PodBuilder {
	b.p.Spec.Containers[0].Resources.Requests = resources(cpu, mem)
	return b
}

// ReqList sets the first container's requests.
func (b *PodBuilder) ReqList(rl v1.ResourceList) *PodBuilder {
	b.p.Spec.Containers[0].Resources.Requests = rl
	return b
}

// Container adds a container with cpu and memory requests.
func (b *PodBuilder) Container(cpu, mem string) *PodBuilder {
	b.p.Spec.Containers = append(b.p.Spec.Containers, v1.Container{
		Name: fmt.Sprintf("c%d", len(b.p.Spec.Containers)), Image: "busybox", Resources: v1.ResourceRequirements{Requests: resources(cpu, mem)}})
	return b
}

// Init adds an init container with cpu and memory requests.
func (b *PodBuilder) Init(cpu, mem string) *PodBuilder {
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, v1.Container{
		Name: fmt.Sprintf("i%d", len(b.p.Spec.InitContainers)), Image: "busybox", Resources: v1.ResourceRequirements{Requests: resources(cpu, mem)}})
	return b
}

// Sidecar adds a restartable init container with cpu and memory requests.
func (b *PodBuilder) Sidecar(cpu, mem string) *PodBuilder {
	always := v1.ContainerRestartPolicyAlways
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, v1.Container{
		Name: fmt.Sprintf("s%d", len(b.p.Spec.InitContainers)), Image: "busybox", RestartPolicy: &always,
		Resources: v1.ResourceRequirements{Requests: resources(cpu, mem)}})
	return b
}

// Overhead sets spec.overhead.
func (b *PodBuilder) Overhead(cpu, mem string) *PodBuilder {
	b.p.Spec.Overhead = resources(cpu, mem)
	return b
}

// Image sets the first container's image.
func (b *PodBuilder) Image(img string) *PodBuilder { b.p.Spec.Containers[0].Image = img; return b }

// HostPort adds a host port to the first container.
func (b *PodBuilder) HostPort(ip string, proto v1.Protocol, port int32) *PodBuilder {
	b.p.Spec.Containers[0].Ports = append(b.p.Spec.Containers[0].Ports, v1.ContainerPort{HostIP: ip, Protocol: proto, HostPort: port, ContainerPort: port})
	return b
}

// NodeSelector adds a node selector entry.
func (b *PodBuilder) NodeSelector(k, v string) *PodBuilder {
	if b.p.Spec.NodeSelector == nil {
		b.p.Spec.NodeSelector = map[string]string{}
	}
	b.p.Spec.NodeSelector[k] = v
	return b
}

func (b *PodBuilder) affinity() *v1.Affinity {
	if b.p.Spec.Affinity == nil {
		b.p.Spec.Affinity = &v1.Affinity{}
	}
	return b.p.Spec.Affinity
}

// RequiredNodeAffinity adds a required node selector term with one
// requirement.
func (b *PodBuilder) RequiredNodeAffinity(key string, op v1.NodeSelectorOperator, values ...string) *PodBuilder {
	a := b.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	if a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{}
	}
	ns := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, v1.NodeSelectorTerm{
		MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}})
	return b
}

// RequiredNodeName adds a required term matching the node name by field.
func (b *PodBuilder) RequiredNodeName(names ...string) *PodBuilder {
	a := b.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	if a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{}
	}
	ns := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, v1.NodeSelectorTerm{
		MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: names}}})
	return b
}

// PreferredNodeAffinity adds a preferred term.
func (b *PodBuilder) PreferredNodeAffinity(weight int32, key string, values ...string) *PodBuilder {
	a := b.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &v1.NodeAffinity{}
	}
	a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.PreferredSchedulingTerm{Weight: weight, Preference: v1.NodeSelectorTerm{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}}}})
	return b
}

// term builds a pod affinity term selecting pods with label k=v.
func term(topologyKey, k, v string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{TopologyKey: topologyKey,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}}
}

// PodAffinity adds a required pod affinity term to pods labelled k=v.
func (b *PodBuilder) PodAffinity(topologyKey, k, v string) *PodBuilder {
	a := b.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &v1.PodAffinity{}
	}
	a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term(topologyKey, k, v))
	return b
}

// PodAntiAffinity adds a required pod anti-affinity term to pods labelled k=v.
func (b *PodBuilder) PodAntiAffinity(topologyKey, k, v string) *PodBuilder {
	a := b.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term(topologyKey, k, v))
	return b
}

// PreferredPodAffinity adds a preferred pod affinity term.
func (b *PodBuilder) PreferredPodAffinity(weight int32, topologyKey, k, v string) *PodBuilder {
	a := b.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &v1.PodAffinity{}
	}
	a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term(topologyKey, k, v)})
	return b
}

// PreferredPodAntiAffinity adds a preferred pod anti-affinity term.
func (b *PodBuilder) PreferredPodAntiAffinity(weight int32, topologyKey, k, v string) *PodBuilder {
	a := b.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &v1.PodAntiAffinity{}
	}
	a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		v1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term(topologyKey, k, v)})
	return b
}

// Spread adds a topology spread constraint over pods labelled k=v.
func (b *PodBuilder) Spread(maxSkew int32, topologyKey string, when v1.UnsatisfiableConstraintAction, k, v string) *PodBuilder {
	b.p.Spec.TopologySpreadConstraints = append(b.p.Spec.TopologySpreadConstraints, v1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: topologyKey, WhenUnsatisfiable: when,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}})
	return b
}

// SpreadMinDomains sets minDomains on the last spread constraint.
func (b *PodBuilder) SpreadMinDomains(n int32) *PodBuilder {
	c := &b.p.Spec.TopologySpreadConstraints[len(b.p.Spec.TopologySpreadConstraints)-1]
	c.MinDomains = &n
	return b
}

// SpreadNodeTaintsPolicy sets nodeTaintsPolicy on the last constraint.
func (b *PodBuilder) SpreadNodeTaintsPolicy(p v1.NodeInclusionPolicy) *PodBuilder {
	c := &b.p.Spec.TopologySpreadConstraints[len(b.p.Spec.TopologySpreadConstraints)-1]
	c.NodeTaintsPolicy = &p
	return b
}

// SpreadNodeAffinityPolicy sets nodeAffinityPolicy on the last constraint.
func (b *PodBuilder) SpreadNodeAffinityPolicy(p v1.NodeInclusionPolicy) *PodBuilder {
	c := &b.p.Spec.TopologySpreadConstraints[len(b.p.Spec.TopologySpreadConstraints)-1]
	c.NodeAffinityPolicy = &p
	return b
}

// Toleration adds a toleration (operator Equal, or Exists if value is "").
func (b *PodBuilder) Toleration(key, value string, effect v1.TaintEffect) *PodBuilder {
	op := v1.TolerationOpEqual
	if value == "" {
		op = v1.TolerationOpExists
	}
	b.p.Spec.Tolerations = append(b.p.Spec.Tolerations, v1.Toleration{Key: key, Operator: op, Value: value, Effect: effect})
	return b
}

// PVC adds a volume backed by claim.
func (b *PodBuilder) PVC(claim string) *PodBuilder {
	b.p.Spec.Volumes = append(b.p.Spec.Volumes, v1.Volume{Name: "v-" + claim,
		VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	return b
}

// Deadline sets activeDeadlineSeconds.
func (b *PodBuilder) Deadline(s int64) *PodBuilder { b.p.Spec.ActiveDeadlineSeconds = &s; return b }

// Gate adds a scheduling gate.
func (b *PodBuilder) Gate(name string) *PodBuilder {
	b.p.Spec.SchedulingGates = append(b.p.Spec.SchedulingGates, v1.PodSchedulingGate{Name: name})
	return b
}

// StartTime sets status.startTime.
func (b *PodBuilder) StartTime(t time.Time) *PodBuilder {
	st := metav1.NewTime(t)
	b.p.Status.StartTime = &st
	return b
}

// Nominated sets status.nominatedNodeName.
func (b *PodBuilder) Nominated(node string) *PodBuilder {
	b.p.Status.NominatedNodeName = node
	return b
}

// Terminating sets a deletion timestamp.
func (b *PodBuilder) Terminating() *PodBuilder {
	t := metav1.NewTime(time.Unix(1700000100, 0))
	b.p.DeletionTimestamp = &t
	return b
}

// NodeBuilder builds a node.
type NodeBuilder struct{ n *v1.Node }

// Node starts a Ready node with 4 cpu, 8Gi memory, 110 pods and the
// kubernetes.io/hostname label.
func Node(name string) *NodeBuilder {
	nb := &NodeBuilder{n: &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-node-" + name), Labels: map[string]string{v1.LabelHostname: name}},
		Status:     v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}},
	}}
	return nb.Cap("4", "8Gi", 110)
}

// Obj returns the node.
func (b *NodeBuilder) Obj() *v1.Node { return b.n }

// Cap sets capacity and allocatable.
func (b *NodeBuilder) Cap(cpu, mem string, pods int64) *NodeBuilder {
	rl := resources(cpu, mem)
	rl[v1.ResourcePods] = *resource.NewQuantity(pods, resource.DecimalSI)
	b.n.Status.Capacity = rl
	b.n.Status.Allocatable = rl.DeepCopy()
	return b
}

// Alloc sets one allocatable (and capacity) quantity.
func (b *NodeBuilder) Alloc(name v1.ResourceName, q string) *NodeBuilder {
	b.n.Status.Allocatable[name] = resource.MustParse(q)
	b.n.Status.Capacity[name] = resource.MustParse(q)
	return b
}

// Label adds a label.
func (b *NodeBuilder) Label(k, v string) *NodeBuilder { b.n.Labels[k] = v; return b }

// Zone sets the topology zone label.
func (b *NodeBuilder) Zone(z string) *NodeBuilder { return b.Label(v1.LabelTopologyZone, z) }

// Taint adds a taint.
func (b *NodeBuilder) Taint(key, value string, effect v1.TaintEffect) *NodeBuilder {
	b.n.Spec.Taints = append(b.n.Spec.Taints, v1.Taint{Key: key, Value: value, Effect: effect})
	return b
}

// Unschedulable cordons the node.
func (b *NodeBuilder) Unschedulable() *NodeBuilder { b.n.Spec.Unschedulable = true; return b }

// Image adds an image with its size.
func (b *NodeBuilder) Image(name string, size int64) *NodeBuilder {
	b.n.Status.Images = append(b.n.Status.Images, v1.ContainerImage{Names: []string{name}, SizeBytes: size})
	return b
}

// PVC returns a claim in "default" requesting size with access mode
// ReadWriteOnce and storage class class ("" for none).
func PVC(name, size, class string) *v1.PersistentVolumeClaim {
	c := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-pvc-" + name)},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources:   v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	if class != "" {
		c.Spec.StorageClassName = &class
	}
	return c
}

// PV returns an available volume of size and class, reachable only from
// node if node is not "".
func PV(name, size, class, node string) *v1.PersistentVolume {
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-pv-" + name)},
		Spec: v1.PersistentVolumeSpec{
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse(size)},
			AccessModes:            []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			StorageClassName:       class,
			PersistentVolumeSource: v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/tmp/" + name}},
		},
		Status: v1.PersistentVolumeStatus{Phase: v1.VolumeAvailable},
	}
	if node != "" {
		pv.Spec.NodeAffinity = &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
			MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{node}}}}}}}
	}
	return pv
}

// StorageClass returns a class with the given provisioner, binding
// WaitForFirstConsumer if wffc, else Immediate.
func StorageClass(name, provisioner string, wffc bool) *storagev1.StorageClass {
	mode := storagev1.VolumeBindingImmediate
	if wffc {
		mode = storagev1.VolumeBindingWaitForFirstConsumer
	}
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
}

// Logger returns a logger that discards everything.
func Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }
