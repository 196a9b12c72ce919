package deployment

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

var (
	rsGVR = appsv1.SchemeGroupVersion.WithResource("replicasets")
	dGVR  = appsv1.SchemeGroupVersion.WithResource("deployments")
)

func newDeployment(replicas int32, image string) *appsv1.Deployment {
	pds := int32(600)
	limit := int32(10)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-web", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
			Strategy:                appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType},
			ProgressDeadlineSeconds: &pds,
			RevisionHistoryLimit:    &limit,
		},
	}
}

func rolling(d *appsv1.Deployment, surge, unavail intstr.IntOrString) *appsv1.Deployment {
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}
	return d
}

// sim runs the Deployment controller against a fake cluster in which
// ReplicaSets' pods appear (and become available, if avail says so) as
// soon as the ReplicaSet is scaled.
type sim struct {
	t     *testing.T
	env   *controllertest.Env
	c     *Controller
	avail func(rs *appsv1.ReplicaSet) bool
}

func newSim(t *testing.T, objs ...runtime.Object) *sim {
	t.Helper()
	env := controllertest.New(t, objs...)
	c, err := New(Config{}, env.Deps)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t, env: env, c: c, avail: func(*appsv1.ReplicaSet) bool { return true }}
	s.refresh()
	return s
}

// refresh makes the informer caches hold exactly what the clientset holds.
func (s *sim) refresh() {
	s.t.Helper()
	ctx := context.Background()
	ds, err := s.env.Client.AppsV1().Deployments("ns").List(ctx, metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	var items []any
	for i := range ds.Items {
		items = append(items, &ds.Items[i])
	}
	if err := s.env.Deps.Informers.Apps().V1().Deployments().Informer().GetIndexer().Replace(items, ""); err != nil {
		s.t.Fatal(err)
	}
	rss, err := s.env.Client.AppsV1().ReplicaSets("ns").List(ctx, metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	items = nil
	for i := range rss.Items {
		items = append(items, &rss.Items[i])
	}
	if err := s.env.Deps.Informers.Apps().V1().ReplicaSets().Informer().GetIndexer().Replace(items, ""); err != nil {
		s.t.Fatal(err)
	}
}

// settle plays the ReplicaSet controller: every ReplicaSet's status
// reports its spec.replicas pods, available unless avail says otherwise.
func (s *sim) settle() {
	s.t.Helper()
	rss, err := s.env.Client.AppsV1().ReplicaSets("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		n := replicasOf(rs)
		rs.Status.Replicas = n
		rs.Status.FullyLabeledReplicas = n
		rs.Status.ObservedGeneration = rs.Generation
		if s.avail(rs) {
			rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = n, n
		} else {
			rs.Status.ReadyReplicas, rs.Status.AvailableReplicas = 0, 0
		}
		zero := int32(0)
		rs.Status.TerminatingReplicas = &zero
		if err := s.env.Client.Tracker().Update(rsGVR, rs, "ns"); err != nil {
			s.t.Fatal(err)
		}
	}
	s.refresh()
}

func (s *sim) sync() error {
	s.t.Helper()
	err := s.c.Sync(context.Background(), "ns/web")
	s.refresh()
	return err
}

func (s *sim) deployment() *appsv1.Deployment {
	s.t.Helper()
	d, err := s.env.Client.AppsV1().Deployments("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

// update replaces the Deployment's spec (as a user would) and bumps its
// generation.
func (s *sim) update(f func(d *appsv1.Deployment)) {
	s.t.Helper()
	d := s.deployment()
	f(d)
	d.Generation++
	if err := s.env.Client.Tracker().Update(dGVR, d, "ns"); err != nil {
		s.t.Fatal(err)
	}
	s.refresh()
}

// sizes returns "new/old..." replicas: the ReplicaSet of the current
// template first, then the others by creation.
func (s *sim) sizes() string {
	s.t.Helper()
	d := s.deployment()
	rss, err := s.env.Deps.Informers.Apps().V1().ReplicaSets().Lister().ReplicaSets("ns").List(labels.Everything())
	if err != nil {
		s.t.Fatal(err)
	}
	newRS, old := splitReplicaSets(d, rss)
	out := "-"
	if newRS != nil {
		out = fmt.Sprint(replicasOf(newRS))
	}
	for _, rs := range old {
		out += fmt.Sprintf("/%d", replicasOf(rs))
	}
	return out
}

// run syncs and settles until nothing changes, returning the sequence of
// distinct sizes.
func (s *sim) run() []string {
	s.t.Helper()
	var seq []string
	for i := 0; i < 60; i++ {
		if err := s.sync(); err != nil && !isRequeue(err) {
			s.t.Fatalf("Sync: %v", err)
		}
		s.settle()
		got := s.sizes()
		if len(seq) > 0 && seq[len(seq)-1] == got {
			if i > 0 && s.quiet() {
				return seq
			}
			continue
		}
		seq = append(seq, got)
	}
	s.t.Fatalf("rollout did not settle: %v", seq)
	return nil
}

// quiet reports whether one more sync writes nothing but status.
func (s *sim) quiet() bool {
	s.env.Client.ClearActions()
	if err := s.sync(); err != nil && !isRequeue(err) {
		s.t.Fatalf("Sync: %v", err)
	}
	for _, w := range s.env.Writes() {
		if !strings.Contains(w, "/status") {
			return false
		}
	}
	return true
}

func isRequeue(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "requeue after") }

// settledRS is a ReplicaSet of d's current template with n available pods
// and revision rev.
func settledRS(d *appsv1.Deployment, n int32, rev int, created time.Time) *appsv1.ReplicaSet {
	hash := TemplateHash(&d.Spec.Template, nil)
	tmpl := d.Spec.Template.DeepCopy()
	tmpl.Labels["pod-template-hash"] = hash
	sel := d.Spec.Selector.DeepCopy()
	sel.MatchLabels["pod-template-hash"] = hash
	zero := int32(0)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "web-" + hash, UID: types.UID("uid-rs-" + hash), Labels: tmpl.Labels,
			CreationTimestamp: metav1.NewTime(created),
			OwnerReferences:   []metav1.OwnerReference{*ownerref.New(d, Kind)},
			Annotations: map[string]string{
				RevisionAnnotation:        fmt.Sprint(rev),
				DesiredReplicasAnnotation: fmt.Sprint(replicas(d)),
				MaxReplicasAnnotation:     fmt.Sprint(replicas(d) + maxSurge(d)),
			},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &n, Selector: sel, Template: *tmpl},
		Status: appsv1.ReplicaSetStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n, FullyLabeledReplicas: n,
			TerminatingReplicas: &zero},
	}
}

