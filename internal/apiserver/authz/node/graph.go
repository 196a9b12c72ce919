package node

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/localpv"
)

// kind is the type of an object a node may reach through its pods.
type kind uint8

const (
	secretKind kind = iota
	configMapKind
	pvcKind
	serviceAccountKind
)

// ref names a namespaced object a pod uses.
type ref struct {
	kind      kind
	namespace string
	name      string
}

type nsName struct{ namespace, name string }

// podEntry is what the graph remembers of a pod bound to a node.
type podEntry struct {
	node string
	refs []ref
}

// Graph records which objects each node may reach: the pods bound to it,
// and the secrets, configmaps, persistent volume claims (and the volumes
// bound to them, and those volumes' plugin secrets) and service accounts
// those pods use. The apiserver feeds it from its watch of pods, persistent
// volume claims and persistent volumes (SetPod/DeletePod, SetPVC/DeletePVC,
// SetPV/DeletePV); the node authorizer reads it. Safe for concurrent use.
//
// Each node keeps a reference count per object, so a lookup is two map
// reads whatever the number of pods.
type Graph struct {
	mu sync.RWMutex
	// +checklocks:mu
	pods map[nsName]podEntry
	// +checklocks:mu
	nodes map[string]map[ref]int
	// pvcVolume maps a claim to the volume it is bound to.
	// +checklocks:mu
	pvcVolume map[nsName]string
	// volumeClaims maps a volume to the claims bound to it (one, normally).
	// +checklocks:mu
	volumeClaims map[string]map[nsName]bool
	// volumeSecrets maps a persistent volume to the secrets its volume
	// plugin uses on the node, and secretVolumes back.
	// +checklocks:mu
	volumeSecrets map[string][]nsName
	// +checklocks:mu
	secretVolumes map[nsName]map[string]bool
	// volumeNode maps a persistent volume to the node it is pinned to
	// (localpv.PinnedNode): local volumes, whose node agent cleans them
	// up (podvisor.io/local-path-cleanup).
	// +checklocks:mu
	volumeNode map[string]string
}

// NewGraph returns an empty Graph.
func NewGraph() *Graph {
	return &Graph{
		pods:          map[nsName]podEntry{},
		nodes:         map[string]map[ref]int{},
		pvcVolume:     map[nsName]string{},
		volumeClaims:  map[string]map[nsName]bool{},
		volumeSecrets: map[string][]nsName{},
		secretVolumes: map[nsName]map[string]bool{},
		volumeNode:    map[string]string{},
	}
}

