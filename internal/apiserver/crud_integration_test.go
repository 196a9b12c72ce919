//go:build integration

package apiserver_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

func TestCRUD(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)

	created, err := c.CoreV1().Pods(n).Create(ctx, pod("p", map[string]string{"app": "a"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.UID == "" || created.CreationTimestamp.IsZero() || created.ResourceVersion == "" || created.Generation != 1 {
		t.Errorf("create did not fill uid/creationTimestamp/resourceVersion/generation: %+v", created.ObjectMeta)
	}
	if created.Status.Phase != corev1.PodPending || created.Spec.RestartPolicy != corev1.RestartPolicyAlways || created.Spec.ServiceAccountName != "default" {
		t.Errorf("create did not default the pod: phase %q restartPolicy %q serviceAccount %q", created.Status.Phase, created.Spec.RestartPolicy, created.Spec.ServiceAccountName)
	}
	if _, err := c.CoreV1().Pods(n).Create(ctx, pod("p", nil), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: got %v, want AlreadyExists (409)", err)
	}
	got, err := c.CoreV1().Pods(n).Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("get differs from create response (-create +get):\n%s", diff)
	}

	// Optimistic concurrency: an update based on a stale version is 409.
	upd := got.DeepCopy()
	upd.Labels["v"] = "1"
	if _, err := c.CoreV1().Pods(n).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	stale := got.DeepCopy()
	stale.Labels["v"] = "2"
	if _, err := c.CoreV1().Pods(n).Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale update: got %v, want Conflict (409)", err)
	}

	// Patches.
	patches := []struct {
		name string
		typ  types.PatchType
		body string
		want string
	}{
		{"json patch", types.JSONPatchType, `[{"op":"add","path":"/metadata/labels/j","value":"1"}]`, "j"},
		{"merge patch", types.MergePatchType, `{"metadata":{"labels":{"m":"1"}}}`, "m"},
		{"strategic merge patch", types.StrategicMergePatchType, `{"metadata":{"labels":{"s":"1"}}}`, "s"},
	}
	for _, tc := range patches {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.CoreV1().Pods(n).Patch(ctx, "p", tc.typ, []byte(tc.body), metav1.PatchOptions{})
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			if p.Labels[tc.want] != "1" || p.Labels["app"] != "a" {
				t.Errorf("labels after patch: %v", p.Labels)
			}
		})
	}
	// Status updates change only status; spec changes of a pod are refused.
	cur, _ := c.CoreV1().Pods(n).Get(ctx, "p", metav1.GetOptions{})
	st := cur.DeepCopy()
	st.Status.Phase = corev1.PodRunning
	st.Spec.NodeName = "sneaky"
	st2, err := c.CoreV1().Pods(n).UpdateStatus(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if st2.Status.Phase != corev1.PodRunning || st2.Spec.NodeName != "" {
		t.Errorf("status update: phase %q nodeName %q, want Running and no node", st2.Status.Phase, st2.Spec.NodeName)
	}
	bad := st2.DeepCopy()
	bad.Spec.RestartPolicy = corev1.RestartPolicyNever
	if _, err := c.CoreV1().Pods(n).Update(ctx, bad, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("forbidden pod spec change: got %v, want Invalid (422)", err)
	}
	// An unscheduled pod goes at once, whatever its grace period.
	if err := c.CoreV1().Pods(n).Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods(n).Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: got %v, want NotFound", err)
	}
}

func TestGracefulDeletionAndFinalizers(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)

	// A scheduled pod is deleted gracefully: it stays, marked.
	p := pod("sched", nil)
	p.Spec.NodeName = "node-1"
	if _, err := c.CoreV1().Pods(n).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Pods(n).Delete(ctx, "sched", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](20)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.CoreV1().Pods(n).Get(ctx, "sched", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a gracefully deleted pod must remain until its kubelet confirms: %v", err)
	}
	if got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 20 {
		t.Errorf("deletionTimestamp %v gracePeriod %v, want set and 20", got.DeletionTimestamp, got.DeletionGracePeriodSeconds)
	}
	// The kubelet's final delete with grace 0 removes it.
	if err := c.CoreV1().Pods(n).Delete(ctx, "sched", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods(n).Get(ctx, "sched", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after grace-0 delete: got %v, want NotFound", err)
	}

	// Finalizers hold an object until they are removed.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}
	if _, err := c.CoreV1().ConfigMaps(n).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().ConfigMaps(n).Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	held, err := c.CoreV1().ConfigMaps(n).Get(ctx, "held", metav1.GetOptions{})
	if err != nil || held.DeletionTimestamp == nil {
		t.Fatalf("object with a finalizer: %v, deletionTimestamp %v; want it kept and marked", err, held)
	}
	if _, err := c.CoreV1().ConfigMaps(n).Patch(ctx, "held", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps(n).Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after removing the last finalizer: got %v, want NotFound", err)
	}
}

func TestGenerationAndScale(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}},
		},
	}
	d, err := c.AppsV1().Deployments(n).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("new deployment: generation %d replicas %d strategy %q", d.Generation, *d.Spec.Replicas, d.Spec.Strategy.Type)
	}
	steps := []struct {
		name  string
		patch string
		gen   int64
	}{
		{"label change keeps generation", `{"metadata":{"labels":{"x":"y"}}}`, 1},
		{"spec change bumps generation", `{"spec":{"replicas":3}}`, 2},
		{"status change keeps generation", `{"status":{"observedGeneration":2}}`, 2},
	}
	for _, st := range steps {
		got, err := c.AppsV1().Deployments(n).Patch(ctx, "web", types.MergePatchType, []byte(st.patch), metav1.PatchOptions{})
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got.Generation != st.gen {
			t.Errorf("%s: generation %d, want %d", st.name, got.Generation, st.gen)
		}
	}
	sc, err := c.AppsV1().Deployments(n).GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.Replicas != 3 || sc.Status.Selector != "app=web" {
		t.Errorf("scale: %+v", sc)
	}
	sc.Spec.Replicas = 7
	if _, err := c.AppsV1().Deployments(n).UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := c.AppsV1().Deployments(n).Get(ctx, "web", metav1.GetOptions{})
	if *got.Spec.Replicas != 7 || got.Generation != 3 {
		t.Errorf("after scale: replicas %d generation %d, want 7 and 3", *got.Spec.Replicas, got.Generation)
	}
	// Stale scale is a conflict.
	if _, err := c.AppsV1().Deployments(n).UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale scale update: got %v, want Conflict", err)
	}
	// ownerReferences are stored as given.
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: got.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: d.Spec.Selector, Template: d.Spec.Template}}
	rs, err = c.AppsV1().ReplicaSets(n).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(rs.OwnerReferences)
	if string(want) != `[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"`+string(got.UID)+`","controller":true}]` {
		t.Errorf("ownerReferences stored as %s", want)
	}
}
