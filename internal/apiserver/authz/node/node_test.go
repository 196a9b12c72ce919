package node

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

func pod(ns, name, node string, mutate func(*corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

func testGraph() *Graph {
	g := NewGraph()
	g.SetPod(pod("app", "web", "n1", func(s *corev1.PodSpec) {
		s.ServiceAccountName = "web-sa"
		s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
		s.Volumes = []corev1.Volume{
			{Name: "cert", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}},
			{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-conf"}}}},
			{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}}}}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
		}
		s.InitContainers = []corev1.Container{{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "init-env"}}}}}}
		s.Containers = []corev1.Container{{Env: []corev1.EnvVar{
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "pw"}}},
			{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "modes"}, Key: "m"}}},
		}}}
	}))
	g.SetPod(pod("app", "other", "n2", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "n2-only"}}}}
	}))
	g.SetPod(pod("app", "pending", "", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "unscheduled"}}}}
	}))
	g.SetPVC(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-data"}})
	g.SetPVC(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "unused"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-unused"}})
	g.SetPV(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-data"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
		CSI: &corev1.CSIPersistentVolumeSource{Driver: "d", VolumeHandle: "h", NodePublishSecretRef: &corev1.SecretReference{Namespace: "storage", Name: "csi-creds"}}}}})
	g.SetPV(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-unused"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
		RBD: &corev1.RBDPersistentVolumeSource{SecretRef: &corev1.SecretReference{Namespace: "storage", Name: "rbd-creds"}}}}})
	g.SetPV(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-local-n1"}, Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/podvisor/storage/pv-local-n1"}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}},
		}}}},
	}})
	g.SetPV(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-local-n1-n2"}, Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/podvisor/storage/pv-local-n1-n2"}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"n1", "n2"}}},
		}}}},
	}})
	return g
}

// labelled sets a's label selector; sel must parse.
func labelled(a authz.Attributes, sel string) authz.Attributes {
	s, err := labels.Parse(sel)
	if err != nil {
		panic(err)
	}
	a.LabelSelector = s
	return a
}

