package admission

import (
	"context"
	"fmt"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/localpv"
)

// NodeRestrictionLabelPrefix is the label namespace only administrators
// may set on nodes: labels under it are safe to steer workloads with,
// since a node cannot give them to itself.
const NodeRestrictionLabelPrefix = "node-restriction.kubernetes.io"

// kubeletLabels are the kubernetes.io labels a node may set on itself, as
// Kubernetes' kubelet does; kubeletLabelNamespaces are whole label
// namespaces it may use.
var (
	kubeletLabels = map[string]bool{
		corev1.LabelHostname: true, corev1.LabelTopologyZone: true, corev1.LabelTopologyRegion: true,
		corev1.LabelFailureDomainBetaZone: true, corev1.LabelFailureDomainBetaRegion: true,
		corev1.LabelInstanceType: true, corev1.LabelInstanceTypeStable: true,
		corev1.LabelOSStable: true, corev1.LabelArchStable: true,
		"beta.kubernetes.io/os": true, "beta.kubernetes.io/arch": true,
	}
	kubeletLabelNamespaces = []string{"kubelet.kubernetes.io", "node.kubernetes.io"}
)

// NodeRestriction is Kubernetes' NodeRestriction plugin. It limits what a
// node identity (system:node:<name> in system:nodes) may write, beyond
// what the node authorizer decides from the request alone:
//   - its own Node only, without changing its taints or giving itself
//     labels outside the kubelet's set (never node-restriction.kubernetes.io/);
//   - its own Lease in kube-node-lease only;
//   - pods: only mirror pods bound to itself, owned by its Node and
//     referencing no secrets, config maps, claims or service account;
//     delete, evict and update the status only of pods bound to itself,
//     without changing their labels;
//   - persistent volume claims: only status.capacity, conditions and
//     allocated resources;
//   - persistent volumes: only those pinned to itself (localpv.PinnedNode),
//     and only their finalizers, labels, annotations and status: never
//     their spec (which says where the data is), never create or delete;
//   - service account tokens: only bound to a pod on itself.
//
// Other users pass untouched.
type NodeRestriction struct {
	Objects Objects
}

var _ Interface = (*NodeRestriction)(nil)

// Mutate implements Interface.Mutate: nothing to change.
func (*NodeRestriction) Mutate(context.Context, *Attributes) error { return nil }

// Validate implements Interface.Validate.
func (p *NodeRestriction) Validate(ctx context.Context, a *Attributes) error {
	node, isNode := authn.NodeIdentity(a.User)
	if !isNode {
		return nil
	}
	forbid := func(format string, args ...any) error {
		return apierrors.NewForbidden(a.Resource.GroupResource(), a.Name, fmt.Errorf(format, args...))
	}
	if node == "" {
		return forbid("could not determine node from user %q", a.User.Name)
	}
	gr := a.Resource.GroupResource()
	switch gr {
	case schema.GroupResource{Resource: "pods"}:
		switch a.Subresource {
		case "":
			return p.pod(ctx, node, a, forbid)
		case "status":
			return podStatus(node, a, forbid)
		case "eviction":
			return p.eviction(ctx, node, a, forbid)
		default:
			return forbid("unexpected pod subresource %q, only 'status' and 'eviction' are allowed", a.Subresource)
		}
	case schema.GroupResource{Resource: "nodes"}:
		return nodeObject(node, a, forbid)
	case schema.GroupResource{Resource: "persistentvolumeclaims"}:
		if a.Subresource != "status" {
			return forbid("may only update PVC status")
		}
		return pvcStatus(node, a, forbid)
	case schema.GroupResource{Resource: "persistentvolumes"}:
		return persistentVolume(node, a, forbid)
	case schema.GroupResource{Resource: "serviceaccounts"}:
		return p.token(ctx, node, a, forbid)
	case schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}:
		return lease(node, a, forbid)
	}
	return nil
}

type forbidFunc func(format string, args ...any) error

func (p *NodeRestriction) pod(ctx context.Context, node string, a *Attributes, forbid forbidFunc) error {
	switch a.Operation {
	case Create:
		return p.mirrorPod(ctx, node, a, forbid)
	case Delete:
		old, ok := a.OldObject.(*corev1.Pod)
		if !ok {
			return forbid("unexpected type %T", a.OldObject)
		}
		if old.Spec.NodeName != node {
			return forbid("node %q can only delete pods with spec.nodeName set to itself", node)
		}
		return nil
	default:
		return forbid("unexpected operation %q, node %q can only create and delete mirror pods", a.Operation, node)
	}
}

