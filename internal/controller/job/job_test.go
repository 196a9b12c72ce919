package job

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/testutil/controllertest"
)

var (
	jobGVR = batchv1.SchemeGroupVersion.WithResource("jobs")
	podGVR = corev1.SchemeGroupVersion.WithResource("pods")
)

func ptr[T any](v T) *T { return &v }

func newJob(completions, parallelism *int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pi", UID: "uid-pi"},
		Spec: batchv1.JobSpec{
			Completions:  completions,
			Parallelism:  parallelism,
			BackoffLimit: ptr(int32(6)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "uid-pi"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"batch.kubernetes.io/controller-uid": "uid-pi", "batch.kubernetes.io/job-name": "pi"}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
				},
			},
		},
	}
}

// jsim drives the Job controller over a fake API whose informer caches
// are refreshed from the clientset after each sync.
type jsim struct {
	t   *testing.T
	env *controllertest.Env
	c   *Controller
}

func newJSim(t *testing.T, objs ...runtime.Object) *jsim {
	t.Helper()
	env := controllertest.New(t, objs...)
	c, err := New(Config{}, env.Deps)
	if err != nil {
		t.Fatal(err)
	}
	s := &jsim{t: t, env: env, c: c}
	s.refresh()
	return s
}

func (s *jsim) refresh() {
	s.t.Helper()
	ctx := context.Background()
	jobs, err := s.env.Client.BatchV1().Jobs("ns").List(ctx, metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	var items []any
	for i := range jobs.Items {
		items = append(items, &jobs.Items[i])
	}
	if err := s.env.Deps.Informers.Batch().V1().Jobs().Informer().GetIndexer().Replace(items, ""); err != nil {
		s.t.Fatal(err)
	}
	s.refreshPods()
}

func (s *jsim) refreshPods() {
	s.t.Helper()
	pods, err := s.env.Client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	// Pods being deleted without finalizers are gone (the API server's
	// job); observe removed pods as the informer would.
	var items []any
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil && len(p.Finalizers) == 0 {
			if err := s.env.Client.Tracker().Delete(podGVR, "ns", p.Name); err != nil {
				s.t.Fatal(err)
			}
			continue
		}
		items = append(items, p)
	}
	old := s.env.Deps.Informers.Core().V1().Pods().Informer().GetIndexer().List()
	if err := s.env.Deps.Informers.Core().V1().Pods().Informer().GetIndexer().Replace(items, ""); err != nil {
		s.t.Fatal(err)
	}
	// Feed the handlers so expectations are observed.
	seen := map[types.UID]*corev1.Pod{}
	for _, o := range old {
		seen[o.(*corev1.Pod).UID] = o.(*corev1.Pod)
	}
	for _, it := range items {
		p := it.(*corev1.Pod)
		if prev, ok := seen[p.UID]; ok {
			if prev.ResourceVersion != p.ResourceVersion || !cmp.Equal(prev, p) {
				prev = prev.DeepCopy()
				prev.ResourceVersion = "old"
				s.c.updatePod(prev, p)
			}
			delete(seen, p.UID)
			continue
		}
		s.c.addPod(p)
	}
	for _, gone := range seen {
		s.c.deletePod(gone)
	}
}

func (s *jsim) sync() error {
	s.t.Helper()
	err := s.c.Sync(context.Background(), "ns/pi")
	if err != nil && !strings.HasPrefix(err.Error(), "requeue after") {
		s.t.Fatalf("Sync: %v", err)
	}
	s.refresh()
	return err
}

func (s *jsim) job() *batchv1.Job {
	s.t.Helper()
	j, err := s.env.Client.BatchV1().Jobs("ns").Get(context.Background(), "pi", metav1.GetOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return j
}

func (s *jsim) pods() []*corev1.Pod {
	s.t.Helper()
	list, err := s.env.Client.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []*corev1.Pod
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// finish sets a pod's phase as the kubelet would (exit code for Failed).
func (s *jsim) finish(p *corev1.Pod, phase corev1.PodPhase, exitCode int32) {
	s.t.Helper()
	p = p.DeepCopy()
	p.Status.Phase = phase
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, FinishedAt: metav1.NewTime(s.env.Clock.Now())},
	}}}
	p.ResourceVersion = p.ResourceVersion + "x"
	if err := s.env.Client.Tracker().Update(podGVR, p, "ns"); err != nil {
		s.t.Fatal(err)
	}
	s.refreshPods()
}