func TestRollingUpdateSteps(t *testing.T) {
	tests := []struct {
		name     string
		strategy func(*appsv1.Deployment) *appsv1.Deployment
		want     []string
	}{
		{
			name: "maxSurge=1 maxUnavailable=0",
			strategy: func(d *appsv1.Deployment) *appsv1.Deployment {
				return rolling(d, intstr.FromInt32(1), intstr.FromInt32(0))
			},
			want: []string{
				"1/10", "1/9", "2/9", "2/8", "3/8", "3/7", "4/7", "4/6", "5/6", "5/5",
				"6/5", "6/4", "7/4", "7/3", "8/3", "8/2", "9/2", "9/1", "10/1", "10/0",
			},
		},
		{
			name: "25%/25%",
			strategy: func(d *appsv1.Deployment) *appsv1.Deployment {
				return rolling(d, intstr.FromString("25%"), intstr.FromString("25%"))
			},
			// surge ceil(2.5)=3, unavailable floor(2.5)=2: the new
			// ReplicaSet starts at 3 and, in the same sync, 2 old pods go
			// (10 available, 8 needed); then each sync either adds up to
			// 13 pods or removes available pods down to 8.
			want: []string{"3/8", "5/8", "5/3", "10/3", "10/0"},
		},
		{
			name: "maxSurge=0 maxUnavailable=3",
			strategy: func(d *appsv1.Deployment) *appsv1.Deployment {
				return rolling(d, intstr.FromInt32(0), intstr.FromInt32(3))
			},
			want: []string{"0/7", "3/7", "3/4", "6/4", "6/1", "9/1", "9/0", "10/0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.strategy(newDeployment(10, "v1"))
			rs := settledRS(d, 10, 1, controllertest.Start.Add(-time.Hour))
			d.Annotations = map[string]string{RevisionAnnotation: "1"}
			s := newSim(t, d, rs)
			s.update(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "v2" })
			got := s.run()
			// "0/7" style steps: the new ReplicaSet exists with 0 first.
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rollout steps new/old (-want +got):\n%s", diff)
			}
			final := s.deployment()
			if final.Annotations[RevisionAnnotation] != "2" {
				t.Errorf("deployment revision = %q, want 2", final.Annotations[RevisionAnnotation])
			}
			st := final.Status
			if st.Replicas != 10 || st.UpdatedReplicas != 10 || st.AvailableReplicas != 10 || st.ObservedGeneration != final.Generation {
				t.Errorf("final status = %+v", st)
			}
			if c := condition(st, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonNewRSAvailable {
				t.Errorf("Progressing condition = %+v, want reason %s", c, ReasonNewRSAvailable)
			}
			if c := condition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
				t.Errorf("Available condition = %+v, want True", c)
			}
		})
	}
}

