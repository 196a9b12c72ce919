//go:build integration

package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestServerRunsControllerManager checks the wiring: a server started
// with its controller manager gives new namespaces their default service
// account and root CA, turns a Deployment into pods, cascades its deletion,
// allocates node pod CIDRs and load-balancer addresses.
func TestServerRunsControllerManager(t *testing.T) {
	cm := server.Config{}
	cm.ControllerManager.Controllers = []string{"*"}
	cm.ControllerManager.LoadBalancerIPPool = "192.0.2.10-192.0.2.11"
	srv := servertest.Start(t, cm)
	c := srv.Client
	ctx := context.Background()
	ns := "cm-" + rand.String(6)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}

	eventually(t, "default service account and kube-root-ca.crt in "+ns, func() (bool, error) {
		if _, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, ignoreNotFound(err)
		}
		cmap, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return false, ignoreNotFound(err)
		}
		return cmap.Data["ca.crt"] == string(srv.RESTConfig.TLSClientConfig.CAData), nil
	})

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "fake-" + rand.String(6)}}
	if _, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating node: %v", err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{}) })
	eventually(t, "a pod CIDR for node "+node.Name, func() (bool, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		return err == nil && n.Spec.PodCIDR != "", err
	})

	replicas := int32(3)
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "busybox"}}},
			},
		},
	}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating deployment: %v", err)
	}
	eventually(t, "3 pods of deployment web", func() (bool, error) {
		n, err := countPods(ctx, c, ns)
		return n == 3, err
	})

	lb := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "lb"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if _, err := c.CoreV1().Services(ns).Create(ctx, lb, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating service: %v", err)
	}
	eventually(t, "a load-balancer address from the pool", func() (bool, error) {
		s, err := c.CoreV1().Services(ns).Get(ctx, "lb", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		ing := s.Status.LoadBalancer.Ingress
		if len(ing) == 0 {
			return false, nil
		}
		if ing[0].IP != "192.0.2.10" && ing[0].IP != "192.0.2.11" {
			return false, fmt.Errorf("address %s is not from the pool", ing[0].IP)
		}
		return true, nil
	})

	if err := c.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting deployment: %v", err)
	}
	eventually(t, "the deployment's ReplicaSet and pods collected", func() (bool, error) {
		rs, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		n, err := countPods(ctx, c, ns)
		return len(rs.Items) == 0 && n == 0, err
	})

	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("deleting namespace: %v", err)
	}
	eventually(t, "namespace "+ns+" gone", func() (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// countPods counts the pods of ns that are not being deleted.
func countPods(ctx context.Context, c kubernetes.Interface, ns string) (int, error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			n++
		}
	}
	return n, nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// eventually polls cond until it holds; it fails the test after a minute.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v (last error: %v)", what, err, last)
	}
}