func (s *jsim) active() []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range s.pods() {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func hasCond(j *batchv1.Job, t batchv1.JobConditionType, reason string) bool {
	c := condition(j.Status.Conditions, t)
	return c != nil && (reason == "" || c.Reason == reason)
}

func TestNonIndexedRunsToCompletion(t *testing.T) {
	s := newJSim(t, newJob(ptr(int32(3)), ptr(int32(2))))
	s.sync()
	pods := s.active()
	if len(pods) != 2 {
		t.Fatalf("created %d pods, want parallelism 2", len(pods))
	}
	p := pods[0]
	if !hasTrackingFinalizer(p) || !ownerref.IsControlledBy(p, "uid-pi") || !strings.HasPrefix(p.Name, "pi-") {
		t.Errorf("pod %s: finalizers %v owners %v", p.Name, p.Finalizers, p.OwnerReferences)
	}
	if st := s.job().Status; st.StartTime == nil || !st.StartTime.Time.Equal(controllertest.Start) {
		t.Errorf("startTime = %v, want %v", st.StartTime, controllertest.Start)
	}
	for round := 0; round < 5 && !hasCond(s.job(), batchv1.JobComplete, ""); round++ {
		for _, p := range s.active() {
			s.finish(p, corev1.PodSucceeded, 0)
		}
		s.sync()
		s.sync()
	}
	j := s.job()
	if !hasCond(j, batchv1.JobComplete, batchv1.JobReasonCompletionsReached) || !hasCond(j, batchv1.JobSuccessCriteriaMet, "") {
		t.Fatalf("conditions = %+v, want SuccessCriteriaMet and Complete", j.Status.Conditions)
	}
	// Two pods, then one more (min(3-2, 2)): three successes, each
	// counted once.
	if j.Status.Succeeded != 3 || j.Status.Failed != 0 || j.Status.Active != 0 || j.Status.CompletionTime == nil {
		t.Errorf("status = %+v", j.Status)
	}
	for _, p := range s.pods() {
		if hasTrackingFinalizer(p) {
			t.Errorf("pod %s still has the tracking finalizer after completion", p.Name)
		}
	}
}

func TestCountsEachPodOnceAcrossRestarts(t *testing.T) {
	job := newJob(ptr(int32(2)), ptr(int32(2)))
	mk := func(name string, phase corev1.PodPhase, fin bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name),
			Labels: job.Spec.Template.Labels, OwnerReferences: []metav1.OwnerReference{*ownerref.New(job, Kind)}},
			Status: corev1.PodStatus{Phase: phase}}
		if fin {
			p.Finalizers = []string{batchv1.JobTrackingFinalizer}
		}
		return p
	}
	tests := []struct {
		name      string
		uncounted []types.UID
		succeeded int32
		pods      []*corev1.Pod
		want      int32
	}{
		{"new success", nil, 0, []*corev1.Pod{mk("a", corev1.PodSucceeded, true)}, 1},
		{"recorded, finalizer still on (crash before release)", []types.UID{"uid-a"}, 0, []*corev1.Pod{mk("a", corev1.PodSucceeded, true)}, 1},
		{"recorded, finalizer gone (crash before counting)", []types.UID{"uid-a"}, 0, []*corev1.Pod{mk("a", corev1.PodSucceeded, false)}, 1},
		{"recorded, pod gone", []types.UID{"uid-a"}, 0, nil, 1},
		{"counted, finalizer gone", nil, 1, []*corev1.Pod{mk("a", corev1.PodSucceeded, false)}, 1},
		{"two at once", nil, 0, []*corev1.Pod{mk("a", corev1.PodSucceeded, true), mk("b", corev1.PodSucceeded, true)}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := job.DeepCopy()
			j.Status.Succeeded = tc.succeeded
			j.Status.StartTime = &metav1.Time{Time: controllertest.Start}
			if tc.uncounted != nil {
				j.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: tc.uncounted}
			}
			objs := []runtime.Object{j}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			s := newJSim(t, objs...)
			s.sync()
			s.sync()
			st := s.job().Status
			if st.Succeeded != tc.want {
				t.Errorf("succeeded = %d, want %d", st.Succeeded, tc.want)
			}
			if uc := st.UncountedTerminatedPods; uc != nil && len(uc.Succeeded)+len(uc.Failed) > 0 {
				t.Errorf("uncounted left: %+v", uc)
			}
		})
	}
}

