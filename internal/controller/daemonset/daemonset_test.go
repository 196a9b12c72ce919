package daemonset

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"

	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

var (
	dsGVR   = appsv1.SchemeGroupVersion.WithResource("daemonsets")
	podGVR  = corev1.SchemeGroupVersion.WithResource("pods")
	nodeGVR = corev1.SchemeGroupVersion.WithResource("nodes")
)

func newDS() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "agent", UID: "uid-agent", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
}

type nodeOpt func(*corev1.Node)

func node(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func taint(key string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Effect: effect}) }
}

func label(k, v string) nodeOpt { return func(n *corev1.Node) { n.Labels[k] = v } }

func cordoned(n *corev1.Node) {
	n.Spec.Unschedulable = true
	taint(TaintUnschedulable, corev1.TaintEffectNoSchedule)(n)
}

func TestShouldRun(t *testing.T) {
	ds := newDS()
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "edge"}
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "edge", Effect: corev1.TaintEffectNoSchedule}}
	edge := label("role", "edge")
	tests := []struct {
		name      string
		node      *corev1.Node
		run, keep bool
	}{
		{"selected", node("a", edge), true, true},
		{"not selected", node("a"), false, false},
		{"cordoned", node("a", edge, cordoned), true, true},
		{"not ready", node("a", edge, taint(TaintNotReady, corev1.TaintEffectNoExecute)), true, true},
		{"unreachable", node("a", edge, taint(TaintUnreachable, corev1.TaintEffectNoExecute)), true, true},
		{"disk pressure", node("a", edge, taint(TaintDiskPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"memory pressure", node("a", edge, taint(TaintMemoryPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"pid pressure", node("a", edge, taint(TaintPIDPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"network unavailable without host network", node("a", edge, taint(TaintNetworkUnavailable, corev1.TaintEffectNoSchedule)), false, true},
		{"tolerated custom taint", node("a", edge, func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "edge", Effect: corev1.TaintEffectNoSchedule}}
		}), true, true},
		{"untolerated NoSchedule: existing pod stays", node("a", edge, taint("gpu", corev1.TaintEffectNoSchedule)), false, true},
		{"untolerated NoExecute: pod goes", node("a", edge, taint("evict", corev1.TaintEffectNoExecute)), false, false},
		{"PreferNoSchedule ignored", node("a", edge, taint("meh", corev1.TaintEffectPreferNoSchedule)), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, keep := shouldRun(ds, tc.node)
			if run != tc.run || keep != tc.keep {
				t.Errorf("shouldRun = %v,%v, want %v,%v", run, keep, tc.run, tc.keep)
			}
		})
	}
	hn := newDS()
	hn.Spec.Template.Spec.HostNetwork = true
	if run, _ := shouldRun(hn, node("a", taint(TaintNetworkUnavailable, corev1.TaintEffectNoSchedule))); !run {
		t.Error("host-network daemon does not tolerate network-unavailable")
	}
}

type dsim struct {
	t   *testing.T
	env *controllertest.Env
	c   *Controller
}

func newDSim(t *testing.T, objs ...runtime.Object) *dsim {
	t.Helper()
	env := controllertest.New(t, objs...)
	env.GracefulPods = true
	c, err := New(Config{}, env.Deps)
	if err != nil {
		t.Fatal(err)
	}
	s := &dsim{t: t, env: env, c: c}
	s.refresh()
	return s
}

func (s *dsim) refresh() {
	s.t.Helper()
	ctx := context.Background()
	inf := s.env.Deps.Informers
	replace := func(idx cache.Indexer, items []any) {
		if err := idx.Replace(items, ""); err != nil {
			s.t.Fatal(err)
		}
	}
	dss, _ := s.env.Client.AppsV1().DaemonSets("ns").List(ctx, metav1.ListOptions{})
	var items []any
	for i := range dss.Items {
		items = append(items, &dss.Items[i])
	}
	replace(inf.Apps().V1().DaemonSets().Informer().GetIndexer(), items)
	nodes, _ := s.env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	items = nil
	for i := range nodes.Items {
		items = append(items, &nodes.Items[i])
	}
	replace(inf.Core().V1().Nodes().Informer().GetIndexer(), items)
	revs, _ := s.env.Client.AppsV1().ControllerRevisions("ns").List(ctx, metav1.ListOptions{})
	items = nil
	for i := range revs.Items {
		items = append(items, &revs.Items[i])
	}
	replace(inf.Apps().V1().ControllerRevisions().Informer().GetIndexer(), items)
	// Pods through the handlers, so expectations see them.
	pods, _ := s.env.Client.CoreV1().Pods("ns").List(ctx, metav1.ListOptions{})
	idx := inf.Core().V1().Pods().Informer().GetIndexer()
	old := map[string]*corev1.Pod{}
	for _, o := range idx.List() {
		old[o.(*corev1.Pod).Name] = o.(*corev1.Pod)
	}
	items = nil
	for i := range pods.Items {
		items = append(items, &pods.Items[i])
	}
	replace(idx, items)
	for i := range pods.Items {
		p := &pods.Items[i]
		if prev, ok := old[p.Name]; ok {
			delete(old, p.Name)
			if !cmp.Equal(prev, p) {
				prev = prev.DeepCopy()
				prev.ResourceVersion = "old"
				s.c.updatePod(prev, p)
			}
			continue
		}
		s.c.addPod(p)
	}
	for _, p := range old {
		s.c.deletePod(p)
	}
}

func (s *dsim) sync() {
	s.t.Helper()
	if err := s.c.Sync(context.Background(), "ns/agent"); err != nil && !strings.HasPrefix(err.Error(), "requeue after") {
		s.t.Fatalf("Sync: %v", err)
	}
	s.refresh()
}

func (s *dsim) pods() []*corev1.Pod {
	list, _ := s.env.Client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	var out []*corev1.Pod
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return targetNode(out[i])+out[i].Name < targetNode(out[j])+out[j].Name })
	return out
}

