//go:build integration

package manager_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/controller/manager"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// cluster is a real server with a controller manager, and a stand-in
// kubelet that moves pods to Running and Ready (no nodes are needed).
type cluster struct {
	t          *testing.T
	srv        *servertest.Server
	client     kubernetes.Interface
	rc         *rest.Config
	ns         string
	leaseName  string
	kubeconfig string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	// servertest runs no controller manager of its own: this test runs
	// its own.
	srv := servertest.Start(t, server.Config{})
	c := &cluster{t: t, srv: srv, client: srv.Client, rc: srv.RESTConfig, kubeconfig: srv.Kubeconfig,
		ns: "wl-" + rand.String(6), leaseName: "test-kcm-" + rand.String(6)}
	if _, err := c.client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return c
}

// runManager starts a controller manager; it is stopped (and waited for)
// when the test ends or stop is called.
func (c *cluster) runManager(identity string) (m *manager.Manager, stop func()) {
	c.t.Helper()
	m, err := manager.New(manager.Config{
		LeaderElection: manager.LeaderElection{Name: c.leaseName, Identity: identity,
			LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond},
		DiscoveryPeriod: 2 * time.Second,
		RootCA:          c.rc.TLSClientConfig.CAData,
	}, manager.Deps{
		RESTConfig: c.rc,
		// As in podvisor server: each controller acts as its own service
		// account, so these tests also prove the bootstrap RBAC roles.
		ControllerConfig: manager.ServiceAccountCredentials(c.rc, servertest.Logger(c.t)),
		Log:              servertest.Logger(c.t),
	})
	if err != nil {
		c.t.Fatalf("manager.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.Run(ctx); err != nil {
			c.t.Errorf("manager %s: %v", identity, err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	c.t.Cleanup(stop)
	return m, stop
}

// kubelet plays the node agent for the namespace: every pod becomes
// Running and Ready (or, with finish, Succeeded) until the test ends.
func (c *cluster) kubelet(finish bool) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pods, err := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodRunning && !finish || p.Status.Phase == corev1.PodSucceeded {
					continue
				}
				now := metav1.Now()
				p.Status.StartTime = &now
				if finish {
					p.Status.Phase = corev1.PodSucceeded
					p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: now}}
				} else {
					p.Status.Phase = corev1.PodRunning
					p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
				}
				_, _ = c.client.CoreV1().Pods(c.ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
			}
		}
	}()
	c.t.Cleanup(func() { cancel(); wg.Wait() })
}

// kubectl runs the embedded kubectl in the test namespace.
func (c *cluster) kubectl(args ...string) (string, error) {
	c.t.Helper()
	bin := servertest.Binary(c.t)
	full := append([]string{"kubectl", "--kubeconfig", c.kubeconfig, "-n", c.ns}, args...)
	out, err := exec.Command(bin, full...).CombinedOutput()
	return string(out), err
}

func (c *cluster) mustKubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// eventually polls cond until it holds or 60s pass.
func (c *cluster) eventually(what string, cond func() (bool, error)) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
}

func (c *cluster) count(kind string, sel string) int {
	ctx := context.Background()
	opts := metav1.ListOptions{LabelSelector: sel}
	switch kind {
	case "pods":
		l, err := c.client.CoreV1().Pods(c.ns).List(ctx, opts)
		if err != nil {
			return -1
		}
		n := 0
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				n++
			}
		}
		return n
	case "replicasets":
		l, err := c.client.AppsV1().ReplicaSets(c.ns).List(ctx, opts)
		if err != nil {
			return -1
		}
		return len(l.Items)
	}
	return -1
}

