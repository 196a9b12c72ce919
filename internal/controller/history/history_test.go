package history

import (
	"context"
	"testing"

	"encoding/json"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

var kind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

func set(image string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-web"},
		Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
		}},
	}
}

func TestTemplateRoundTrip(t *testing.T) {
	s := set("v1")
	data, err := TemplateData(&s.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	rev := New(s, kind, map[string]string{"app": "web"}, data, 1, nil)
	got, err := Template(rev)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&s.Spec.Template, got); diff != "" {
		t.Errorf("template (-want +got):\n%s", diff)
	}
	// kubectl rollout undo applies the data as a strategic merge patch:
	// it must replace a different template whole.
	other := set("v2")
	other.Spec.Template.Labels["extra"] = "x"
	cur, _ := json.Marshal(other)
	patched, err := strategicpatch.StrategicMergePatch(cur, data.Raw, other)
	if err != nil {
		t.Fatal(err)
	}
	var back appsv1.StatefulSet
	if err := json.Unmarshal(patched, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s.Spec.Template, back.Spec.Template); diff != "" {
		t.Errorf("template after applying the revision (-want +got):\n%s", diff)
	}
	if rev.Name != "web-"+rev.Labels[appsv1.ControllerRevisionHashLabelKey] || rev.Labels["app"] != "web" {
		t.Errorf("revision %s labels %v", rev.Name, rev.Labels)
	}
}

func TestFindEqualAndNext(t *testing.T) {
	d1, _ := TemplateData(&set("v1").Spec.Template)
	d2, _ := TemplateData(&set("v2").Spec.Template)
	r1 := New(set("v1"), kind, nil, d1, 1, nil)
	r2 := New(set("v2"), kind, nil, d2, 3, nil)
	revs := []*appsv1.ControllerRevision{r2, r1}
	SortByRevision(revs)
	if revs[0] != r1 || Next(revs) != 4 {
		t.Errorf("sorted %s,%s next %d", revs[0].Name, revs[1].Name, Next(revs))
	}
	want := New(set("v1"), kind, nil, d1, 4, nil)
	if eq := FindEqual(revs, want); len(eq) != 1 || eq[0] != r1 {
		t.Errorf("FindEqual = %v", eq)
	}
}

func TestMemoryStoreAndCollisions(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	s := set("v1")
	d1, _ := TemplateData(&s.Spec.Template)
	r := New(s, kind, map[string]string{"app": "web"}, d1, 1, nil)
	if _, err := m.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, r); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second Create = %v, want AlreadyExists", err)
	}
	// A different template whose hash collides (same name): the
	// collision count moves it to another name.
	d2, _ := TemplateData(&set("v2").Spec.Template)
	clash := r.DeepCopy()
	clash.Data = d2
	var collisions int32
	existing, _ := m.List("ns", labels.Everything())
	got, err := CreateUnique(ctx, m, s, kind, clash, &collisions, existing)
	if err != nil {
		t.Fatal(err)
	}
	if collisions != 1 || got.Name == r.Name {
		t.Errorf("collisions %d, name %s (first %s)", collisions, got.Name, r.Name)
	}
	// The same data under the same name is the existing revision.
	same, err := CreateUnique(ctx, m, s, kind, r.DeepCopy(), &collisions, existing)
	if err != nil || same.Name != r.Name {
		t.Errorf("CreateUnique of an existing revision = %v, %v", same, err)
	}
	if _, err := m.SetRevision(ctx, r, 7); err != nil {
		t.Fatal(err)
	}
	list, _ := m.List("ns", labels.SelectorFromSet(labels.Set{"app": "web"}))
	if len(list) != 2 {
		t.Fatalf("%d revisions, want 2", len(list))
	}
	m.ForgetOwner("uid-web")
	if list, _ := m.List("ns", labels.Everything()); len(list) != 0 {
		t.Errorf("%d revisions after ForgetOwner", len(list))
	}
}