func (p *NodeRestriction) mirrorPod(ctx context.Context, node string, a *Attributes, forbid forbidFunc) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok {
		return forbid("unexpected type %T", a.Object)
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
		return forbid("pod does not have %q annotation, node %q can only create mirror pods", corev1.MirrorPodAnnotationKey, node)
	}
	if pod.Spec.NodeName != node {
		return forbid("node %q can only create pods with spec.nodeName set to itself", node)
	}
	switch len(pod.OwnerReferences) {
	case 0:
		return forbid("node %q can only create pods with an owner reference set to itself", node)
	case 1:
	default:
		return forbid("node %q can only create pods with a single owner reference set to itself", node)
	}
	owner := pod.OwnerReferences[0]
	if owner.APIVersion != "v1" || owner.Kind != "Node" || owner.Name != node {
		return forbid("node %q can only create pods with an owner reference set to itself", node)
	}
	if owner.Controller == nil || !*owner.Controller {
		return forbid("node %q can only create pods with a controller owner reference set to itself", node)
	}
	if owner.BlockOwnerDeletion != nil && *owner.BlockOwnerDeletion {
		return forbid("node %q must not set blockOwnerDeletion on an owner reference", node)
	}
	obj, err := p.Objects.Get(ctx, schema.GroupResource{Resource: "nodes"}, "", node)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return forbid("error looking up node %s to verify uid: %v", node, err)
	}
	if uid := obj.(*corev1.Node).UID; owner.UID != uid {
		return forbid("node %s UID mismatch: expected %s got %s", node, owner.UID, uid)
	}
	if pod.Spec.ServiceAccountName != "" {
		return forbid("node %q can not create pods that reference a service account", node)
	}
	secrets, configMaps, claims := podReferences(&pod.Spec)
	switch {
	case secrets:
		return forbid("node %q can not create pods that reference secrets", node)
	case configMaps:
		return forbid("node %q can not create pods that reference configmaps", node)
	case claims:
		return forbid("node %q can not create pods that reference persistentvolumeclaims", node)
	}
	return nil
}