func deployment(name string, replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

func TestDeploymentRolloutAndRollback(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	c.runManager("solo")
	c.kubelet(false)
	ctx := context.Background()
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, deployment("web", 3, "busybox:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out := c.mustKubectl("rollout", "status", "deployment/web", "--timeout=60s")
	if !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status: %s", out)
	}
	c.mustKubectl("set", "image", "deployment/web", "c=busybox:2")
	c.mustKubectl("rollout", "status", "deployment/web", "--timeout=60s")
	c.mustKubectl("annotate", "deployment/web", "kubernetes.io/change-cause=third")
	c.mustKubectl("set", "image", "deployment/web", "c=busybox:3")
	c.mustKubectl("rollout", "status", "deployment/web", "--timeout=60s")
	hist := c.mustKubectl("rollout", "history", "deployment/web")
	for _, want := range []string{"REVISION", "1 ", "2 ", "3 ", "third"} {
		if !strings.Contains(hist, want) {
			t.Errorf("rollout history lacks %q:\n%s", want, hist)
		}
	}
	c.mustKubectl("rollout", "undo", "deployment/web", "--to-revision=1")
	c.mustKubectl("rollout", "status", "deployment/web", "--timeout=60s")
	d, err := c.client.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "busybox:1" {
		t.Errorf("image after undo = %s, want busybox:1", img)
	}
	if rev := d.Annotations["deployment.kubernetes.io/revision"]; rev != "4" {
		t.Errorf("revision after undo = %s, want 4", rev)
	}
	c.eventually("only busybox:1 pods", func() (bool, error) {
		pods, err := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		n := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			if p.Spec.Containers[0].Image != "busybox:1" {
				return false, fmt.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
			}
			n++
		}
		return n == 3, fmt.Errorf("%d pods", n)
	})
	hist = c.mustKubectl("rollout", "history", "deployment/web")
	if !strings.Contains(hist, "4 ") || strings.Contains(hist, "\n1 ") {
		t.Errorf("history after undo should list 4 and no longer 1:\n%s", hist)
	}
	// pause, resume and restart.
	c.mustKubectl("rollout", "pause", "deployment/web")
	c.mustKubectl("set", "image", "deployment/web", "c=busybox:5")
	time.Sleep(time.Second)
	if n := c.count("replicasets", "app=web"); n != 3 {
		t.Errorf("%d ReplicaSets while paused, want 3 (no new one)", n)
	}
	c.mustKubectl("rollout", "resume", "deployment/web")
	c.mustKubectl("rollout", "status", "deployment/web", "--timeout=60s")
	c.mustKubectl("rollout", "restart", "deployment/web")
	c.mustKubectl("rollout", "status", "deployment/web", "--timeout=60s")
	d, _ = c.client.AppsV1().Deployments(c.ns).Get(ctx, "web", metav1.GetOptions{})
	if d.Status.UpdatedReplicas != 3 || d.Status.AvailableReplicas != 3 || d.Annotations["deployment.kubernetes.io/revision"] != "6" {
		t.Errorf("after restart: status %+v revision %s", d.Status, d.Annotations["deployment.kubernetes.io/revision"])
	}
}

func TestGarbageCollectorCascades(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	c.runManager("solo")
	ctx := context.Background()
	for _, name := range []string{"bg", "fg", "orphan"} {
		if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, deployment(name, 2, "busybox"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"bg", "fg", "orphan"} {
		c.eventually(name+" pods", func() (bool, error) { return c.count("pods", "app="+name) == 2, nil })
	}

	c.mustKubectl("delete", "deployment", "bg")
	c.eventually("background cascade", func() (bool, error) {
		return c.count("replicasets", "app=bg") == 0 && c.count("pods", "app=bg") == 0, nil
	})

	c.mustKubectl("delete", "deployment", "fg", "--cascade=foreground", "--wait=false")
	// The Deployment stays, being deleted, until its dependents are gone.
	d, err := c.client.AppsV1().Deployments(c.ns).Get(ctx, "fg", metav1.GetOptions{})
	if err == nil && (d.DeletionTimestamp == nil || !contains(d.Finalizers, metav1.FinalizerDeleteDependents)) {
		t.Errorf("foreground-deleted Deployment: deletionTimestamp %v finalizers %v", d.DeletionTimestamp, d.Finalizers)
	}
	c.eventually("foreground cascade", func() (bool, error) {
		_, err := c.client.AppsV1().Deployments(c.ns).Get(ctx, "fg", metav1.GetOptions{})
		return apierrors.IsNotFound(err) && c.count("replicasets", "app=fg") == 0 && c.count("pods", "app=fg") == 0, err
	})

	c.mustKubectl("delete", "deployment", "orphan", "--cascade=orphan")
	c.eventually("orphan deletion", func() (bool, error) {
		_, err := c.client.AppsV1().Deployments(c.ns).Get(ctx, "orphan", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	time.Sleep(2 * time.Second) // the collector must not follow up
	rss, err := c.client.AppsV1().ReplicaSets(c.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=orphan"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 1 || len(rss.Items[0].OwnerReferences) != 0 {
		t.Fatalf("orphaned ReplicaSets = %+v, want one without owners", rss.Items)
	}
	if n := c.count("pods", "app=orphan"); n != 2 {
		t.Errorf("%d pods of the orphaned ReplicaSet, want 2", n)
	}
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

func TestJobCompletes(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	c.runManager("solo")
	c.kubelet(true)
	ctx := context.Background()
	completions, parallelism := int32(3), int32(2)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi"},
		Spec: batchv1.JobSpec{
			Completions: &completions, Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
			}},
		},
	}
	if _, err := c.client.BatchV1().Jobs(c.ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.mustKubectl("wait", "--for=condition=complete", "job/pi", "--timeout=60s")
	j, err := c.client.BatchV1().Jobs(c.ns).Get(ctx, "pi", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status.Succeeded != 3 || j.Status.Failed != 0 || j.Status.CompletionTime == nil || j.Status.StartTime == nil {
		t.Errorf("job status = %+v", j.Status)
	}
	pods, err := c.client.CoreV1().Pods(c.ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"batch.kubernetes.io/job-name": "pi"}.String()})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod %s keeps the job-tracking finalizer", p.Name)
		}
	}
	// Deleting the Job removes its pods.
	c.mustKubectl("delete", "job", "pi")
	c.eventually("job pods gone", func() (bool, error) {
		return c.count("pods", "batch.kubernetes.io/job-name=pi") == 0, nil
	})
}

