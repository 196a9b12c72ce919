package statefulset

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

var (
	setGVR = appsv1.SchemeGroupVersion.WithResource("statefulsets")
	podGVR = corev1.SchemeGroupVersion.WithResource("pods")
)

func ptr[T any](v T) *T { return &v }

func newSet(n int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-web", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &n,
			ServiceName: "nginx",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}
}

type ssim struct {
	t   *testing.T
	env *controllertest.Env
	c   *Controller
}

func newSSim(t *testing.T, objs ...runtime.Object) *ssim {
	t.Helper()
	env := controllertest.New(t, objs...)
	c, err := New(Config{}, env.Deps)
	if err != nil {
		t.Fatal(err)
	}
	env.GracefulPods = true
	s := &ssim{t: t, env: env, c: c}
	s.refresh()
	return s
}

func (s *ssim) refresh() {
	s.t.Helper()
	ctx := context.Background()
	inf := s.env.Deps.Informers
	replace := func(idx cache.Indexer, items []any) {
		if err := idx.Replace(items, ""); err != nil {
			s.t.Fatal(err)
		}
	}
	sets, _ := s.env.Client.AppsV1().StatefulSets("ns").List(ctx, metav1.ListOptions{})
	var items []any
	for i := range sets.Items {
		items = append(items, &sets.Items[i])
	}
	replace(inf.Apps().V1().StatefulSets().Informer().GetIndexer(), items)
	pods, _ := s.env.Client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	items = nil
	for i := range pods.Items {
		items = append(items, &pods.Items[i])
	}
	replace(inf.Core().V1().Pods().Informer().GetIndexer(), items)
	pvcs, _ := s.env.Client.CoreV1().PersistentVolumeClaims("ns").List(ctx, metav1.ListOptions{})
	items = nil
	for i := range pvcs.Items {
		items = append(items, &pvcs.Items[i])
	}
	replace(inf.Core().V1().PersistentVolumeClaims().Informer().GetIndexer(), items)
	revs, _ := s.env.Client.AppsV1().ControllerRevisions("ns").List(ctx, metav1.ListOptions{})
	items = nil
	for i := range revs.Items {
		items = append(items, &revs.Items[i])
	}
	replace(inf.Apps().V1().ControllerRevisions().Informer().GetIndexer(), items)
}

func (s *ssim) sync() {
	s.t.Helper()
	if err := s.c.Sync(context.Background(), "ns/web"); err != nil && !strings.HasPrefix(err.Error(), "requeue after") {
		s.t.Fatalf("Sync: %v", err)
	}
	s.refresh()
}