func req(verb, group, resource, sub, ns, name string) authz.Attributes {
	return authz.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func selected(a authz.Attributes, field, value string) authz.Attributes {
	a.FieldSelector = fields.OneTermEqualSelector(field, value)
	return a
}

func TestAuthorize(t *testing.T) {
	az := New(testGraph())
	n1, n2 := authn.NodeUser("n1"), authn.NodeUser("n2")
	tests := []struct {
		name       string
		u          *authn.User
		a          authz.Attributes
		want       authz.Decision
		wantReason string
	}{
		// Not a node: no opinion at all.
		{"regular user", &authn.User{Name: "alice"}, req("get", "", "secrets", "", "app", "tls"), authz.NoOpinion, ""},
		{"node group without node name", &authn.User{Name: "kubelet", Groups: []string{authn.NodesGroup}}, req("get", "", "nodes", "", "", "n1"), authz.NoOpinion, `unknown node for user "kubelet"`},
		// Secrets and configmaps its pods use.
		{"secret volume", n1, req("get", "", "secrets", "", "app", "tls"), authz.Allow, ""},
		{"image pull secret", n1, req("get", "", "secrets", "", "app", "pull"), authz.Allow, ""},
		{"env secret", n1, req("get", "", "secrets", "", "app", "db"), authz.Allow, ""},
		{"init envFrom secret", n1, req("get", "", "secrets", "", "app", "init-env"), authz.Allow, ""},
		{"watch one secret by field selector", n1, selected(req("watch", "", "secrets", "", "app", ""), "metadata.name", "tls"), authz.Allow, ""},
		{"list all secrets", n1, req("list", "", "secrets", "", "app", ""), authz.NoOpinion, "No Object name found"},
		{"secret of another node's pod", n1, req("get", "", "secrets", "", "app", "n2-only"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"secret of an unscheduled pod", n1, req("get", "", "secrets", "", "app", "unscheduled"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"same name, other namespace", n1, req("get", "", "secrets", "", "kube-system", "tls"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"update a secret", n1, req("update", "", "secrets", "", "app", "tls"), authz.NoOpinion, "can only read resources of this type"},
		{"configmap volume", n1, req("get", "", "configmaps", "", "app", "web-conf"), authz.Allow, ""},
		{"projected configmap", n1, req("get", "", "configmaps", "", "app", "kube-root-ca.crt"), authz.Allow, ""},
		{"env configmap", n1, req("get", "", "configmaps", "", "app", "modes"), authz.Allow, ""},
		// Volumes.
		{"claim", n1, req("get", "", "persistentvolumeclaims", "", "app", "data"), authz.Allow, ""},
		{"ephemeral claim", n1, req("get", "", "persistentvolumeclaims", "", "app", "web-scratch"), authz.Allow, ""},
		{"claim not used", n1, req("get", "", "persistentvolumeclaims", "", "app", "unused"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"claim status", n1, req("patch", "", "persistentvolumeclaims", "status", "app", "data"), authz.Allow, ""},
		{"volume through claim", n1, req("get", "", "persistentvolumes", "", "", "pv-data"), authz.Allow, ""},
		{"volume of an unused claim", n1, req("get", "", "persistentvolumes", "", "", "pv-unused"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"secret of a volume its pods use", n1, req("get", "", "secrets", "", "storage", "csi-creds"), authz.Allow, ""},
		{"secret of a volume no pod of it uses", n1, req("get", "", "secrets", "", "storage", "rbd-creds"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		// The agent finds its deleted local volumes (local-path cleanup).
		{"list volumes", n1, req("list", "", "persistentvolumes", "", "", ""), authz.NoOpinion, "can only list/watch persistent volumes with the podvisor.io/volume-node=n1 label selector"},
		{"watch volumes", n1, req("watch", "", "persistentvolumes", "", "", ""), authz.NoOpinion, "can only list/watch persistent volumes with the podvisor.io/volume-node=n1 label selector"},
		{"list own volumes", n1, labelled(req("list", "", "persistentvolumes", "", "", ""), "podvisor.io/volume-node=n1"), authz.Allow, ""},
		{"watch own volumes", n1, labelled(req("watch", "", "persistentvolumes", "", "", ""), "podvisor.io/volume-node=n1"), authz.Allow, ""},
		{"watch own volumes, narrower", n1, labelled(req("watch", "", "persistentvolumes", "", "", ""), "app=x,podvisor.io/volume-node=n1"), authz.Allow, ""},
		{"watch another node's volumes", n2, labelled(req("watch", "", "persistentvolumes", "", "", ""), "podvisor.io/volume-node=n1"), authz.NoOpinion, "can only list/watch persistent volumes with the podvisor.io/volume-node=n2 label selector"},
		{"watch volumes of two nodes", n1, labelled(req("watch", "", "persistentvolumes", "", "", ""), "podvisor.io/volume-node in (n1,n2)"), authz.NoOpinion, "can only list/watch persistent volumes with the podvisor.io/volume-node=n1 label selector"},
		{"watch volumes, label not n2", n1, labelled(req("watch", "", "persistentvolumes", "", "", ""), "podvisor.io/volume-node!=n2"), authz.NoOpinion, "can only list/watch persistent volumes with the podvisor.io/volume-node=n1 label selector"},
		{"watch volumes by field selector", n1, selected(req("watch", "", "persistentvolumes", "", "", ""), "metadata.name", "pv-local-n1"), authz.NoOpinion, "can only list/watch persistent volumes with the podvisor.io/volume-node=n1 label selector"},
		{"local volume on the node", n1, req("get", "", "persistentvolumes", "", "", "pv-local-n1"), authz.Allow, ""},
		{"patch local volume on the node", n1, req("patch", "", "persistentvolumes", "", "", "pv-local-n1"), authz.Allow, ""},
		{"update local volume on the node", n1, req("update", "", "persistentvolumes", "", "", "pv-local-n1"), authz.Allow, ""},
		{"update status of local volume on the node", n1, req("update", "", "persistentvolumes", "status", "", "pv-local-n1"), authz.Allow, ""},
		{"patch local volume of another node", n2, req("patch", "", "persistentvolumes", "", "", "pv-local-n1"), authz.NoOpinion, "no relationship found between node 'n2' and this object"},
		{"update status of local volume of another node", n2, req("update", "", "persistentvolumes", "status", "", "pv-local-n1"), authz.NoOpinion, "no relationship found between node 'n2' and this object"},
		{"get local volume of another node", n2, req("get", "", "persistentvolumes", "", "", "pv-local-n1"), authz.NoOpinion, "no relationship found between node 'n2' and this object"},
		{"volume naming two nodes", n1, req("patch", "", "persistentvolumes", "", "", "pv-local-n1-n2"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"delete local volume on the node", n1, req("delete", "", "persistentvolumes", "", "", "pv-local-n1"), authz.NoOpinion, "can only get, list, watch, update or patch persistent volumes"},
		{"create volume", n1, req("create", "", "persistentvolumes", "", "", ""), authz.NoOpinion, "can only get, list, watch, update or patch persistent volumes"},
		{"deletecollection own volumes", n1, labelled(req("deletecollection", "", "persistentvolumes", "", "", ""), "podvisor.io/volume-node=n1"), authz.NoOpinion, "can only get, list, watch, update or patch persistent volumes"},
		{"update without name", n1, req("update", "", "persistentvolumes", "", "", ""), authz.NoOpinion, "No Object name found"},
		{"patch a volume through claim", n1, req("patch", "", "persistentvolumes", "", "", "pv-data"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		// Service accounts.
		{"token for its pod's service account", n1, req("create", "", "serviceaccounts", "token", "app", "web-sa"), authz.Allow, ""},
		{"get its pod's service account", n1, req("get", "", "serviceaccounts", "", "app", "web-sa"), authz.Allow, ""},
		{"token for another service account", n1, req("create", "", "serviceaccounts", "token", "app", "default"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"create a service account", n1, req("create", "", "serviceaccounts", "", "app", ""), authz.NoOpinion, "can only create tokens for individual service accounts"},
		// Its Node.
		{"create node", n1, req("create", "", "nodes", "", "", ""), authz.Allow, ""},
		{"get own node", n1, req("get", "", "nodes", "", "", "n1"), authz.Allow, ""},
		{"list nodes", n1, req("list", "", "nodes", "", "", ""), authz.Allow, ""},
		{"patch own node", n1, req("patch", "", "nodes", "", "", "n1"), authz.Allow, ""},
		{"update own status", n1, req("update", "", "nodes", "status", "", "n1"), authz.Allow, ""},
		{"patch other node", n1, req("patch", "", "nodes", "", "", "n2"), authz.NoOpinion, "node 'n1' cannot modify node 'n2'"},
		{"update other node's status", n1, req("update", "", "nodes", "status", "", "n2"), authz.NoOpinion, "node 'n1' cannot modify node 'n2'"},
		{"delete own node", n1, req("delete", "", "nodes", "", "", "n1"), authz.NoOpinion, ""},
		// Its Lease.
		{"renew own lease", n1, req("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), authz.Allow, ""},
		{"create lease", n1, req("create", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), authz.Allow, ""},
		{"other node's lease", n1, req("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n2"), authz.NoOpinion, "can only access node lease with the same name as the requesting node"},
		{"lease elsewhere", n1, req("get", "coordination.k8s.io", "leases", "", "kube-system", "n1"), authz.NoOpinion, `can only access leases in the "kube-node-lease" system namespace`},
		{"list leases", n1, req("list", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), authz.NoOpinion, "can only get, create, update, patch, or delete a node lease"},
		// Pods.
		{"get own pod", n1, req("get", "", "pods", "", "app", "web"), authz.Allow, ""},
		{"get other node's pod", n1, req("get", "", "pods", "", "app", "other"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"watch own pods", n1, selected(req("watch", "", "pods", "", "", ""), "spec.nodeName", "n1"), authz.Allow, ""},
		{"list another node's pods", n1, selected(req("list", "", "pods", "", "", ""), "spec.nodeName", "n2"), authz.NoOpinion, "can only list/watch pods with spec.nodeName field selector"},
		{"list all pods", n1, req("list", "", "pods", "", "", ""), authz.NoOpinion, "can only list/watch pods with spec.nodeName field selector"},
		{"update own pod status", n1, req("patch", "", "pods", "status", "app", "web"), authz.Allow, ""},
		{"update other pod status", n1, req("update", "", "pods", "status", "app", "other"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"create mirror pod", n1, req("create", "", "pods", "", "kube-system", ""), authz.Allow, ""},
		{"delete own pod", n1, req("delete", "", "pods", "", "app", "web"), authz.Allow, ""},
		{"delete other pod", n1, req("delete", "", "pods", "", "app", "other"), authz.NoOpinion, "no relationship found between node 'n1' and this object"},
		{"evict own pod", n1, req("create", "", "pods", "eviction", "app", "web"), authz.Allow, ""},
		{"exec in pod", n1, req("create", "", "pods", "exec", "app", "web"), authz.NoOpinion, ""},
		{"update pod spec", n1, req("update", "", "pods", "", "app", "web"), authz.NoOpinion, ""},
		// The static system:node rules.
		{"create events", n1, req("create", "", "events", "", "app", ""), authz.Allow, ""},
		{"watch services", n1, req("watch", "", "services", "", "", ""), authz.Allow, ""},
		{"watch endpointslices", n1, req("watch", "discovery.k8s.io", "endpointslices", "", "", ""), authz.Allow, ""},
		{"read runtimeclasses", n1, req("get", "node.k8s.io", "runtimeclasses", "", "", "visor"), authz.Allow, ""},
		{"token review", n1, req("create", "authentication.k8s.io", "tokenreviews", "", "", ""), authz.Allow, ""},
		{"create deployments", n1, req("create", "apps", "deployments", "", "app", ""), authz.NoOpinion, ""},
		{"delete services", n1, req("delete", "", "services", "", "app", "s"), authz.NoOpinion, ""},
		{"non-resource path", n1, authz.Attributes{Verb: "get", Path: "/api"}, authz.NoOpinion, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.a
			a.User = tc.u
			d, reason, err := az.Authorize(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			if d != tc.want || reason != tc.wantReason {
				t.Errorf("Authorize = %v, %q; want %v, %q", d, reason, tc.want, tc.wantReason)
			}
		})
	}
}

func TestGraphUpdates(t *testing.T) {
	g := testGraph()
	az := New(g)
	n1, n2 := authn.NodeUser("n1"), authn.NodeUser("n2")
	getTLS := req("get", "", "secrets", "", "app", "tls")
	check := func(step string, u *authn.User, a authz.Attributes, want authz.Decision) {
		t.Helper()
		a.User = u
		if d, _, _ := az.Authorize(context.Background(), a); d != want {
			t.Errorf("%s: %s %s %s/%s = %v, want %v", step, u.Name, a.Verb, a.Resource, a.Name, d, want)
		}
	}
	check("initially", n1, getTLS, authz.Allow)

	// A second pod on n1 using the same secret keeps it reachable when the
	// first goes.
	g.SetPod(pod("app", "web-2", "n1", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}}}
	}))
	g.DeletePod("app", "web")
	check("after deleting one of two users", n1, getTLS, authz.Allow)
	check("after deleting the pod", n1, req("get", "", "pods", "", "app", "web"), authz.NoOpinion)
	check("after deleting the pod", n1, req("get", "", "configmaps", "", "app", "web-conf"), authz.NoOpinion)
	check("after deleting the pod", n1, req("get", "", "persistentvolumes", "", "", "pv-data"), authz.NoOpinion)
	check("after deleting the pod", n1, req("get", "", "secrets", "", "storage", "csi-creds"), authz.NoOpinion)

	// An updated pod stops referencing the secret.
	g.SetPod(pod("app", "web-2", "n1", nil))
	check("after the pod dropped the secret", n1, getTLS, authz.NoOpinion)
	check("default service account", n1, req("create", "", "serviceaccounts", "token", "app", "default"), authz.Allow)

	// A pod moving nodes (a bound pod never does, but a delete and
	// re-create with the same name can) moves its references.
	g.SetPod(pod("app", "web-2", "n2", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls"}}}}
	}))
	check("after the re-create on n2", n1, getTLS, authz.NoOpinion)
	check("after the re-create on n2", n2, getTLS, authz.Allow)

	// Rebinding a claim moves the volume.
	g.SetPod(pod("app", "db", "n2", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "unused"}}}}
	}))
	check("volume of claim now used", n2, req("get", "", "persistentvolumes", "", "", "pv-unused"), authz.Allow)
	check("volume secret of claim now used", n2, req("get", "", "secrets", "", "storage", "rbd-creds"), authz.Allow)
	g.DeletePV("pv-unused")
	check("volume secret after deleting the volume", n2, req("get", "", "secrets", "", "storage", "rbd-creds"), authz.NoOpinion)
	g.SetPVC(&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "unused"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-new"}})
	check("old volume after rebinding", n2, req("get", "", "persistentvolumes", "", "", "pv-unused"), authz.NoOpinion)
	check("new volume after rebinding", n2, req("get", "", "persistentvolumes", "", "", "pv-new"), authz.Allow)
	g.DeletePVC("app", "unused")
	check("volume after deleting the claim", n2, req("get", "", "persistentvolumes", "", "", "pv-new"), authz.NoOpinion)

	// A pinned volume whose affinity changes follows it; a deleted one is
	// forgotten.
	patchLocal := req("patch", "", "persistentvolumes", "", "", "pv-local-n1")
	check("pinned volume", n1, patchLocal, authz.Allow)
	g.SetPV(&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-local-n1"}, Spec: corev1.PersistentVolumeSpec{
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"n2"}}},
		}}}},
	}})
	check("volume pinned elsewhere", n1, patchLocal, authz.NoOpinion)
	check("volume pinned elsewhere", n2, patchLocal, authz.Allow)
	g.DeletePV("pv-local-n1")
	check("deleted pinned volume", n2, patchLocal, authz.NoOpinion)

	g.DeletePod("app", "web-2")
	g.DeletePod("app", "other")
	g.DeletePod("app", "db")
	g.DeletePod("app", "pending")
	g.mu.RLock()
	defer g.mu.RUnlock()
	if len(g.nodes) != 0 || len(g.pods) != 0 {
		t.Errorf("graph not empty after deleting every pod: %d nodes, %d pods", len(g.nodes), len(g.pods))
	}
}

func TestRulesFor(t *testing.T) {
	az := New(NewGraph())
	if _, _, incomplete, err := az.RulesFor(context.Background(), authn.NodeUser("n1"), "x"); !incomplete || err == nil {
		t.Errorf("RulesFor(node) incomplete=%v err=%v, want incomplete with an error", incomplete, err)
	}
	if _, _, incomplete, err := az.RulesFor(context.Background(), &authn.User{Name: "alice"}, "x"); incomplete || err != nil {
		t.Errorf("RulesFor(alice) incomplete=%v err=%v, want complete", incomplete, err)
	}
}