func TestStaleCacheDoesNotDoubleCount(t *testing.T) {
	job := newJob(ptr(int32(5)), ptr(int32(1)))
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "uid-a", ResourceVersion: "1",
		Labels: job.Spec.Template.Labels, OwnerReferences: []metav1.OwnerReference{*ownerref.New(job, Kind)},
		Finalizers: []string{batchv1.JobTrackingFinalizer}},
		Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	s := newJSim(t, job, p)
	if err := s.c.Sync(context.Background(), "ns/pi"); err != nil && !strings.HasPrefix(err.Error(), "requeue") {
		t.Fatal(err)
	}
	// The job's cache catches up, the pod's does not (still shows the
	// finalizer).
	jobs, _ := s.env.Client.BatchV1().Jobs("ns").List(context.Background(), metav1.ListOptions{})
	if err := s.env.Deps.Informers.Batch().V1().Jobs().Informer().GetIndexer().Update(&jobs.Items[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.c.Sync(context.Background(), "ns/pi"); err != nil && !strings.HasPrefix(err.Error(), "requeue") {
		t.Fatal(err)
	}
	if got := s.job().Status.Succeeded; got != 1 {
		t.Errorf("succeeded = %d after a sync on a stale pod cache, want 1", got)
	}
}

func TestFailureBackoff(t *testing.T) {
	s := newJSim(t, newJob(ptr(int32(1)), ptr(int32(1))))
	s.sync()
	waits := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second}
	for i, want := range waits {
		pods := s.active()
		if len(pods) != 1 {
			t.Fatalf("round %d: %d active pods, want 1", i, len(pods))
		}
		s.finish(pods[0], corev1.PodFailed, 1)
		err := s.sync()
		if err == nil || !strings.Contains(err.Error(), want.String()) {
			t.Fatalf("round %d: Sync = %v, want a requeue after %v", i, err, want)
		}
		if n := len(s.active()); n != 0 {
			t.Fatalf("round %d: replacement created during back-off", i)
		}
		s.env.Clock.Step(want)
		s.sync()
	}
	if got := s.job().Status.Failed; got != 3 {
		t.Errorf("failed = %d, want 3", got)
	}
}

func TestBackoffLimitFailsJob(t *testing.T) {
	job := newJob(ptr(int32(1)), ptr(int32(2)))
	job.Spec.BackoffLimit = ptr(int32(1))
	s := newJSim(t, job)
	s.sync()
	pods := s.active()
	if len(pods) != 1 {
		t.Fatalf("%d pods, want 1 (completions 1)", len(pods))
	}
	s.finish(pods[0], corev1.PodFailed, 1)
	s.sync()
	s.env.Clock.Step(time.Minute)
	s.sync()
	pods = s.active()
	if len(pods) != 1 {
		t.Fatalf("%d pods after back-off, want 1", len(pods))
	}
	s.finish(pods[0], corev1.PodFailed, 1)
	s.sync()
	s.sync()
	j := s.job()
	if !hasCond(j, batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded) || !hasCond(j, batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded) {
		t.Errorf("conditions = %+v, want FailureTarget and Failed (BackoffLimitExceeded)", j.Status.Conditions)
	}
	if j.Status.Failed != 2 || j.Status.CompletionTime != nil {
		t.Errorf("status = %+v", j.Status)
	}
}