// SetPod records a pod's current state (added or updated). A pod not bound
// to a node (empty spec.nodeName) reaches nothing.
func (g *Graph) SetPod(p *corev1.Pod) {
	key := nsName{p.Namespace, p.Name}
	var e podEntry
	if p.Spec.NodeName != "" {
		e = podEntry{node: p.Spec.NodeName, refs: podRefs(p)}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removePodLocked(key)
	if e.node == "" {
		return
	}
	g.pods[key] = e
	counts := g.nodes[e.node]
	if counts == nil {
		counts = map[ref]int{}
		g.nodes[e.node] = counts
	}
	for _, r := range e.refs {
		counts[r]++
	}
}

// DeletePod forgets a pod.
func (g *Graph) DeletePod(namespace, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removePodLocked(nsName{namespace, name})
}

// +checklocks:g.mu
func (g *Graph) removePodLocked(key nsName) {
	old, ok := g.pods[key]
	if !ok {
		return
	}
	delete(g.pods, key)
	counts := g.nodes[old.node]
	for _, r := range old.refs {
		if counts[r] <= 1 {
			delete(counts, r)
		} else {
			counts[r]--
		}
	}
	if len(counts) == 0 {
		delete(g.nodes, old.node)
	}
}

// SetPVC records a claim's current state: the volume it is bound to
// (spec.volumeName), if any.
func (g *Graph) SetPVC(pvc *corev1.PersistentVolumeClaim) {
	key := nsName{pvc.Namespace, pvc.Name}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removePVCLocked(key)
	if pvc.Spec.VolumeName == "" {
		return
	}
	g.pvcVolume[key] = pvc.Spec.VolumeName
	claims := g.volumeClaims[pvc.Spec.VolumeName]
	if claims == nil {
		claims = map[nsName]bool{}
		g.volumeClaims[pvc.Spec.VolumeName] = claims
	}
	claims[key] = true
}

// DeletePVC forgets a claim.
func (g *Graph) DeletePVC(namespace, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removePVCLocked(nsName{namespace, name})
}

// +checklocks:g.mu
func (g *Graph) removePVCLocked(key nsName) {
	pv, ok := g.pvcVolume[key]
	if !ok {
		return
	}
	delete(g.pvcVolume, key)
	claims := g.volumeClaims[pv]
	delete(claims, key)
	if len(claims) == 0 {
		delete(g.volumeClaims, pv)
	}
}

// SetPV records the secrets a persistent volume's plugin needs on a node
// (CSI node stage/publish/expand secrets, and the secretRefs of the RBD,
// CephFS, iSCSI and FlexVolume plugins), so that a node running a pod
// whose claim is bound to the volume may read them; and the node the
// volume is pinned to (localpv.PinnedNode), which may maintain it.
func (g *Graph) SetPV(pv *corev1.PersistentVolume) {
	secrets := volumeSecretRefs(pv)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removePVLocked(pv.Name)
	if node, ok := localpv.PinnedNode(pv); ok {
		g.volumeNode[pv.Name] = node
	}
	if len(secrets) == 0 {
		return
	}
	g.volumeSecrets[pv.Name] = secrets
	for _, s := range secrets {
		vols := g.secretVolumes[s]
		if vols == nil {
			vols = map[string]bool{}
			g.secretVolumes[s] = vols
		}
		vols[pv.Name] = true
	}
}

// DeletePV forgets a persistent volume's secrets and node.
func (g *Graph) DeletePV(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removePVLocked(name)
}

// +checklocks:g.mu
func (g *Graph) removePVLocked(name string) {
	for _, s := range g.volumeSecrets[name] {
		delete(g.secretVolumes[s], name)
		if len(g.secretVolumes[s]) == 0 {
			delete(g.secretVolumes, s)
		}
	}
	delete(g.volumeSecrets, name)
	delete(g.volumeNode, name)
}

// volumePinned reports whether the persistent volume name is pinned to
// node (localpv.PinnedNode).
func (g *Graph) volumePinned(node, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.volumeNode[name]
	return ok && n == node
}

// reachesSecret reports whether node may read a secret: one of its pods
// uses it, or uses a claim bound to a volume whose plugin needs it.
func (g *Graph) reachesSecret(node, namespace, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.nodes[node][ref{kind: secretKind, namespace: namespace, name: name}] > 0 {
		return true
	}
	for pv := range g.secretVolumes[nsName{namespace, name}] {
		if g.reachesVolumeLocked(node, pv) {
			return true
		}
	}
	return false
}

// volumeSecretRefs lists the secrets a persistent volume's plugin uses.
func volumeSecretRefs(pv *corev1.PersistentVolume) []nsName {
	var out []nsName
	add := func(r *corev1.SecretReference) {
		if r != nil && r.Name != "" && r.Namespace != "" && !slices.Contains(out, nsName{r.Namespace, r.Name}) {
			out = append(out, nsName{r.Namespace, r.Name})
		}
	}
	claimNS := ""
	if pv.Spec.ClaimRef != nil {
		claimNS = pv.Spec.ClaimRef.Namespace
	}
	s := &pv.Spec.PersistentVolumeSource
	switch {
	case s.CSI != nil:
		add(s.CSI.NodeStageSecretRef)
		add(s.CSI.NodePublishSecretRef)
		add(s.CSI.NodeExpandSecretRef)
	case s.RBD != nil:
		add(s.RBD.SecretRef)
	case s.CephFS != nil:
		add(s.CephFS.SecretRef)
	case s.ISCSI != nil:
		add(s.ISCSI.SecretRef)
	case s.FlexVolume != nil:
		add(s.FlexVolume.SecretRef)
	case s.Cinder != nil:
		add(s.Cinder.SecretRef)
	case s.StorageOS != nil && s.StorageOS.SecretRef != nil:
		add(&corev1.SecretReference{Namespace: s.StorageOS.SecretRef.Namespace, Name: s.StorageOS.SecretRef.Name})
	case s.ScaleIO != nil:
		add(s.ScaleIO.SecretRef)
	case s.AzureFile != nil:
		// Without a namespace, the secret is in the claim's.
		ns := claimNS
		if s.AzureFile.SecretNamespace != nil {
			ns = *s.AzureFile.SecretNamespace
		}
		add(&corev1.SecretReference{Namespace: ns, Name: s.AzureFile.SecretName})
	}
	return out
}

// podOnNode reports whether pod namespace/name is bound to node.
func (g *Graph) podOnNode(node, namespace, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	e, ok := g.pods[nsName{namespace, name}]
	return ok && e.node == node
}

// reaches reports whether a pod bound to node uses the object.
func (g *Graph) reaches(node string, r ref) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.nodes[node][r] > 0
}

