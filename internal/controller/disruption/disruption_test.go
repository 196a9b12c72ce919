package disruption

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

func ptr[T any](v T) *T { return &v }

var (
	deploy = &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-d"}, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(4))}}
	rs     = &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-abc", UID: "uid-rs",
		OwnerReferences: []metav1.OwnerReference{*ownerref.New(deploy, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(4))}}
	sts = &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db", UID: "uid-sts"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(4))}}
)

type podOpt func(*corev1.Pod)

func pod(name string, owner metav1.Object, kind string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*ownerref.New(owner, appsv1.SchemeGroupVersion.WithKind(kind))}
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func deleting(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: controllertest.Start} }

func budget(minAvail, maxUnavail *intstr.IntOrString, disrupted map[string]metav1.Time) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b", Generation: 2},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, MinAvailable: minAvail, MaxUnavailable: maxUnavail,
		},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptedPods: disrupted},
	}
}

func TestStatus(t *testing.T) {
	i := func(n int) *intstr.IntOrString { v := intstr.FromInt32(int32(n)); return &v }
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	tests := []struct {
		name    string
		pdb     *policyv1.PodDisruptionBudget
		pods    []*corev1.Pod
		want    policyv1.PodDisruptionBudgetStatus
		reason  string
		wait    time.Duration
		failure bool
	}{
		{
			name:   "minAvailable count: expected is the pods",
			pdb:    budget(i(2), nil, nil),
			pods:   []*corev1.Pod{pod("a", nil, ""), pod("b", nil, ""), pod("c", nil, "", notReady)},
			want:   policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2, CurrentHealthy: 2, DesiredHealthy: 2, ExpectedPods: 3},
			reason: policyv1.InsufficientPodsReason,
		},
		{
			name:   "maxUnavailable through a Deployment's scale",
			pdb:    budget(nil, i(1), nil),
			pods:   []*corev1.Pod{pod("a", rs, "ReplicaSet"), pod("b", rs, "ReplicaSet"), pod("c", rs, "ReplicaSet"), pod("d", rs, "ReplicaSet", deleting)},
			want:   policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2, CurrentHealthy: 3, DesiredHealthy: 3, ExpectedPods: 4},
			reason: policyv1.InsufficientPodsReason,
		},
		{
			name:   "minAvailable percentage of a StatefulSet",
			pdb:    budget(pct("50%"), nil, nil),
			pods:   []*corev1.Pod{pod("a", sts, "StatefulSet"), pod("b", sts, "StatefulSet"), pod("c", sts, "StatefulSet")},
			want:   policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 4, DisruptionsAllowed: 1},
			reason: policyv1.SufficientPodsReason,
		},
		{
			name: "evictions in flight count as unhealthy until they expire",
			pdb: budget(i(1), nil, map[string]metav1.Time{
				"a": metav1.NewTime(controllertest.Start.Add(-time.Minute)), "b": metav1.NewTime(controllertest.Start.Add(-3 * time.Minute)),
			}),
			pods: []*corev1.Pod{pod("a", nil, ""), pod("b", nil, ""), pod("c", nil, "")},
			want: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2, CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 3, DisruptionsAllowed: 1,
				DisruptedPods: map[string]metav1.Time{"a": metav1.NewTime(controllertest.Start.Add(-time.Minute))}},
			reason: policyv1.SufficientPodsReason,
			wait:   time.Minute,
		},
		{
			name:    "a pod whose controller is gone: no disruption allowed",
			pdb:     budget(nil, i(1), nil),
			pods:    []*corev1.Pod{pod("a", &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "ghost", UID: "ghost"}}, "ReplicaSet")},
			want:    policyv1.PodDisruptionBudgetStatus{},
			reason:  policyv1.SyncFailedReason,
			failure: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.pdb, deploy, rs, sts}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			env := controllertest.New(t, objs...)
			c, err := New(Config{}, env.Deps, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			inf := env.Deps.Informers
			controllertest.Seed(t, inf.Policy().V1().PodDisruptionBudgets().Informer(), tc.pdb)
			controllertest.Seed(t, inf.Apps().V1().Deployments().Informer(), deploy)
			controllertest.Seed(t, inf.Apps().V1().ReplicaSets().Informer(), rs)
			controllertest.Seed(t, inf.Apps().V1().StatefulSets().Informer(), sts)
			for _, p := range tc.pods {
				controllertest.Seed(t, inf.Core().V1().Pods().Informer(), p)
			}
			err = c.Sync(context.Background(), "ns/b")
			var wait time.Duration
			switch {
			case tc.failure:
				if err == nil {
					t.Fatal("Sync succeeded, want an error")
				}
			case err != nil:
				if wait, err = time.ParseDuration(strings.TrimPrefix(err.Error(), "requeue after ")); err != nil {
					t.Fatalf("Sync: %v", err)
				}
			}
			if wait != tc.wait {
				t.Errorf("wait = %v, want %v", wait, tc.wait)
			}
			got := env.LastUpdate("poddisruptionbudgets", "status").(*policyv1.PodDisruptionBudget).Status
			if len(got.Conditions) != 1 || got.Conditions[0].Reason != tc.reason {
				t.Errorf("conditions = %+v, want reason %s", got.Conditions, tc.reason)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(policyv1.PodDisruptionBudgetStatus{}, "Conditions")); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}
}