func TestActiveDeadline(t *testing.T) {
	job := newJob(ptr(int32(1)), ptr(int32(1)))
	job.Spec.ActiveDeadlineSeconds = ptr(int64(60))
	s := newJSim(t, job)
	err := s.sync()
	if err == nil || !strings.Contains(err.Error(), "1m0s") {
		t.Fatalf("Sync = %v, want a requeue at the deadline", err)
	}
	s.env.Clock.Step(time.Minute)
	s.sync()
	j := s.job()
	if !hasCond(j, batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded) {
		t.Fatalf("conditions = %+v, want FailureTarget DeadlineExceeded", j.Status.Conditions)
	}
	// The running pod is being deleted and counts as failed as it goes.
	s.sync()
	s.sync()
	j = s.job()
	if !hasCond(j, batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded) || j.Status.Failed != 1 {
		t.Errorf("status = %+v, want Failed/DeadlineExceeded with the killed pod counted", j.Status)
	}
	if n := len(s.pods()); n != 0 {
		t.Errorf("%d pods left", n)
	}
}

func TestIndexed(t *testing.T) {
	job := newJob(ptr(int32(3)), ptr(int32(2)))
	job.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	s := newJSim(t, job)
	s.sync()
	byIndex := func() map[string]*corev1.Pod {
		m := map[string]*corev1.Pod{}
		for _, p := range s.active() {
			m[p.Annotations[batchv1.JobCompletionIndexAnnotation]] = p
		}
		return m
	}
	got := byIndex()
	if len(got) != 2 || got["0"] == nil || got["1"] == nil {
		t.Fatalf("active indexes = %v, want 0 and 1", keys(got))
	}
	p0 := got["0"]
	if p0.Spec.Hostname != "pi-0" || p0.Labels[batchv1.JobCompletionIndexAnnotation] != "0" || !strings.HasPrefix(p0.Name, "pi-0-") {
		t.Errorf("pod of index 0: hostname %q labels %v name %s", p0.Spec.Hostname, p0.Labels, p0.Name)
	}
	if env := p0.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" {
		t.Errorf("env = %+v", env)
	}
	s.finish(got["1"], corev1.PodSucceeded, 0)
	s.sync()
	s.sync()
	if ci := s.job().Status.CompletedIndexes; ci != "1" {
		t.Errorf("completedIndexes = %q, want 1", ci)
	}
	got = byIndex()
	if len(got) != 2 || got["0"] == nil || got["2"] == nil {
		t.Fatalf("active indexes = %v, want 0 and 2", keys(got))
	}
	s.finish(got["0"], corev1.PodSucceeded, 0)
	s.finish(got["2"], corev1.PodFailed, 3)
	s.sync()
	s.env.Clock.Step(time.Minute)
	s.sync()
	got = byIndex()
	if len(got) != 1 || got["2"] == nil {
		t.Fatalf("active indexes = %v, want the failed index 2 again", keys(got))
	}
	s.finish(got["2"], corev1.PodSucceeded, 0)
	s.sync()
	s.sync()
	j := s.job()
	if j.Status.CompletedIndexes != "0-2" || j.Status.Succeeded != 3 || j.Status.Failed != 1 || !hasCond(j, batchv1.JobComplete, "") {
		t.Errorf("status = %+v", j.Status)
	}
}

