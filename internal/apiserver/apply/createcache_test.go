package apply

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func cachePod(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.Now(), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "img:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

// TestCreateCache checks that creates answered from the create cache get
// exactly the managedFields the field manager computes (time aside), that
// objects differing in owned fields are not confused, and that the
// argument is left alone.
func TestCreateCache(t *testing.T) {
	for _, tc := range []struct {
		name    string
		first   *corev1.Pod
		second  *corev1.Pod
		manager string
	}{
		{name: "same template, other name and uid", first: cachePod("a", nil), second: cachePod("b", nil), manager: "kube-controller-manager"},
		{name: "another label", first: cachePod("a", nil),
			second: cachePod("b", func(p *corev1.Pod) { p.Labels["tier"] = "front" }), manager: "kubectl"},
		{name: "another container port", first: cachePod("a", nil),
			second: cachePod("b", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 }), manager: "kubectl"},
		{name: "empty list instead of none", first: cachePod("a", nil),
			second: cachePod("b", func(p *corev1.Pod) { p.Spec.Containers[0].Ports = []corev1.ContainerPort{} }), manager: "kubectl"},
		{name: "another owner", first: cachePod("a", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u1"}}
		}), second: cachePod("b", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u2"}}
		}), manager: "kube-controller-manager"},
		{name: "generated name", first: cachePod("a", func(p *corev1.Pod) { p.GenerateName = "web-" }),
			second: cachePod("b", func(p *corev1.Pod) { p.GenerateName = "web-" }), manager: "kube-controller-manager"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cachedM, freshM := newManager(t), newManager(t)
			if _, err := cachedM.Update(nil, tc.first, "", tc.manager); err != nil {
				t.Fatal(err)
			}
			before := tc.second.DeepCopy()
			got, err := cachedM.Update(nil, tc.second, "", tc.manager)
			if err != nil {
				t.Fatal(err)
			}
			want, err := freshM.Update(nil, tc.second, "", tc.manager)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(metav1.ManagedFieldsEntry{}, "Time")); diff != "" {
				t.Errorf("cached create differs from the field manager's (-want +got):\n%s", diff)
			}
			mf := got.(*corev1.Pod).ManagedFields
			if len(mf) != 1 || mf[0].Time == nil || mf[0].Manager != tc.manager {
				t.Errorf("managedFields: got %+v, want one entry of %q with a time", mf, tc.manager)
			}
			if diff := cmp.Diff(before, tc.second); diff != "" {
				t.Errorf("Update changed its argument (-before +after):\n%s", diff)
			}
		})
	}
}

// TestCreateCacheHits checks that a repeated create is answered from the
// cache (the entry is there) and that objects carrying managedFields are
// not cached.
func TestCreateCacheHits(t *testing.T) {
	m := newManager(t)
	if _, err := m.Update(nil, cachePod("a", nil), "", "x"); err != nil {
		t.Fatal(err)
	}
	withFields := cachePod("c", func(p *corev1.Pod) {
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "y", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:app":{}}}}`)}}}
	})
	if _, err := m.Update(nil, withFields, "", "x"); err != nil {
		t.Fatal(err)
	}
	m.createMu.Lock()
	n := len(m.created)
	m.createMu.Unlock()
	if n != 1 {
		t.Errorf("cache entries: got %d, want 1 (the pod without managedFields)", n)
	}
}