func TestRollingUpdateWaitsForAvailability(t *testing.T) {
	d := rolling(newDeployment(10, "v1"), intstr.FromInt32(1), intstr.FromInt32(0))
	old := settledRS(d, 10, 1, controllertest.Start.Add(-time.Hour))
	s := newSim(t, d, old)
	s.avail = func(rs *appsv1.ReplicaSet) bool { return rs.Name == old.Name }
	s.update(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "broken" })
	got := s.run()
	if diff := cmp.Diff([]string{"1/10"}, got); diff != "" {
		t.Errorf("steps with unavailable new pods (-want +got):\n%s", diff)
	}
	err := s.sync()
	if !isRequeue(err) {
		t.Errorf("Sync = %v, want a requeue at the progress deadline", err)
	}
	// Past the progress deadline without progress: timed out.
	s.env.Clock.Step(11 * time.Minute)
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	c := condition(s.deployment().Status, appsv1.DeploymentProgressing)
	if c == nil || c.Reason != ReasonTimedOut || c.Status != corev1.ConditionFalse {
		t.Errorf("Progressing = %+v, want False/%s", c, ReasonTimedOut)
	}
	if c := condition(s.deployment().Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("Available = %+v, want True (10 old pods available, maxUnavailable 0)", c)
	}
}

func TestRecreate(t *testing.T) {
	d := newDeployment(4, "v1")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	old := settledRS(d, 4, 1, controllertest.Start.Add(-time.Hour))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "old-pod", UID: "uid-old-pod", Labels: old.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*ownerref.New(old, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	s := newSim(t, d, old, pod)
	controllertest.Seed(t, s.env.Deps.Informers.Core().V1().Pods().Informer(), pod)
	s.update(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "v2" })
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	s.settle()
	if got := s.sizes(); got != "-/0" {
		t.Fatalf("after the first sync: %s, want the old ReplicaSet at 0 and no new one", got)
	}
	// The old pod is still terminating: no new ReplicaSet yet.
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	if got := s.sizes(); got != "-/0" {
		t.Fatalf("while an old pod runs: %s, want no new ReplicaSet", got)
	}
	if err := s.env.Deps.Informers.Core().V1().Pods().Informer().GetIndexer().Delete(pod); err != nil {
		t.Fatal(err)
	}
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	if got := s.sizes(); got != "4/0" {
		t.Fatalf("after the old pods are gone: %s, want 4/0", got)
	}
}

func TestRevisionsAndRollback(t *testing.T) {
	d := rolling(newDeployment(2, "v1"), intstr.FromInt32(1), intstr.FromInt32(0))
	d.Annotations = map[string]string{changeCauseAnnotation: "first"}
	s := newSim(t, d)
	s.run()
	for i, img := range []string{"v2", "v3"} {
		s.update(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = img
			d.Annotations[changeCauseAnnotation] = fmt.Sprintf("change %d", i+2)
		})
		s.run()
	}
	// kubectl rollout undo --to-revision=1 puts revision 1's template back.
	s.update(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "v1" })
	s.run()
	rss, err := s.env.Client.AppsV1().ReplicaSets("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, rs := range rss.Items {
		got[rs.Spec.Template.Spec.Containers[0].Image] = fmt.Sprintf("rev=%s hist=%s cause=%s replicas=%d",
			rs.Annotations[RevisionAnnotation], rs.Annotations[RevisionHistoryAnnotation], rs.Annotations[changeCauseAnnotation], replicasOf(&rs))
	}
	want := map[string]string{
		"v1": "rev=4 hist=1 cause=change 3 replicas=2",
		"v2": "rev=2 hist= cause=change 2 replicas=0",
		"v3": "rev=3 hist= cause=change 3 replicas=0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replicasets by image (-want +got):\n%s", diff)
	}
	if rev := s.deployment().Annotations[RevisionAnnotation]; rev != "4" {
		t.Errorf("deployment revision = %s, want 4", rev)
	}
}

