//go:build integration

package apiserver_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

func svc(name string, typ corev1.ServiceType) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}}}
}

// TestServiceAllocation creates 50 NodePort services at once, checks that
// every cluster IP and node port is unique and in range, restarts the
// server on the same data dir and checks that new services still get
// unused values, and that deleting releases them.
func TestServiceAllocation(t *testing.T) {
	dir := t.TempDir()
	cfg := server.Config{DataDir: dir, ServiceCIDR: "10.99.0.0/24", NodePortRange: "30000-30299"}
	s := servertest.Start(t, cfg)
	ctx := context.Background()
	n := ns(t, s.Client)
	k, err := s.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if k.Spec.ClusterIP != "10.99.0.1" {
		t.Errorf("kubernetes service IP %s, want the first address 10.99.0.1", k.Spec.ClusterIP)
	}
	_, cidr, _ := net.ParseCIDR(cfg.ServiceCIDR)
	ips, ports := map[string]string{"10.99.0.1": "kubernetes"}, map[int32]string{}
	check := func(out *corev1.Service) {
		t.Helper()
		if ip := net.ParseIP(out.Spec.ClusterIP); ip == nil || !cidr.Contains(ip) {
			t.Errorf("%s: cluster IP %q not in %s", out.Name, out.Spec.ClusterIP, cidr)
		}
		if prev, dup := ips[out.Spec.ClusterIP]; dup {
			t.Errorf("%s and %s share cluster IP %s", out.Name, prev, out.Spec.ClusterIP)
		}
		ips[out.Spec.ClusterIP] = out.Name
		for _, p := range out.Spec.Ports {
			if p.NodePort < 30000 || p.NodePort > 30299 {
				t.Errorf("%s: node port %d out of range", out.Name, p.NodePort)
			}
			if prev, dup := ports[p.NodePort]; dup {
				t.Errorf("%s and %s share node port %d", out.Name, prev, p.NodePort)
			}
			ports[p.NodePort] = out.Name
		}
	}
	create := func(c *servertest.Server, prefix string, count int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := 0; i < count; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				out, err := c.Client.CoreV1().Services(n).Create(ctx, svc(fmt.Sprintf("%s-%d", prefix, i), corev1.ServiceTypeNodePort), metav1.CreateOptions{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("create %s-%d: %v", prefix, i, err)
					return
				}
				check(out)
			}(i)
		}
		wg.Wait()
	}
	create(s, "a", 50)
	if t.Failed() {
		return
	}
	// An explicit IP that is taken is refused; a free one is honoured.
	taken := svc("taken", corev1.ServiceTypeClusterIP)
	taken.Spec.ClusterIP = k.Spec.ClusterIP
	if _, err := s.Client.CoreV1().Services(n).Create(ctx, taken, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Errorf("create with a taken IP: got %v, want 422 already allocated", err)
	}
	s.Stop()
	s2 := servertest.Start(t, cfg)
	create(s2, "b", 20)
	// Deleting releases the IP: it can be requested again.
	a0, err := s2.Client.CoreV1().Services(n).Get(ctx, "a-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("services survive a restart: %v", err)
	}
	if err := s2.Client.CoreV1().Services(n).Delete(ctx, "a-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := svc("again", corev1.ServiceTypeNodePort)
	again.Spec.ClusterIP = a0.Spec.ClusterIP
	again.Spec.Ports[0].NodePort = a0.Spec.Ports[0].NodePort
	if _, err := s2.Client.CoreV1().Services(n).Create(ctx, again, metav1.CreateOptions{}); err != nil {
		t.Errorf("reusing a released IP and node port: %v", err)
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)
	if _, err := c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
	if err != nil || got.Status.Phase != corev1.NamespaceTerminating || got.DeletionTimestamp == nil {
		t.Fatalf("namespace after delete: %v %+v, want Terminating", err, got)
	}
	_, err = c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "y"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "being terminated") {
		t.Errorf("create in a terminating namespace: got %v, want 403", err)
	}
	// Once empty, the namespace goes.
	if err := c.CoreV1().ConfigMaps(n).Delete(ctx, "x", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "terminating namespace disappears when empty", func() error {
		_, err := c.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	if err := c.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting default: got %v, want 403", err)
	}
	if _, err := c.CoreV1().ConfigMaps("never-made").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "z"}}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("create in a missing namespace: got %v, want 404", err)
	}
}

