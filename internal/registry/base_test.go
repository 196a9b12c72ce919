package registry_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/podvisor/podvisor/internal/registry"
)

func TestBaseUpdateRules(t *testing.T) {
	b := registry.Base{Namespaced: true, HasStatus: true}
	old := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "d", Generation: 4, Labels: map[string]string{"a": "1"}},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
		Status:     appsv1.DeploymentStatus{Replicas: 1, ObservedGeneration: 4},
	}
	tests := []struct {
		name       string
		change     func(d *appsv1.Deployment)
		status     bool // a status update
		wantGen    int64
		wantStatus int32 // status.replicas after
		wantSpec   int32 // spec.replicas after
		wantLabel  string
	}{
		{"spec change bumps generation", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) }, false, 5, 1, 3, "1"},
		{"metadata change keeps generation", func(d *appsv1.Deployment) { d.Labels["a"] = "2" }, false, 4, 1, 1, "2"},
		{"main update may not change status", func(d *appsv1.Deployment) { d.Status.Replicas = 9 }, false, 4, 1, 1, "1"},
		{"status update changes only status", func(d *appsv1.Deployment) {
			d.Status.Replicas = 9
			d.Spec.Replicas = ptr.To[int32](7)
			d.Labels["a"] = "x"
		}, true, 4, 9, 1, "1"},
		{"deletion start bumps generation", func(d *appsv1.Deployment) { d.DeletionTimestamp = &metav1.Time{} }, false, 5, 1, 1, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := old.DeepCopy()
			tc.change(d)
			if tc.status {
				b.PrepareForStatusUpdate(d, old.DeepCopy())
			} else {
				b.PrepareForUpdate(d, old.DeepCopy())
			}
			if d.Generation != tc.wantGen || d.Status.Replicas != tc.wantStatus || *d.Spec.Replicas != tc.wantSpec || d.Labels["a"] != tc.wantLabel {
				t.Errorf("got generation %d status.replicas %d spec.replicas %d label %q; want %d %d %d %q",
					d.Generation, d.Status.Replicas, *d.Spec.Replicas, d.Labels["a"], tc.wantGen, tc.wantStatus, tc.wantSpec, tc.wantLabel)
			}
		})
	}
}

func TestBasePrepareForCreate(t *testing.T) {
	tests := []struct {
		name    string
		base    registry.Base
		obj     runtime.Object
		wantGen int64
		cleared bool
	}{
		{"status cleared and generation 1", registry.Base{HasStatus: true}, &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 3}}, 1, true},
		{"no status subresource keeps status", registry.Base{}, &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 3}}, 1, false},
		{"no spec, no generation", registry.Base{}, &corev1.ConfigMap{}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.base.PrepareForCreate(tc.obj)
			m := tc.obj.(metav1.Object)
			if m.GetGeneration() != tc.wantGen {
				t.Errorf("generation %d, want %d", m.GetGeneration(), tc.wantGen)
			}
			if d, ok := tc.obj.(*appsv1.Deployment); ok && (d.Status.Replicas == 0) != tc.cleared {
				t.Errorf("status %+v, cleared=%v wanted", d.Status, tc.cleared)
			}
		})
	}
}

func TestMetaValidation(t *testing.T) {
	tests := []struct {
		name   string
		obj    runtime.Object
		nsd    bool
		errors int
	}{
		{"valid", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: "ns"}}, true, 0},
		{"bad name", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name", Namespace: "ns"}}, true, 1},
		{"missing namespace", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ok"}}, true, 1},
		{"bad label", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: "ns", Labels: map[string]string{"a b": "c"}}}, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if errs := registry.ValidateMeta(tc.obj, tc.nsd, nil); len(errs) != tc.errors {
				t.Errorf("got %d errors (%v), want %d", len(errs), errs, tc.errors)
			}
		})
	}
}