func TestRevisionHistoryLimit(t *testing.T) {
	d := newDeployment(1, "v4")
	limit := int32(1)
	d.Spec.RevisionHistoryLimit = &limit
	var objs []runtime.Object
	for i, img := range []string{"v1", "v2", "v3"} {
		old := newDeployment(1, img)
		rs := settledRS(old, 0, i+1, controllertest.Start.Add(time.Duration(i-10)*time.Minute))
		rs.Status = appsv1.ReplicaSetStatus{}
		objs = append(objs, rs)
	}
	objs = append(objs, settledRS(d, 1, 4, controllertest.Start.Add(-time.Minute)), d)
	s := newSim(t, objs...)
	// Make the deployment complete so cleanup runs.
	s.update(func(d *appsv1.Deployment) {
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}
	})
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	var names []string
	for _, rs := range objs[:2] {
		names = append(names, rs.(*appsv1.ReplicaSet).Name)
	}
	sort.Strings(names)
	if diff := cmp.Diff(names, s.env.Deleted("replicasets")); diff != "" {
		t.Errorf("deleted replicasets (-want +got):\n%s", diff)
	}
}

func TestProportionalScaling(t *testing.T) {
	d := rolling(newDeployment(10, "v2"), intstr.FromInt32(3), intstr.FromInt32(2))
	oldD := rolling(newDeployment(10, "v1"), intstr.FromInt32(3), intstr.FromInt32(2))
	old := settledRS(oldD, 8, 1, controllertest.Start.Add(-time.Hour))
	cur := settledRS(d, 5, 2, controllertest.Start.Add(-time.Minute))
	for _, rs := range []*appsv1.ReplicaSet{old, cur} {
		rs.Annotations[MaxReplicasAnnotation] = "13"
		rs.Status.AvailableReplicas = 0
	}
	d.Status.Replicas = 13
	s := newSim(t, d, old, cur)
	s.update(func(d *appsv1.Deployment) { *d.Spec.Replicas = 20 })
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	if got := s.sizes(); got != "9/14" {
		t.Errorf("after scaling 10 -> 20 mid-rollout: new/old = %s, want 9/14", got)
	}
	if ev := strings.Join(s.env.Events(), "\n"); !strings.Contains(ev, "Scaled up replica set "+old.Name+" from 8 to 14") {
		t.Errorf("events = %s", ev)
	}
}

func TestPausedDoesNotRollOut(t *testing.T) {
	d := newDeployment(3, "v1")
	old := settledRS(d, 3, 1, controllertest.Start.Add(-time.Hour))
	s := newSim(t, d, old)
	s.update(func(d *appsv1.Deployment) {
		d.Spec.Paused = true
		d.Spec.Template.Spec.Containers[0].Image = "v2"
	})
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	if got := s.sizes(); got != "-/3" {
		t.Errorf("paused: %s, want no new ReplicaSet", got)
	}
	if c := condition(s.deployment().Status, appsv1.DeploymentProgressing); c == nil || c.Reason != ReasonPaused {
		t.Errorf("Progressing = %+v, want %s", c, ReasonPaused)
	}
	// Scaling still works while paused.
	s.update(func(d *appsv1.Deployment) { *d.Spec.Replicas = 5 })
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	if got := s.sizes(); got != "-/5" {
		t.Errorf("paused and scaled: %s, want -/5", got)
	}
	s.update(func(d *appsv1.Deployment) { d.Spec.Paused = false })
	s.run()
	if got := s.sizes(); got != "5/0" {
		t.Errorf("resumed: %s, want 5/0", got)
	}
}