func TestAdmission(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)

	t.Run("service account token volume", func(t *testing.T) {
		if _, err := c.CoreV1().ServiceAccounts(n).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := c.CoreV1().Pods(n).Create(ctx, pod("sa", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.ServiceAccountName != "default" || len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Projected == nil ||
			len(p.Spec.Containers[0].VolumeMounts) != 1 || p.Spec.Containers[0].VolumeMounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
			t.Errorf("pod after service-account admission: sa %q volumes %+v mounts %+v", p.Spec.ServiceAccountName, p.Spec.Volumes, p.Spec.Containers[0].VolumeMounts)
		}
	})
	t.Run("limit range", func(t *testing.T) {
		lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}}}
		if _, err := c.CoreV1().LimitRanges(n).Create(ctx, lr, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := c.CoreV1().Pods(n).Create(ctx, pod("defaulted", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := p.Spec.Containers[0].Resources
		if r.Requests.Cpu().String() != "200m" || r.Limits.Cpu().String() != "500m" {
			t.Errorf("defaulted resources %+v, want request 200m limit 500m", r)
		}
		big := pod("big", nil)
		big.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
		if _, err := c.CoreV1().Pods(n).Create(ctx, big, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "maximum cpu usage per Container is 1") {
			t.Errorf("pod over the limit range: got %v, want 403", err)
		}
	})
	t.Run("resource quota", func(t *testing.T) {
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q"}, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			corev1.ResourceConfigMaps: resource.MustParse("2"),
		}}}
		if _, err := c.CoreV1().ResourceQuotas(n).Create(ctx, q, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if _, err := c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("q%d", i)}}, metav1.CreateOptions{}); err != nil {
				t.Fatalf("configmap %d within quota: %v", i, err)
			}
		}
		_, err := c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "q2"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota: q, requested: configmaps=1, used: configmaps=2, limited: configmaps=2") {
			t.Errorf("configmap over quota: got %v, want 403 exceeded quota", err)
		}
		got, _ := c.CoreV1().ResourceQuotas(n).Get(ctx, "q", metav1.GetOptions{})
		if u := got.Status.Used[corev1.ResourceConfigMaps]; u.String() != "2" {
			t.Errorf("quota status.used configmaps = %s, want 2", u.String())
		}
	})
}

func TestBindingAndEviction(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)
	for i := 0; i < 2; i++ {
		if _, err := c.CoreV1().Pods(n).Create(ctx, pod(fmt.Sprintf("p%d", i), map[string]string{"app": "x"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i)}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
		if err := c.CoreV1().Pods(n).Bind(ctx, b, metav1.CreateOptions{}); err != nil {
			t.Fatalf("bind: %v", err)
		}
		p, _ := c.CoreV1().Pods(n).Get(ctx, fmt.Sprintf("p%d", i), metav1.GetOptions{})
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
		if _, err := c.CoreV1().Pods(n).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p0"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-2"}}
	if err := c.CoreV1().Pods(n).Bind(ctx, b, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("binding a bound pod: got %v, want 409", err)
	}
	p0, _ := c.CoreV1().Pods(n).Get(ctx, "p0", metav1.GetOptions{})
	if p0.Spec.NodeName != "node-1" {
		t.Errorf("bound pod on %q, want node-1", p0.Spec.NodeName)
	}
	minAvail := intstr.FromInt32(2)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "pdb"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: &minAvail, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}}}
	if _, err := c.PolicyV1().PodDisruptionBudgets(n).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "p0", Namespace: n}}
	err := c.CoreV1().Pods(n).EvictV1(ctx, ev)
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "disruption budget") {
		t.Errorf("eviction against the budget: got %v, want 429", err)
	}
	if err := c.PolicyV1().PodDisruptionBudgets(n).Delete(ctx, "pdb", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Pods(n).EvictV1(ctx, ev); err != nil {
		t.Errorf("eviction without a budget: %v", err)
	}
	got, err := c.CoreV1().Pods(n).Get(ctx, "p0", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil {
		t.Errorf("evicted pod: %v %v, want it being deleted", err, got)
	}
}
