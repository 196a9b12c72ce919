package admission_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/admission"
	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/localpv"
	"github.com/podvisor/podvisor/internal/registry"
)

var pvInfo = registry.Info{Version: "v1", Resource: "persistentvolumes", Kind: "PersistentVolume"}

// localVolume is a deleted local-path volume pinned to node, as the
// provisioner makes them.
func localVolume(node string, mutate func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	deleted := metav1.NewTime(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC))
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-1", ResourceVersion: "7", UID: "u1", DeletionTimestamp: &deleted,
			Finalizers: []string{"kubernetes.io/pv-protection", "podvisor.io/local-path-cleanup"},
			Labels:     map[string]string{localpv.NodeLabel: node}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/podvisor/storage/pvc-1"}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased},
	}
	if mutate != nil {
		mutate(pv)
	}
	return pv
}

func TestNodeRestrictionPersistentVolumes(t *testing.T) {
	dropCleanup := func(pv *corev1.PersistentVolume) { pv.Finalizers = pv.Finalizers[:1] }
	tests := []struct {
		name string
		user *authn.User
		op   admission.Operation
		sub  string
		old  *corev1.PersistentVolume
		obj  *corev1.PersistentVolume
		// wantErr is "" when allowed, else part of the 403 message.
		wantErr string
	}{
		{name: "node removes the cleanup finalizer of its volume", user: authn.NodeUser("a"), op: admission.Update,
			old: localVolume("a", nil), obj: localVolume("a", dropCleanup)},
		{name: "node changes labels and annotations of its volume", user: authn.NodeUser("a"), op: admission.Update,
			old: localVolume("a", nil), obj: localVolume("a", func(pv *corev1.PersistentVolume) {
				pv.Labels["x"] = "y"
				pv.Annotations = map[string]string{"note": "cleaned"}
				pv.ResourceVersion = ""
			})},
		{name: "node updates the status of its volume", user: authn.NodeUser("a"), op: admission.Update, sub: "status",
			old: localVolume("a", nil), obj: localVolume("a", func(pv *corev1.PersistentVolume) { pv.Status.Message = "cleaning" })},
		{name: "another node removes the finalizer", user: authn.NodeUser("b"), op: admission.Update,
			old: localVolume("a", nil), obj: localVolume("a", dropCleanup),
			wantErr: `node "b" can only update persistent volumes whose node affinity pins them to itself`},
		{name: "node repoints its volume's hostPath", user: authn.NodeUser("a"), op: admission.Update,
			old: localVolume("a", nil), obj: localVolume("a", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath.Path = "/etc" }),
			wantErr: `node "a" is not allowed to change the spec of a persistent volume`},
		{name: "node moves its volume to another node", user: authn.NodeUser("a"), op: admission.Update,
			old: localVolume("a", nil), obj: localVolume("b", nil),
			wantErr: `node "a" is not allowed to change the spec of a persistent volume`},
		{name: "node takes another node's volume", user: authn.NodeUser("a"), op: admission.Update,
			old: localVolume("b", nil), obj: localVolume("a", nil),
			wantErr: `node "a" can only update persistent volumes whose node affinity pins them to itself`},
		{name: "node sets owner references", user: authn.NodeUser("a"), op: admission.Update,
			old: localVolume("a", nil), obj: localVolume("a", func(pv *corev1.PersistentVolume) {
				pv.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "a", UID: "n"}}
			}),
			wantErr: `node "a" is not allowed to update persistent volume metadata other than finalizers, labels and annotations`},
		{name: "node volume not pinned", user: authn.NodeUser("a"), op: admission.Update,
			old:     localVolume("a", func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = nil }),
			obj:     localVolume("a", func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = nil; dropCleanup(pv) }),
			wantErr: "pins them to itself"},
		{name: "node creates a volume pinned to itself", user: authn.NodeUser("a"), op: admission.Create,
			obj: localVolume("a", nil), wantErr: `node "a" is not allowed to create persistent volumes`},
		{name: "node deletes its volume", user: authn.NodeUser("a"), op: admission.Delete,
			old: localVolume("a", nil), wantErr: `node "a" is not allowed to delete persistent volumes`},
		{name: "admin changes the spec", user: &authn.User{Name: "admin", Groups: []string{"system:masters"}}, op: admission.Update,
			old: localVolume("a", nil), obj: localVolume("a", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath.Path = "/srv/x" })},
	}
	p := &admission.NodeRestriction{Objects: fakeObjects{}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: tc.op, Resource: pvInfo, Subresource: tc.sub, Name: "pvc-1", User: tc.user}
			if tc.obj != nil {
				a.Object = tc.obj
			}
			if tc.old != nil {
				a.OldObject = tc.old
			}
			err := p.Validate(context.Background(), a)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("Validate = %v, want allowed", err)
				}
				return
			}
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate = %v, want 403 Forbidden containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestVolumeNodeLabel(t *testing.T) {
	tests := []struct {
		name string
		op   admission.Operation
		pv   *corev1.PersistentVolume
		want map[string]string
	}{
		{name: "pinned volume gets the label", op: admission.Create,
			pv: localVolume("a", func(pv *corev1.PersistentVolume) { pv.Labels = nil }), want: map[string]string{localpv.NodeLabel: "a"}},
		{name: "wrong label corrected", op: admission.Update,
			pv:   localVolume("a", func(pv *corev1.PersistentVolume) { pv.Labels = map[string]string{localpv.NodeLabel: "b", "x": "y"} }),
			want: map[string]string{localpv.NodeLabel: "a", "x": "y"}},
		{name: "unpinned volume loses the label", op: admission.Update,
			pv:   localVolume("a", func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = nil; pv.Labels["x"] = "y" }),
			want: map[string]string{"x": "y"}},
		{name: "unpinned volume without labels", op: admission.Create,
			pv: localVolume("a", func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = nil; pv.Labels = nil })},
		{name: "delete left alone", op: admission.Delete,
			pv: localVolume("a", func(pv *corev1.PersistentVolume) { pv.Labels = nil })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &admission.Attributes{Operation: tc.op, Resource: pvInfo, Name: tc.pv.Name, Object: tc.pv, User: authn.NodeUser("a")}
			if err := (admission.VolumeNodeLabel{}).Mutate(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, tc.pv.Labels, cmpEmptyMap); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
	// Other resources are not touched.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: map[string]string{localpv.NodeLabel: "a"}}}
	if err := (admission.VolumeNodeLabel{}).Mutate(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: cmInfo, Object: cm}); err != nil {
		t.Fatal(err)
	}
	if cm.Labels[localpv.NodeLabel] != "a" {
		t.Errorf("config map labels = %v, want untouched", cm.Labels)
	}
}

// cmpEmptyMap treats nil and empty label maps alike.
var cmpEmptyMap = cmp.FilterValues(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Comparer(func(_, _ map[string]string) bool { return true }))