func TestAdoptsAndReleasesReplicaSets(t *testing.T) {
	d := newDeployment(2, "v1")
	orphanRS := settledRS(d, 2, 1, controllertest.Start.Add(-time.Hour))
	orphanRS.OwnerReferences = nil
	s := newSim(t, d, orphanRS)
	if err := s.sync(); err != nil && !isRequeue(err) {
		t.Fatal(err)
	}
	rs, err := s.env.Client.AppsV1().ReplicaSets("ns").Get(context.Background(), orphanRS.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ownerref.IsControlledBy(rs, d.UID) {
		t.Errorf("orphan ReplicaSet not adopted: %+v", rs.OwnerReferences)
	}
	if n := len(s.env.Created("replicasets")); n != 0 {
		t.Errorf("created %d ReplicaSets; the adopted one matches the template", n)
	}
}

func TestSelectorAllRefused(t *testing.T) {
	d := newDeployment(1, "v1")
	d.Spec.Selector = &metav1.LabelSelector{}
	s := newSim(t, d)
	if err := s.sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(s.env.Created("replicasets")); n != 0 {
		t.Errorf("created %d ReplicaSets for a select-all Deployment", n)
	}
	if ev := strings.Join(s.env.Events(), "\n"); !strings.Contains(ev, "SelectingAll") {
		t.Errorf("events = %q, want SelectingAll", ev)
	}
}

func TestTemplateHashStable(t *testing.T) {
	a := newDeployment(1, "v1")
	b := newDeployment(1, "v1")
	c := newDeployment(1, "v2")
	one := int32(1)
	ha, hb, hc, hcol := TemplateHash(&a.Spec.Template, nil), TemplateHash(&b.Spec.Template, nil), TemplateHash(&c.Spec.Template, nil), TemplateHash(&a.Spec.Template, &one)
	if ha != hb {
		t.Errorf("equal templates hash differently: %s %s", ha, hb)
	}
	if ha == hc || ha == hcol {
		t.Errorf("different template or collision count hash the same: %s %s %s", ha, hc, hcol)
	}
	if errs := validLabel(ha); errs != nil {
		t.Errorf("hash %q is not a label value: %v", ha, errs)
	}
}

func validLabel(v string) error {
	if len(v) == 0 || len(v) > 63 {
		return errors.New("bad length")
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return fmt.Errorf("bad rune %q", r)
		}
	}
	return nil
}

func TestNewReplicaSetOnStaleCache(t *testing.T) {
	d := newDeployment(2, "v1")
	s := newSim(t, d)
	s.sync()
	created := s.env.Created("replicasets")
	if len(created) != 1 {
		t.Fatalf("created %d ReplicaSets, want 1", len(created))
	}
	// The cache has not seen it: a second sync hits AlreadyExists and must
	// recognise its own ReplicaSet, not take it for a hash collision.
	if err := s.env.Deps.Informers.Apps().V1().ReplicaSets().Informer().GetIndexer().Replace(nil, ""); err != nil {
		t.Fatal(err)
	}
	s.env.Client.ClearActions()
	if err := s.c.Sync(context.Background(), "ns/web"); err != nil && !isRequeue(err) {
		t.Fatalf("Sync: %v", err)
	}
	if cc := s.deployment().Status.CollisionCount; cc != nil && *cc != 0 {
		t.Errorf("collisionCount = %d after a stale cache", *cc)
	}
}

func TestHashCollision(t *testing.T) {
	d := newDeployment(2, "v1")
	// Another template sits under the name the hash gives.
	squatter := settledRS(newDeployment(2, "other"), 0, 1, controllertest.Start)
	squatter.Name = "web-" + TemplateHash(&d.Spec.Template, nil)
	s := newSim(t, d, squatter)
	if err := s.c.Sync(context.Background(), "ns/web"); err == nil || !strings.Contains(err.Error(), "hash collision") {
		t.Fatalf("Sync = %v, want a hash collision", err)
	}
	s.refresh()
	if cc := s.deployment().Status.CollisionCount; cc == nil || *cc != 1 {
		t.Fatalf("collisionCount = %v, want 1", cc)
	}
	s.sync()
	rss, _ := s.env.Client.AppsV1().ReplicaSets("ns").List(context.Background(), metav1.ListOptions{})
	if len(rss.Items) != 2 {
		t.Errorf("%d ReplicaSets, want the squatter and a new one under another name", len(rss.Items))
	}
}