func (s *ssim) pods() []*corev1.Pod {
	list, _ := s.env.Client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	var out []*corev1.Pod
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// names lists pods as name@revision-suffix (the last 4 characters of the
// revision name distinguish revisions in tests).
func (s *ssim) names() []string {
	var out []string
	for _, p := range s.pods() {
		out = append(out, p.Name)
	}
	return out
}

func (s *ssim) set() *appsv1.StatefulSet {
	set, err := s.env.Client.AppsV1().StatefulSets("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return set
}

// ready marks every pod Running and Ready (the kubelet's part).
func (s *ssim) ready() {
	s.t.Helper()
	for _, p := range s.pods() {
		if p.Status.Phase == corev1.PodRunning {
			continue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(s.env.Clock.Now())}}
		if err := s.env.Client.Tracker().Update(podGVR, p, "ns"); err != nil {
			s.t.Fatal(err)
		}
	}
	s.refresh()
}

// gone removes pods being deleted (the kubelet's and API server's part).
func (s *ssim) gone() {
	s.t.Helper()
	for _, p := range s.pods() {
		if p.DeletionTimestamp != nil {
			if err := s.env.Client.Tracker().Delete(podGVR, "ns", p.Name); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	s.refresh()
}

func (s *ssim) updateSet(f func(*appsv1.StatefulSet)) {
	s.t.Helper()
	set := s.set()
	f(set)
	set.Generation++
	if err := s.env.Client.Tracker().Update(setGVR, set, "ns"); err != nil {
		s.t.Fatal(err)
	}
	s.refresh()
}

func TestOrderedCreationAndIdentity(t *testing.T) {
	s := newSSim(t, newSet(3))
	var steps [][]string
	for i := 0; i < 3; i++ {
		s.sync()
		s.sync() // nothing more until the new pod is ready
		steps = append(steps, s.names())
		s.ready()
	}
	s.sync()
	want := [][]string{{"web-0"}, {"web-0", "web-1"}, {"web-0", "web-1", "web-2"}}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("pods after each step (-want +got):\n%s", diff)
	}
	p := s.pods()[1]
	if p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "nginx" || p.Labels[appsv1.StatefulSetPodNameLabel] != "web-1" ||
		p.Labels[appsv1.PodIndexLabel] != "1" || p.Labels[appsv1.ControllerRevisionHashLabelKey] == "" || !ownerref.IsControlledBy(p, "uid-web") {
		t.Errorf("pod web-1 identity: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}
	if v := p.Spec.Volumes; len(v) != 1 || v[0].PersistentVolumeClaim == nil || v[0].PersistentVolumeClaim.ClaimName != "data-web-1" {
		t.Errorf("pod web-1 volumes = %+v", v)
	}
	pvcs, _ := s.env.Client.CoreV1().PersistentVolumeClaims("ns").List(context.Background(), metav1.ListOptions{})
	var claims []string
	for _, c := range pvcs.Items {
		claims = append(claims, c.Name)
		if c.Labels["app"] != "web" || len(c.OwnerReferences) != 0 {
			t.Errorf("claim %s labels %v owners %v (retained by default)", c.Name, c.Labels, c.OwnerReferences)
		}
	}
	sort.Strings(claims)
	if diff := cmp.Diff([]string{"data-web-0", "data-web-1", "data-web-2"}, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	// Claims come before their pod.
	var order []string
	for _, a := range s.env.Client.Actions() {
		if a.GetVerb() == "create" && (a.GetResource().Resource == "pods" || a.GetResource().Resource == "persistentvolumeclaims") {
			order = append(order, controllertest.Describe(a))
		}
	}
	if len(order) < 2 || order[0] != "create persistentvolumeclaims data-web-0" || order[1] != "create pods web-0" {
		t.Errorf("creation order = %v", order)
	}
	st := s.set().Status
	if st.Replicas != 3 || st.ReadyReplicas != 3 || st.CurrentRevision == "" || st.CurrentRevision != st.UpdateRevision || st.UpdatedReplicas != 3 {
		t.Errorf("status = %+v", st)
	}
}

func TestParallel(t *testing.T) {
	set := newSet(3)
	set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
	s := newSSim(t, set)
	s.sync()
	if diff := cmp.Diff([]string{"web-0", "web-1", "web-2"}, s.names()); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
	s.ready()
	s.updateSet(func(set *appsv1.StatefulSet) { *set.Spec.Replicas = 0 })
	s.sync()
	var deleting []string
	for _, p := range s.pods() {
		if p.DeletionTimestamp != nil {
			deleting = append(deleting, p.Name)
		}
	}
	if deleted := s.env.Deleted("pods"); len(deleted) != 3 {
		t.Errorf("deleted %v, want all three at once", deleted)
	}
}

func TestOrderedScaleDown(t *testing.T) {
	s := newSSim(t, newSet(3))
	for i := 0; i < 3; i++ {
		s.sync()
		s.ready()
	}
	s.updateSet(func(set *appsv1.StatefulSet) { *set.Spec.Replicas = 1 })
	var steps [][]string
	for i := 0; i < 2; i++ {
		s.env.Client.ClearActions()
		s.sync()
		s.sync()
		steps = append(steps, s.env.Deleted("pods"))
		s.gone()
	}
	if diff := cmp.Diff([][]string{{"web-2"}, {"web-1"}}, steps); diff != "" {
		t.Errorf("deletions per step (-want +got):\n%s", diff)
	}
}

func TestRollingUpdateWithPartition(t *testing.T) {
	s := newSSim(t, newSet(3))
	for i := 0; i < 3; i++ {
		s.sync()
		s.ready()
	}
	rev1 := s.set().Status.CurrentRevision
	s.updateSet(func(set *appsv1.StatefulSet) {
		set.Spec.Template.Spec.Containers[0].Image = "v2"
		set.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(1))}
	})
	var steps []string
	for i := 0; i < 4; i++ {
		s.env.Client.ClearActions()
		s.sync()
		if d := s.env.Deleted("pods"); len(d) > 0 {
			steps = append(steps, "delete "+strings.Join(d, ","))
		}
		s.gone()
		s.sync()
		s.ready()
	}
	if diff := cmp.Diff([]string{"delete web-2", "delete web-1"}, steps); diff != "" {
		t.Errorf("update steps (-want +got):\n%s", diff)
	}
	st := s.set().Status
	if st.CurrentRevision != rev1 || st.UpdateRevision == rev1 || st.UpdatedReplicas != 2 || st.CurrentReplicas != 1 {
		t.Errorf("status = %+v; want web-0 at %s and two at the update revision", st, rev1)
	}
	revOf := map[string]string{}
	for _, p := range s.pods() {
		revOf[p.Name] = p.Labels[appsv1.ControllerRevisionHashLabelKey]
		if p.Name != "web-0" && p.Spec.Containers[0].Image != "v2" || p.Name == "web-0" && p.Spec.Containers[0].Image != "v1" {
			t.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
	// web-0, below the partition, comes back at the current revision when
	// deleted.
	if err := s.env.Client.Tracker().Delete(podGVR, "ns", "web-0"); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	s.sync()
	for _, p := range s.pods() {
		if p.Name == "web-0" && (p.Labels[appsv1.ControllerRevisionHashLabelKey] != rev1 || p.Spec.Containers[0].Image != "v1") {
			t.Errorf("recreated web-0 at %s running %s, want %s and v1", p.Labels[appsv1.ControllerRevisionHashLabelKey], p.Spec.Containers[0].Image, rev1)
		}
	}
	s.ready()
	// Partition 0 finishes the update; the update revision becomes current.
	s.updateSet(func(set *appsv1.StatefulSet) { set.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(0)) })
	for i := 0; i < 3; i++ {
		s.sync()
		s.gone()
		s.sync()
		s.ready()
	}
	st = s.set().Status
	if st.CurrentRevision != st.UpdateRevision || st.UpdatedReplicas != 3 || st.CurrentReplicas != 3 {
		t.Errorf("status after the full update = %+v", st)
	}
	revs, _ := s.env.Client.AppsV1().ControllerRevisions("ns").List(context.Background(), metav1.ListOptions{})
	if len(revs.Items) != 2 {
		t.Errorf("%d controller revisions, want 2", len(revs.Items))
	}
}

func TestOnDelete(t *testing.T) {
	set := newSet(2)
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	s := newSSim(t, set)
	for i := 0; i < 2; i++ {
		s.sync()
		s.ready()
	}
	s.updateSet(func(set *appsv1.StatefulSet) { set.Spec.Template.Spec.Containers[0].Image = "v2" })
	s.env.Client.ClearActions()
	s.sync()
	if d := s.env.Deleted("pods"); len(d) != 0 {
		t.Errorf("OnDelete deleted %v", d)
	}
	if err := s.env.Client.Tracker().Delete(podGVR, "ns", "web-1"); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	s.sync()
	for _, p := range s.pods() {
		want := map[string]string{"web-0": "v1", "web-1": "v2"}[p.Name]
		if p.Spec.Containers[0].Image != want {
			t.Errorf("%s runs %s, want %s", p.Name, p.Spec.Containers[0].Image, want)
		}
	}
}

func TestClaimRetention(t *testing.T) {
	set := newSet(2)
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
	}
	s := newSSim(t, set)
	for i := 0; i < 2; i++ {
		s.sync()
		s.ready()
	}
	s.updateSet(func(set *appsv1.StatefulSet) { *set.Spec.Replicas = 1 })
	s.sync()
	claim, err := s.env.Client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "data-web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for _, r := range claim.OwnerReferences {
		owners = append(owners, r.Kind+"/"+r.Name)
	}
	sort.Strings(owners)
	if diff := cmp.Diff([]string{"Pod/web-1", "StatefulSet/web"}, owners); diff != "" {
		t.Errorf("owners of data-web-1 after scale-down (-want +got):\n%s", diff)
	}
}

func TestFailedPodReplaced(t *testing.T) {
	s := newSSim(t, newSet(1))
	s.sync()
	p := s.pods()[0]
	p.Status.Phase = corev1.PodFailed
	if err := s.env.Client.Tracker().Update(podGVR, p, "ns"); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	s.sync()
	if d := s.env.Deleted("pods"); len(d) != 1 || d[0] != "web-0" {
		t.Fatalf("deleted %v, want the failed web-0", d)
	}
	s.gone()
	s.sync()
	if names := s.names(); len(names) != 1 || s.pods()[0].Status.Phase == corev1.PodFailed {
		t.Errorf("pods %v: want a new web-0", names)
	}
}

func TestMinReadySecondsGatesOrder(t *testing.T) {
	set := newSet(2)
	set.Spec.MinReadySeconds = 30
	s := newSSim(t, set)
	s.sync()
	s.ready()
	err := s.c.Sync(context.Background(), "ns/web")
	if err == nil || !strings.Contains(err.Error(), "30s") {
		t.Fatalf("Sync = %v, want a requeue when web-0 becomes available", err)
	}
	s.refresh()
	if n := len(s.pods()); n != 1 {
		t.Fatalf("%d pods before web-0 is available, want 1", n)
	}
	s.env.Clock.Step(30 * time.Second)
	s.sync()
	if n := len(s.pods()); n != 2 {
		t.Errorf("%d pods after minReadySeconds, want 2", n)
	}
}