// placement lists node:image for every pod not being deleted.
func (s *dsim) placement() []string {
	var out []string
	for _, p := range s.pods() {
		if p.DeletionTimestamp == nil {
			out = append(out, targetNode(p)+":"+p.Spec.Containers[0].Image)
		}
	}
	return out
}

// run plays scheduler and kubelet: pods are bound to their node and become
// ready; pods being deleted go away.
func (s *dsim) run() {
	s.t.Helper()
	for _, p := range s.pods() {
		if p.DeletionTimestamp != nil {
			if err := s.env.Client.Tracker().Delete(podGVR, "ns", p.Name); err != nil {
				s.t.Fatal(err)
			}
			continue
		}
		if p.Status.Phase != "" {
			continue
		}
		p.Spec.NodeName = targetNode(p)
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.env.Clock.Now())}}
		if err := s.env.Client.Tracker().Update(podGVR, p, "ns"); err != nil {
			s.t.Fatal(err)
		}
	}
	s.refresh()
}

func (s *dsim) ds() *appsv1.DaemonSet {
	ds, err := s.env.Client.AppsV1().DaemonSets("ns").Get(context.Background(), "agent", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return ds
}

func (s *dsim) updateDS(f func(*appsv1.DaemonSet)) {
	ds := s.ds()
	f(ds)
	ds.Generation++
	if err := s.env.Client.Tracker().Update(dsGVR, ds, "ns"); err != nil {
		s.t.Fatal(err)
	}
	s.refresh()
}

func TestPlacementAndStatus(t *testing.T) {
	ds := newDS()
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	zone := label("zone", "a")
	s := newDSim(t, ds,
		node("n1", zone), node("n2", zone, cordoned), node("n3", zone, taint(TaintNotReady, corev1.TaintEffectNoExecute)),
		node("n4"), node("n5", zone, taint("gpu", corev1.TaintEffectNoSchedule)))
	s.sync()
	if diff := cmp.Diff([]string{"n1:v1", "n2:v1", "n3:v1"}, s.placement()); diff != "" {
		t.Errorf("placement (-want +got):\n%s", diff)
	}
	p := s.pods()[0]
	if p.Spec.NodeName != "" {
		t.Errorf("pod created with nodeName %q; it should be scheduled through affinity", p.Spec.NodeName)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Values[0] != "n1" {
		t.Errorf("node affinity = %+v", terms)
	}
	var tol []string
	for _, x := range p.Spec.Tolerations {
		tol = append(tol, x.Key+":"+string(x.Effect))
	}
	want := []string{TaintNotReady + ":NoExecute", TaintUnreachable + ":NoExecute", TaintDiskPressure + ":NoSchedule",
		TaintMemoryPressure + ":NoSchedule", TaintPIDPressure + ":NoSchedule", TaintUnschedulable + ":NoSchedule"}
	if diff := cmp.Diff(want, tol); diff != "" {
		t.Errorf("tolerations (-want +got):\n%s", diff)
	}
	s.sync() // no second round on a stale cache
	if n := len(s.pods()); n != 3 {
		t.Errorf("%d pods after a second sync, want 3", n)
	}
	s.run()
	s.sync()
	st := s.ds().Status
	wantSt := appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 3, NumberAvailable: 3,
		UpdatedNumberScheduled: 3, ObservedGeneration: 1, CollisionCount: st.CollisionCount}
	if diff := cmp.Diff(wantSt, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestNodeChanges(t *testing.T) {
	ds := newDS()
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	zone := label("zone", "a")
	s := newDSim(t, ds, node("keep", zone), node("relabel", zone), node("evict", zone), node("nosched", zone))
	s.sync()
	s.run()
	update := func(name string, f nodeOpt) {
		n, _ := s.env.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		f(n)
		if err := s.env.Client.Tracker().Update(nodeGVR, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	update("relabel", func(n *corev1.Node) { delete(n.Labels, "zone") })
	update("evict", taint("evict", corev1.TaintEffectNoExecute))
	update("nosched", taint("gpu", corev1.TaintEffectNoSchedule))
	s.refresh()
	s.sync()
	s.run()
	s.sync()
	if diff := cmp.Diff([]string{"keep:v1", "nosched:v1"}, s.placement()); diff != "" {
		t.Errorf("placement after node changes (-want +got):\n%s", diff)
	}
	if st := s.ds().Status; st.NumberMisscheduled != 1 || st.DesiredNumberScheduled != 1 {
		t.Errorf("status = %+v, want the nosched pod misscheduled and one desired", st)
	}
}

func rollingDS(surge, unavail int32) *appsv1.DaemonSet {
	ds := newDS()
	s, u := intstr.FromInt32(surge), intstr.FromInt32(unavail)
	ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: &s, MaxUnavailable: &u}
	return ds
}

func TestRollingUpdate(t *testing.T) {
	tests := []struct {
		name string
		ds   *appsv1.DaemonSet
		want [][]string
	}{
		{
			name: "maxUnavailable=1",
			ds:   rollingDS(0, 1),
			want: [][]string{
				{"n1:v1", "n2:v1", "n3:v1"}, {"n2:v1", "n3:v1"}, {"n1:v2", "n2:v1", "n3:v1"}, {"n1:v2", "n3:v1"},
				{"n1:v2", "n2:v2", "n3:v1"}, {"n1:v2", "n2:v2"}, {"n1:v2", "n2:v2", "n3:v2"},
			},
		},
		{
			name: "maxSurge=1",
			ds:   rollingDS(1, 0),
			want: [][]string{
				{"n1:v1", "n2:v1", "n3:v1"}, {"n1:v1", "n1:v2", "n2:v1", "n3:v1"}, {"n1:v2", "n2:v1", "n3:v1"},
				{"n1:v2", "n2:v1", "n2:v2", "n3:v1"}, {"n1:v2", "n2:v2", "n3:v1"}, {"n1:v2", "n2:v2", "n3:v1", "n3:v2"},
				{"n1:v2", "n2:v2", "n3:v2"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newDSim(t, tc.ds, node("n1"), node("n2"), node("n3"))
			s.sync()
			s.run()
			s.updateDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "v2" })
			var steps [][]string
			for i := 0; i < 20; i++ {
				got := s.placement()
				if len(steps) == 0 || !cmp.Equal(steps[len(steps)-1], got) {
					steps = append(steps, got)
				}
				s.sync()
				s.run()
			}
			if diff := cmp.Diff(tc.want, steps); diff != "" {
				t.Errorf("rollout steps (-want +got):\n%s", diff)
			}
			if st := s.ds().Status; st.UpdatedNumberScheduled != 3 || st.NumberAvailable != 3 {
				t.Errorf("final status = %+v", st)
			}
		})
	}
}

func TestFailedPodBackoff(t *testing.T) {
	s := newDSim(t, newDS(), node("n1"))
	s.sync()
	s.run()
	fail := func() {
		p := s.pods()[0]
		p.Status.Phase = corev1.PodFailed
		if err := s.env.Client.Tracker().Update(podGVR, p, "ns"); err != nil {
			t.Fatal(err)
		}
		s.refresh()
	}
	fail()
	s.sync()
	if d := s.env.Deleted("pods"); len(d) != 1 {
		t.Fatalf("deleted %v, want the failed pod", d)
	}
	if !strings.Contains(strings.Join(s.env.Events(), "\n"), "FailedDaemonPod") {
		t.Error("no FailedDaemonPod event")
	}
	s.run()
	s.sync()
	s.run()
	fail()
	s.env.Client.ClearActions()
	err := s.c.Sync(context.Background(), "ns/agent")
	if err == nil || !strings.HasPrefix(err.Error(), "requeue after") {
		t.Fatalf("Sync = %v, want a back-off requeue", err)
	}
	if d := s.env.Deleted("pods"); len(d) != 0 {
		t.Errorf("deleted %v during back-off", d)
	}
	s.env.Clock.Step(2 * time.Second)
	s.sync()
	if d := s.env.Deleted("pods"); len(d) != 1 {
		t.Errorf("deleted %v after back-off, want the failed pod", d)
	}
}