func keys(m map[string]*corev1.Pod) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSuspendAndResume(t *testing.T) {
	s := newJSim(t, newJob(ptr(int32(2)), ptr(int32(2))))
	s.sync()
	if n := len(s.active()); n != 2 {
		t.Fatalf("%d pods, want 2", n)
	}
	j := s.job()
	j.Spec.Suspend = ptr(true)
	if err := s.env.Client.Tracker().Update(jobGVR, j, "ns"); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	s.sync()
	s.sync()
	j = s.job()
	if n := len(s.pods()); n != 0 {
		t.Errorf("%d pods while suspended, want 0", n)
	}
	if c := condition(j.Status.Conditions, batchv1.JobSuspended); c == nil || c.Reason != "JobSuspended" {
		t.Errorf("Suspended = %+v", c)
	}
	if j.Status.Failed != 0 {
		t.Errorf("failed = %d: suspending is not a failure", j.Status.Failed)
	}
	s.env.Clock.Step(time.Hour)
	j.Spec.Suspend = ptr(false)
	if err := s.env.Client.Tracker().Update(jobGVR, j, "ns"); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	s.sync()
	j = s.job()
	if n := len(s.active()); n != 2 {
		t.Errorf("%d pods after resume, want 2", n)
	}
	var susp *batchv1.JobCondition
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == batchv1.JobSuspended {
			susp = &j.Status.Conditions[i]
		}
	}
	if susp == nil || susp.Status != corev1.ConditionFalse || susp.Reason != "JobResumed" {
		t.Errorf("Suspended = %+v, want False/JobResumed", susp)
	}
	if !j.Status.StartTime.Time.Equal(controllertest.Start.Add(time.Hour)) {
		t.Errorf("startTime = %v, want reset at resume", j.Status.StartTime)
	}
}

func TestPodFailurePolicy(t *testing.T) {
	job := newJob(ptr(int32(1)), ptr(int32(1)))
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{5}}},
	}}
	s := newJSim(t, job)
	s.sync()
	s.finish(s.active()[0], corev1.PodFailed, 42)
	s.sync()
	if j := s.job(); j.Status.Failed != 0 {
		t.Errorf("failed = %d after an ignored exit code, want 0", j.Status.Failed)
	}
	if n := len(s.active()); n != 1 {
		t.Fatalf("%d active pods, want an immediate replacement (ignored failures have no back-off)", n)
	}
	s.finish(s.active()[0], corev1.PodFailed, 5)
	s.sync()
	s.sync()
	j := s.job()
	c := condition(j.Status.Conditions, batchv1.JobFailed)
	if c == nil || c.Reason != batchv1.JobReasonPodFailurePolicy || !strings.Contains(c.Message, "exit code 5 matching FailJob rule at index 1") {
		t.Errorf("Failed condition = %+v", c)
	}
}

func TestDeletedJobReleasesPods(t *testing.T) {
	job := newJob(ptr(int32(1)), ptr(int32(1)))
	s := newJSim(t, job)
	s.sync()
	pod := s.active()[0]
	if err := s.env.Client.Tracker().Delete(jobGVR, "ns", "pi"); err != nil {
		t.Fatal(err)
	}
	s.refresh()
	s.c.deleteJob(job)
	if err := s.c.syncOrphanPod(context.Background(), "ns/"+pod.Name); err != nil {
		t.Fatal(err)
	}
	got, err := s.env.Client.CoreV1().Pods("ns").Get(context.Background(), pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hasTrackingFinalizer(got) {
		t.Error("orphaned pod keeps the tracking finalizer")
	}
}

func TestIndexSet(t *testing.T) {
	tests := []struct {
		in          string
		completions int
		add         []int
		want        string
		total       int
	}{
		{"", 5, nil, "", 0},
		{"", 5, []int{3, 1, 2}, "1-3", 3},
		{"0,2", 5, []int{1}, "0-2", 3},
		{"0-1,4", 5, []int{3}, "0-1,3-4", 4},
		{"1,3-7", 5, nil, "1,3-4", 3},
		{"x,2", 5, nil, "2", 1},
	}
	for _, tc := range tests {
		s := parseIndexes(tc.in, tc.completions).with(tc.add...)
		if s.String() != tc.want || s.total() != tc.total {
			t.Errorf("%q + %v = %q (total %d), want %q (%d)", tc.in, tc.add, s.String(), s.total(), tc.want, tc.total)
		}
	}
	if s := parseIndexes("1,3-4", 5); !s.has(3) || s.has(2) || !s.has(1) || s.has(0) {
		t.Errorf("has() wrong on %v", s)
	}
}