func TestLeaderElectionHandover(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	stops := map[string]func(){}
	_, stops["manager-a"] = c.runManager("manager-a")
	_, stops["manager-b"] = c.runManager("manager-b")
	ctx := context.Background()
	holder := func() string {
		l, err := c.client.CoordinationV1().Leases("kube-system").Get(ctx, c.leaseName, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	c.eventually("a leader", func() (bool, error) { return holder() != "", nil })
	first := holder()
	if first != "manager-a" && first != "manager-b" {
		t.Fatalf("lease held by %q", first)
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rs"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptrInt32(2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rs"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "rs"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	if _, err := c.client.AppsV1().ReplicaSets(c.ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("2 pods from the first leader", func() (bool, error) { return c.count("pods", "app=rs") == 2, nil })

	// Stop the leader (it releases the lease); the other takes over.
	next := map[string]string{"manager-a": "manager-b", "manager-b": "manager-a"}[first]
	stops[first]()
	c.eventually("the lease passes to "+next, func() (bool, error) { return holder() == next, nil })
	got, err := c.client.AppsV1().ReplicaSets(c.ns).Get(ctx, "rs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Replicas = ptrInt32(4)
	if _, err := c.client.AppsV1().ReplicaSets(c.ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("4 pods from the new leader", func() (bool, error) { return c.count("pods", "app=rs") == 4, nil })
	// Exactly 4: the stopped manager did nothing more, nobody doubled up.
	time.Sleep(time.Second)
	if n := c.count("pods", "app=rs"); n != 4 {
		t.Errorf("%d pods, want exactly 4", n)
	}
}

func ptrInt32(n int32) *int32 { return &n }

func TestStatefulSetDaemonSetAutoscalerBudget(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	c.runManager("solo")
	c.kubelet(false)
	ctx := context.Background()

	// StatefulSet: ordered pods with their claims.
	two := int32(2)
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &two, ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resourceMust("1Gi")}},
				},
			}},
		},
	}
	if _, err := c.client.AppsV1().StatefulSets(c.ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.mustKubectl("rollout", "status", "statefulset/db", "--timeout=60s")
	for _, name := range []string{"db-0", "db-1"} {
		p, err := c.client.CoreV1().Pods(c.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("pod %s: %v", name, err)
		}
		if p.Spec.Hostname != name || p.Spec.Subdomain != "db" {
			t.Errorf("pod %s hostname %q subdomain %q", name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		if _, err := c.client.CoreV1().PersistentVolumeClaims(c.ns).Get(ctx, "data-"+name, metav1.GetOptions{}); err != nil {
			t.Errorf("claim data-%s: %v", name, err)
		}
	}

	// DaemonSet: one pod per (fake) node, bound by node affinity.
	for _, n := range []string{"node-a-" + c.ns, "node-b-" + c.ns} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"test-ns": c.ns}}}
		if _, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.client.CoreV1().Nodes().Delete(context.Background(), n, metav1.DeleteOptions{}) })
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"test-ns": c.ns},
					Containers:   []corev1.Container{{Name: "c", Image: "busybox"}},
				},
			},
		},
	}
	if _, err := c.client.AppsV1().DaemonSets(c.ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("a daemon pod per node", func() (bool, error) {
		d, err := c.client.AppsV1().DaemonSets(c.ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.DesiredNumberScheduled == 2 && d.Status.CurrentNumberScheduled == 2 && c.count("pods", "app=agent") == 2, nil
	})

	// Autoscaler without a metrics API: it says so and does not guess.
	if _, err := c.client.AppsV1().Deployments(c.ns).Create(ctx, deployment("hpa", 2, "busybox"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.mustKubectl("autoscale", "deployment/hpa", "--min=1", "--max=5", "--cpu=50%")
	c.eventually("the autoscaler's conditions", func() (bool, error) {
		h, err := c.client.AutoscalingV2().HorizontalPodAutoscalers(c.ns).Get(ctx, "hpa", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range h.Status.Conditions {
			if cond.Type == "ScalingActive" && cond.Status == corev1.ConditionFalse && cond.Reason == "FailedGetResourceMetric" {
				return h.Status.CurrentReplicas == 2, nil
			}
		}
		return false, fmt.Errorf("conditions %+v", h.Status.Conditions)
	})
	d, _ := c.client.AppsV1().Deployments(c.ns).Get(ctx, "hpa", metav1.GetOptions{})
	if *d.Spec.Replicas != 2 {
		t.Errorf("the autoscaler changed replicas to %d without metrics", *d.Spec.Replicas)
	}

	// Disruption budget over the StatefulSet's two ready pods.
	c.mustKubectl("create", "poddisruptionbudget", "db", "--selector=app=db", "--min-available=1")
	c.eventually("the budget's status", func() (bool, error) {
		b, err := c.client.PolicyV1().PodDisruptionBudgets(c.ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		st := b.Status
		return st.ExpectedPods == 2 && st.CurrentHealthy == 2 && st.DesiredHealthy == 1 && st.DisruptionsAllowed == 1 && st.ObservedGeneration == b.Generation,
			fmt.Errorf("status %+v", st)
	})
}

func resourceMust(s string) resource.Quantity { return resource.MustParse(s) }
