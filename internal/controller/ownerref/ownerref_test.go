package ownerref

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var kind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

func owner(deleting bool) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "rs", UID: "uid-rs"}}
	if deleting {
		rs.DeletionTimestamp = &metav1.Time{}
	}
	return rs
}

type podOpt func(*corev1.Pod)

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "a"}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ownedBy(uid types.UID) podOpt {
	return func(p *corev1.Pod) {
		t := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: uid, Controller: &t}}
	}
}
func unlabelled(p *corev1.Pod)  { p.Labels = map[string]string{"app": "b"} }
func podDeleting(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{} }
func elsewhere(p *corev1.Pod)   { p.Namespace = "other" }
func noController(p *corev1.Pod) {
	p.OwnerReferences = []metav1.OwnerReference{{UID: "uid-rs", Name: "rs"}}
}

func TestClaim(t *testing.T) {
	tests := []struct {
		name      string
		owner     *appsv1.ReplicaSet
		pod       *corev1.Pod
		recheck   error
		patchErr  error
		claimed   bool
		patch     string // "adopt", "release" or ""
		wantError bool
	}{
		{name: "ours and selected", owner: owner(false), pod: pod("p", ownedBy("uid-rs")), claimed: true},
		{name: "ours, no longer selected: released", owner: owner(false), pod: pod("p", ownedBy("uid-rs"), unlabelled), patch: "release"},
		{name: "ours, unselected, owner going: kept as is", owner: owner(true), pod: pod("p", ownedBy("uid-rs"), unlabelled)},
		{name: "someone else's", owner: owner(false), pod: pod("p", ownedBy("other"))},
		{name: "orphan selected: adopted", owner: owner(false), pod: pod("p"), claimed: true, patch: "adopt"},
		{name: "orphan with a non-controller reference: adopted", owner: owner(false), pod: pod("p", noController), claimed: true, patch: "adopt"},
		{name: "orphan not selected", owner: owner(false), pod: pod("p", unlabelled)},
		{name: "orphan being deleted", owner: owner(false), pod: pod("p", podDeleting)},
		{name: "orphan, owner going", owner: owner(true), pod: pod("p")},
		{name: "orphan in another namespace", owner: owner(false), pod: pod("p", elsewhere)},
		{name: "orphan gone meanwhile", owner: owner(false), pod: pod("p"), patchErr: apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "p"), patch: "adopt"},
		{name: "recheck fails: no adoption", owner: owner(false), pod: pod("p"), recheck: errors.New("down"), wantError: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var patches []string
			c := &Claimer{
				Owner: tc.owner, OwnerKind: kind, Selector: labels.SelectorFromSet(labels.Set{"app": "a"}),
				Recheck: func(context.Context) (metav1.Object, error) {
					if tc.recheck != nil {
						return nil, tc.recheck
					}
					return owner(false), nil
				},
				Patch: func(_ context.Context, _ metav1.Object, patch []byte) error {
					switch {
					case strings.Contains(string(patch), `"$patch":"delete"`):
						patches = append(patches, "release")
					default:
						patches = append(patches, "adopt")
					}
					return tc.patchErr
				},
			}
			got, err := Claim(context.Background(), c, []*corev1.Pod{tc.pod})
			if (err != nil) != tc.wantError {
				t.Fatalf("Claim error = %v, want error %v", err, tc.wantError)
			}
			if (len(got) == 1) != tc.claimed {
				t.Errorf("claimed = %v, want %v", len(got) == 1, tc.claimed)
			}
			var want []string
			if tc.patch != "" {
				want = []string{tc.patch}
			}
			if diff := cmp.Diff(want, patches); diff != "" {
				t.Errorf("patches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecheckOncePerClaim(t *testing.T) {
	n := 0
	c := &Claimer{
		Owner: owner(false), OwnerKind: kind, Selector: labels.Everything(),
		Recheck: func(context.Context) (metav1.Object, error) { n++; return owner(false), nil },
		Patch:   func(context.Context, metav1.Object, []byte) error { return nil },
	}
	got, err := Claim(context.Background(), c, []*corev1.Pod{pod("a"), pod("b"), pod("c")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if diff := cmp.Diff([]string{"a", "b", "c"}, names); diff != "" {
		t.Errorf("claimed (-want +got):\n%s", diff)
	}
	if n != 1 {
		t.Errorf("owner read %d times, want once", n)
	}
}

func TestNewAndController(t *testing.T) {
	ref := New(owner(false), kind)
	if ref.APIVersion != "apps/v1" || ref.Kind != "ReplicaSet" || ref.UID != "uid-rs" || !*ref.Controller || !*ref.BlockOwnerDeletion {
		t.Errorf("New = %+v", ref)
	}
	p := pod("p")
	p.OwnerReferences = []metav1.OwnerReference{{UID: "x"}, *ref}
	if got := Controller(p); got == nil || got.UID != "uid-rs" {
		t.Errorf("Controller = %+v", got)
	}
	if !IsControlledBy(p, "uid-rs") || IsControlledBy(p, "x") {
		t.Error("IsControlledBy wrong")
	}
}