// reachesVolume reports whether a pod bound to node uses a claim bound to
// the persistent volume name.
func (g *Graph) reachesVolume(node, name string) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.reachesVolumeLocked(node, name)
}

// +checklocksread:g.mu
func (g *Graph) reachesVolumeLocked(node, name string) bool {
	counts := g.nodes[node]
	for c := range g.volumeClaims[name] {
		if counts[ref{kind: pvcKind, namespace: c.namespace, name: c.name}] > 0 {
			return true
		}
	}
	return false
}

// podRefs lists the objects a pod uses, without duplicates.
func podRefs(p *corev1.Pod) []ref {
	seen := map[ref]bool{}
	var out []ref
	add := func(k kind, name string) {
		if name == "" {
			return
		}
		r := ref{kind: k, namespace: p.Namespace, name: name}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	add(serviceAccountKind, sa)
	for _, s := range p.Spec.ImagePullSecrets {
		add(secretKind, s.Name)
	}
	for i := range p.Spec.Volumes {
		v := &p.Spec.Volumes[i]
		switch {
		case v.Secret != nil:
			add(secretKind, v.Secret.SecretName)
		case v.ConfigMap != nil:
			add(configMapKind, v.ConfigMap.Name)
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(secretKind, src.Secret.Name)
				}
				if src.ConfigMap != nil {
					add(configMapKind, src.ConfigMap.Name)
				}
			}
		case v.PersistentVolumeClaim != nil:
			add(pvcKind, v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			// A generic ephemeral volume's claim is named <pod>-<volume>.
			add(pvcKind, p.Name+"-"+v.Name)
		case v.CSI != nil && v.CSI.NodePublishSecretRef != nil:
			add(secretKind, v.CSI.NodePublishSecretRef.Name)
		case v.CephFS != nil && v.CephFS.SecretRef != nil:
			add(secretKind, v.CephFS.SecretRef.Name)
		case v.RBD != nil && v.RBD.SecretRef != nil:
			add(secretKind, v.RBD.SecretRef.Name)
		case v.ISCSI != nil && v.ISCSI.SecretRef != nil:
			add(secretKind, v.ISCSI.SecretRef.Name)
		case v.FlexVolume != nil && v.FlexVolume.SecretRef != nil:
			add(secretKind, v.FlexVolume.SecretRef.Name)
		case v.AzureFile != nil:
			add(secretKind, v.AzureFile.SecretName)
		case v.ScaleIO != nil && v.ScaleIO.SecretRef != nil:
			add(secretKind, v.ScaleIO.SecretRef.Name)
		case v.StorageOS != nil && v.StorageOS.SecretRef != nil:
			add(secretKind, v.StorageOS.SecretRef.Name)
		case v.Cinder != nil && v.Cinder.SecretRef != nil:
			add(secretKind, v.Cinder.SecretRef.Name)
		}
	}
	env := func(envFrom []corev1.EnvFromSource, envs []corev1.EnvVar) {
		for _, ef := range envFrom {
			if ef.SecretRef != nil {
				add(secretKind, ef.SecretRef.Name)
			}
			if ef.ConfigMapRef != nil {
				add(configMapKind, ef.ConfigMapRef.Name)
			}
		}
		for _, e := range envs {
			if e.ValueFrom == nil {
				continue
			}
			if e.ValueFrom.SecretKeyRef != nil {
				add(secretKind, e.ValueFrom.SecretKeyRef.Name)
			}
			if e.ValueFrom.ConfigMapKeyRef != nil {
				add(configMapKind, e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	}
	for i := range p.Spec.InitContainers {
		env(p.Spec.InitContainers[i].EnvFrom, p.Spec.InitContainers[i].Env)
	}
	for i := range p.Spec.Containers {
		env(p.Spec.Containers[i].EnvFrom, p.Spec.Containers[i].Env)
	}
	for i := range p.Spec.EphemeralContainers {
		env(p.Spec.EphemeralContainers[i].EnvFrom, p.Spec.EphemeralContainers[i].Env)
	}
	return out
}