// podReferences reports whether a pod spec uses secrets, config maps or
// persistent volume claims.
func podReferences(spec *corev1.PodSpec) (secrets, configMaps, claims bool) {
	secrets = len(spec.ImagePullSecrets) > 0
	for _, v := range spec.Volumes {
		vs := v.VolumeSource
		claims = claims || vs.PersistentVolumeClaim != nil || vs.Ephemeral != nil
		configMaps = configMaps || vs.ConfigMap != nil
		secrets = secrets || vs.Secret != nil ||
			(vs.AzureFile != nil && vs.AzureFile.SecretName != "") ||
			(vs.CephFS != nil && vs.CephFS.SecretRef != nil) ||
			(vs.Cinder != nil && vs.Cinder.SecretRef != nil) ||
			(vs.FlexVolume != nil && vs.FlexVolume.SecretRef != nil) ||
			(vs.RBD != nil && vs.RBD.SecretRef != nil) ||
			(vs.ScaleIO != nil && vs.ScaleIO.SecretRef != nil) ||
			(vs.ISCSI != nil && vs.ISCSI.SecretRef != nil) ||
			(vs.StorageOS != nil && vs.StorageOS.SecretRef != nil) ||
			(vs.CSI != nil && vs.CSI.NodePublishSecretRef != nil)
		if vs.Projected != nil {
			for _, src := range vs.Projected.Sources {
				secrets = secrets || src.Secret != nil
				configMaps = configMaps || src.ConfigMap != nil
			}
		}
	}
	visit := func(c *corev1.Container) {
		for _, e := range c.EnvFrom {
			secrets = secrets || e.SecretRef != nil
			configMaps = configMaps || e.ConfigMapRef != nil
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				secrets = secrets || e.ValueFrom.SecretKeyRef != nil
				configMaps = configMaps || e.ValueFrom.ConfigMapKeyRef != nil
			}
		}
	}
	for i := range spec.InitContainers {
		visit(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		visit(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		visit((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	return secrets, configMaps, claims
}

func podStatus(node string, a *Attributes, forbid forbidFunc) error {
	if a.Operation != Update {
		return forbid("unexpected operation %q", a.Operation)
	}
	old, ok1 := a.OldObject.(*corev1.Pod)
	pod, ok2 := a.Object.(*corev1.Pod)
	if !ok1 || !ok2 {
		return forbid("unexpected type %T", a.Object)
	}
	if old.Spec.NodeName != node {
		return forbid("node %q can only update pod status for pods with spec.nodeName set to itself", node)
	}
	if !equalStrings(old.Labels, pod.Labels) {
		return forbid("node %q cannot update labels through pod status", node)
	}
	return nil
}

func (p *NodeRestriction) eviction(ctx context.Context, node string, a *Attributes, forbid forbidFunc) error {
	if a.Operation != Create {
		return forbid("unexpected operation %s", a.Operation)
	}
	pod, ok := a.OldObject.(*corev1.Pod)
	if !ok {
		obj, err := p.Objects.Get(ctx, schema.GroupResource{Resource: "pods"}, a.Namespace, a.Name)
		if err != nil {
			return err
		}
		pod = obj.(*corev1.Pod)
	}
	if pod.Spec.NodeName != node {
		return forbid("node %s can only evict pods with spec.nodeName set to itself", node)
	}
	return nil
}

func nodeObject(node string, a *Attributes, forbid forbidFunc) error {
	name := a.Name
	if a.Operation == Create {
		if n, ok := a.Object.(*corev1.Node); ok {
			name = n.Name
		}
	}
	if name != node {
		return forbid("node %q is not allowed to modify node %q", node, name)
	}
	switch a.Operation {
	case Create:
		n, ok := a.Object.(*corev1.Node)
		if !ok {
			return forbid("unexpected type %T", a.Object)
		}
		if n.Spec.ConfigSource != nil { //nolint:staticcheck // still in the API; Kubernetes refuses it
			return forbid("node %q is not allowed to create pods with a non-nil configSource", node)
		}
		if bad := forbiddenLabels(modifiedLabels(n.Labels, nil)); len(bad) > 0 {
			return forbid("node %q is not allowed to set the following labels: %s", node, strings.Join(bad, ", "))
		}
	case Update:
		n, ok1 := a.Object.(*corev1.Node)
		old, ok2 := a.OldObject.(*corev1.Node)
		if !ok1 || !ok2 {
			return forbid("unexpected type %T", a.Object)
		}
		if n.Spec.ConfigSource != nil && !apiequality.Semantic.DeepEqual(n.Spec.ConfigSource, old.Spec.ConfigSource) { //nolint:staticcheck // as above
			return forbid("node %q is not allowed to update configSource to a new non-nil configSource", node)
		}
		if !apiequality.Semantic.DeepEqual(n.Spec.Taints, old.Spec.Taints) {
			return forbid("node %q is not allowed to modify taints", node)
		}
		if bad := forbiddenLabels(modifiedLabels(n.Labels, old.Labels)); len(bad) > 0 {
			return forbid("is not allowed to modify labels: %s", strings.Join(bad, ", "))
		}
	}
	return nil
}

// modifiedLabels returns the keys whose values differ between a and b
// (present in one only included).
func modifiedLabels(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// forbiddenLabels returns, sorted, the labels a node may not set on
// itself: node-restriction.kubernetes.io ones, and kubernetes.io or k8s.io
// ones outside the kubelet's set.
func forbiddenLabels(keys []string) []string {
	var bad []string
	for _, k := range keys {
		ns := labelNamespace(k)
		if inNamespace(ns, NodeRestrictionLabelPrefix) ||
			((inNamespace(ns, "kubernetes.io") || inNamespace(ns, "k8s.io")) && !kubeletLabel(k, ns)) {
			bad = append(bad, k)
		}
	}
	sort.Strings(bad)
	return bad
}

func kubeletLabel(key, ns string) bool {
	if kubeletLabels[key] {
		return true
	}
	for _, allowed := range kubeletLabelNamespaces {
		if inNamespace(ns, allowed) {
			return true
		}
	}
	return false
}

// inNamespace: ns is domain or one of its subdomains.
func inNamespace(ns, domain string) bool {
	return ns == domain || strings.HasSuffix(ns, "."+domain)
}

func labelNamespace(key string) string {
	if i := strings.Index(key, "/"); i >= 0 {
		return key[:i]
	}
	return ""
}

func pvcStatus(node string, a *Attributes, forbid forbidFunc) error {
	if a.Operation != Update {
		return forbid("unexpected operation %q", a.Operation)
	}
	pvc, ok1 := a.Object.(*corev1.PersistentVolumeClaim)
	old, ok2 := a.OldObject.(*corev1.PersistentVolumeClaim)
	if !ok1 || !ok2 {
		return forbid("unexpected type %T", a.Object)
	}
	strip := func(c *corev1.PersistentVolumeClaim) *corev1.PersistentVolumeClaim {
		c = c.DeepCopy()
		c.ResourceVersion, c.ManagedFields = "", nil
		c.Status.Capacity, c.Status.Conditions = nil, nil
		c.Status.AllocatedResources, c.Status.AllocatedResourceStatuses = nil, nil
		return c
	}
	if !apiequality.Semantic.DeepEqual(strip(old), strip(pvc)) {
		return forbid("node %q is not allowed to update fields other than status.capacity and status.conditions", node)
	}
	return nil
}

// persistentVolume lets a node update the persistent volumes pinned to
// it (its agent removes the local-path cleanup finalizer of the deleted
// ones) without changing anything but their finalizers, labels,
// annotations and status. The authorizer decided on the graph's view of
// the volume; this decides on the stored one.
func persistentVolume(node string, a *Attributes, forbid forbidFunc) error {
	if a.Operation != Update {
		return forbid("node %q is not allowed to %s persistent volumes", node, strings.ToLower(string(a.Operation)))
	}
	if a.Subresource != "" && a.Subresource != "status" {
		return forbid("unexpected persistent volume subresource %q, only 'status' is allowed", a.Subresource)
	}
	pv, ok1 := a.Object.(*corev1.PersistentVolume)
	old, ok2 := a.OldObject.(*corev1.PersistentVolume)
	if !ok1 || !ok2 {
		return forbid("unexpected type %T", a.Object)
	}
	if n, pinned := localpv.PinnedNode(old); !pinned || n != node {
		return forbid("node %q can only update persistent volumes whose node affinity pins them to itself", node)
	}
	if !apiequality.Semantic.DeepEqual(old.Spec, pv.Spec) {
		return forbid("node %q is not allowed to change the spec of a persistent volume", node)
	}
	// What a node may change, and what the server sets itself.
	strip := func(v *corev1.PersistentVolume) metav1.ObjectMeta {
		m := *v.ObjectMeta.DeepCopy()
		m.Finalizers, m.Labels, m.Annotations = nil, nil, nil
		m.ResourceVersion, m.ManagedFields, m.Generation = "", nil, 0
		return m
	}
	if !apiequality.Semantic.DeepEqual(strip(old), strip(pv)) {
		return forbid("node %q is not allowed to update persistent volume metadata other than finalizers, labels and annotations", node)
	}
	return nil
}

func (p *NodeRestriction) token(ctx context.Context, node string, a *Attributes, forbid forbidFunc) error {
	if a.Operation != Create || a.Subresource != "token" {
		return nil
	}
	tr, ok := a.Object.(*authenticationv1.TokenRequest)
	if !ok {
		return forbid("unexpected type %T", a.Object)
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return forbid("node requested token not bound to a pod")
	}
	if ref.UID == "" {
		return forbid("node requested token with a pod binding without a uid")
	}
	obj, err := p.Objects.Get(ctx, schema.GroupResource{Resource: "pods"}, a.Namespace, ref.Name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	if ref.UID != pod.UID {
		return forbid("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID)
	}
	if pod.Spec.NodeName != node {
		return forbid("node requested token bound to a pod scheduled on a different node")
	}
	return nil
}

func lease(node string, a *Attributes, forbid forbidFunc) error {
	if a.Namespace != corev1.NamespaceNodeLease {
		return forbid("can only access leases in the %q system namespace", corev1.NamespaceNodeLease)
	}
	name := a.Name
	if a.Operation == Create {
		l, ok := a.Object.(*coordinationv1.Lease)
		if !ok {
			return forbid("unexpected type %T", a.Object)
		}
		name = l.Name
	}
	if name != node {
		return forbid("can only access node lease with the same name as the requesting node")
	}
	return nil
}

func equalStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
