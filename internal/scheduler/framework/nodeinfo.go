package framework

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// ImageStateSummary is what the scheduler knows of one container image on
// a node: its size and on how many nodes it is present.
type ImageStateSummary struct {
	Size     int64
	NumNodes int
}

// NodeInfo is a node with the pods the scheduler accounts to it (bound and
// assumed) and aggregates derived from them. Plugins treat it as read-only;
// the cache builds it and the snapshot hands out clones of it.
type NodeInfo struct {
	node *v1.Node

	// Pods are all pods on the node, assumed ones included.
	Pods []*PodInfo
	// PodsWithAffinity are the pods with any pod (anti-)affinity term.
	PodsWithAffinity []*PodInfo
	// PodsWithRequiredAntiAffinity are the pods with a required
	// anti-affinity term.
	PodsWithRequiredAntiAffinity []*PodInfo
	// UsedPorts are the host ports taken by the pods.
	UsedPorts HostPortInfo
	// Requested is the sum of the pods' effective requests.
	Requested Resource
	// NonZeroRequested is the sum of the pods' requests with scoring
	// defaults (cpu and memory only).
	NonZeroRequested Resource
	// Allocatable is the node's status.allocatable.
	Allocatable Resource
	// ImageStates are the node's images by every name they are known by.
	ImageStates map[string]*ImageStateSummary
	// PVCRefCounts counts the pods using each claim ("namespace/name").
	PVCRefCounts map[string]int
	// Generation is bumped by the cache whenever the NodeInfo changes; a
	// snapshot copies only the NodeInfos newer than itself.
	Generation int64
}

// NewNodeInfo returns a NodeInfo with pods and no node.
func NewNodeInfo(pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{UsedPorts: HostPortInfo{}, ImageStates: map[string]*ImageStateSummary{}, PVCRefCounts: map[string]int{}}
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// Node returns the node, nil if the cache knows pods on a node it has not
// seen (yet).
func (n *NodeInfo) Node() *v1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// SetNode sets the node and its allocatable resources.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.node = node
	n.Allocatable = NewResource(node.Status.Allocatable)
}

// RemoveNode forgets the node but keeps the pods (they may still be
// running there and will be removed by their own delete events).
func (n *NodeInfo) RemoveNode() { n.node = nil }

// AddPod adds pod, parsing it.
func (n *NodeInfo) AddPod(pod *v1.Pod) { n.AddPodInfo(NewPodInfo(pod)) }

// AddPodInfo adds an already parsed pod.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.HasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.update(pi, 1)
}

// RemovePod removes the pod with pod's UID.
func (n *NodeInfo) RemovePod(pod *v1.Pod) error {
	for i, pi := range n.Pods {
		if pi.Pod.UID != pod.UID {
			continue
		}
		n.Pods = removeAt(n.Pods, i)
		n.PodsWithAffinity = removeUID(n.PodsWithAffinity, pod)
		n.PodsWithRequiredAntiAffinity = removeUID(n.PodsWithRequiredAntiAffinity, pod)
		n.update(pi, -1)
		return nil
	}
	name := "<none>"
	if n.node != nil {
		name = n.node.Name
	}
	return fmt.Errorf("pod %s/%s (uid %s) is not on node %s", pod.Namespace, pod.Name, pod.UID, name)
}

// removeAt removes element i keeping order (plugins and tests rely on the
// pods' order being stable); the backing array is never shared with a
// clone, so in-place removal is safe.
func removeAt(s []*PodInfo, i int) []*PodInfo {
	copy(s[i:], s[i+1:])
	s[len(s)-1] = nil
	return s[:len(s)-1]
}

func removeUID(s []*PodInfo, pod *v1.Pod) []*PodInfo {
	for i, pi := range s {
		if pi.Pod.UID == pod.UID {
			return removeAt(s, i)
		}
	}
	return s
}

// update adds (sign 1) or subtracts (sign -1) the pod's aggregates.
func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	if sign > 0 {
		n.Requested.AddResource(&pi.Res.Requests)
	} else {
		n.Requested.SubResource(&pi.Res.Requests)
	}
	n.NonZeroRequested.MilliCPU += sign * pi.Res.NonZeroMilliCPU
	n.NonZeroRequested.Memory += sign * pi.Res.NonZeroMemory
	pod := pi.Pod
	if n.UsedPorts == nil {
		n.UsedPorts = HostPortInfo{}
	}
	if n.PVCRefCounts == nil {
		n.PVCRefCounts = map[string]int{}
	}
	for i := range pod.Spec.Containers {
		for _, p := range pod.Spec.Containers[i].Ports {
			if p.HostPort <= 0 {
				continue
			}
			if sign > 0 {
				n.UsedPorts.Add(p.HostIP, string(p.Protocol), p.HostPort)
			} else {
				n.UsedPorts.Remove(p.HostIP, string(p.Protocol), p.HostPort)
			}
		}
	}
	for i := range pod.Spec.Volumes {
		c := pod.Spec.Volumes[i].PersistentVolumeClaim
		if c == nil {
			continue
		}
		key := pod.Namespace + "/" + c.ClaimName
		n.PVCRefCounts[key] += int(sign)
		if n.PVCRefCounts[key] <= 0 {
			delete(n.PVCRefCounts, key)
		}
	}
}

// Clone returns a copy that can be changed (pods added or removed)
// without affecting n. PodInfos and ImageStates are shared: both are
// immutable.
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		node:             n.node,
		Pods:             append([]*PodInfo(nil), n.Pods...),
		UsedPorts:        n.UsedPorts.Clone(),
		Requested:        *n.Requested.Clone(),
		NonZeroRequested: *n.NonZeroRequested.Clone(),
		Allocatable:      *n.Allocatable.Clone(),
		ImageStates:      n.ImageStates,
		PVCRefCounts:     make(map[string]int, len(n.PVCRefCounts)),
		Generation:       n.Generation,
	}
	if len(n.PodsWithAffinity) > 0 {
		c.PodsWithAffinity = append([]*PodInfo(nil), n.PodsWithAffinity...)
	}
	if len(n.PodsWithRequiredAntiAffinity) > 0 {
		c.PodsWithRequiredAntiAffinity = append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...)
	}
	for k, v := range n.PVCRefCounts {
		c.PVCRefCounts[k] = v
	}
	return c
}

// String describes the node for logs and test failures.
func (n *NodeInfo) String() string {
	name := "<none>"
	if n.node != nil {
		name = n.node.Name
	}
	return fmt.Sprintf("NodeInfo{%s, %d pods, requested cpu %dm mem %d}", name, len(n.Pods), n.Requested.MilliCPU, n.Requested.Memory)
}

// DefaultBindAllIP is the wildcard host IP of a host port.
const DefaultBindAllIP = "0.0.0.0"

// ProtocolPort is a protocol and port pair.
type ProtocolPort struct {
	Protocol string
	Port     int32
}

// HostPortInfo records the host ports in use on a node, by host IP.
type HostPortInfo map[string]map[ProtocolPort]int

func normalizePort(ip, protocol string) (string, string) {
	if ip == "" {
		ip = DefaultBindAllIP
	}
	if protocol == "" {
		protocol = string(v1.ProtocolTCP)
	}
	return ip, protocol
}

// Add records one use of ip:port/protocol; "" means 0.0.0.0 and TCP.
func (h HostPortInfo) Add(ip, protocol string, port int32) {
	ip, protocol = normalizePort(ip, protocol)
	m := h[ip]
	if m == nil {
		m = map[ProtocolPort]int{}
		h[ip] = m
	}
	m[ProtocolPort{protocol, port}]++
}

// Remove drops one use of ip:port/protocol.
func (h HostPortInfo) Remove(ip, protocol string, port int32) {
	ip, protocol = normalizePort(ip, protocol)
	m := h[ip]
	if m == nil {
		return
	}
	pp := ProtocolPort{protocol, port}
	if m[pp]--; m[pp] <= 0 {
		delete(m, pp)
	}
	if len(m) == 0 {
		delete(h, ip)
	}
}

// CheckConflict reports whether binding ip:port/protocol would collide with
// a port in use: the same address, or either side being 0.0.0.0.
func (h HostPortInfo) CheckConflict(ip, protocol string, port int32) bool {
	if port <= 0 {
		return false
	}
	ip, protocol = normalizePort(ip, protocol)
	pp := ProtocolPort{protocol, port}
	if ip == DefaultBindAllIP {
		for _, m := range h {
			if m[pp] > 0 {
				return true
			}
		}
		return false
	}
	return h[ip][pp] > 0 || h[DefaultBindAllIP][pp] > 0
}

// Clone returns a deep copy.
func (h HostPortInfo) Clone() HostPortInfo {
	c := make(HostPortInfo, len(h))
	for ip, m := range h {
		cm := make(map[ProtocolPort]int, len(m))
		for k, v := range m {
			cm[k] = v
		}
		c[ip] = cm
	}
	return c
}
