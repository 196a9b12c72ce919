//go:build integration

package apiserver_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestIPAddresses checks that every allocated cluster IP shows as an
// IPAddress naming its Service, that clients cannot create them, and that
// deleting the Service frees it.
func TestIPAddresses(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	ctx := context.Background()
	n := ns(t, s.Client)
	svc, err := s.Client.CoreV1().Services(n).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}, Selector: map[string]string{"app": "web"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := s.Client.NetworkingV1().IPAddresses().Get(ctx, svc.Spec.ClusterIP, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("IPAddress of the service's cluster IP %s: %v", svc.Spec.ClusterIP, err)
	}
	if p := ip.Spec.ParentRef; p == nil || p.Resource != "services" || p.Namespace != n || p.Name != "web" {
		t.Errorf("parentRef: got %+v, want services %s/web", p, n)
	}
	// The kubernetes Service's address is one too.
	if _, err := s.Client.NetworkingV1().IPAddresses().Get(ctx, "10.43.0.1", metav1.GetOptions{}); err != nil {
		t.Errorf("IPAddress of the kubernetes service: %v", err)
	}
	_, err = s.Client.NetworkingV1().IPAddresses().Create(ctx, &networkingv1.IPAddress{
		ObjectMeta: metav1.ObjectMeta{Name: "10.43.9.9"},
		Spec:       networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: n, Name: "x"}},
	}, metav1.CreateOptions{})
	if !apierrors.IsMethodNotSupported(err) {
		t.Errorf("creating an IPAddress: got %v, want 405 MethodNotSupported", err)
	}
	if err := s.Client.CoreV1().Services(n).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the IPAddress is gone", func() error {
		_, err := s.Client.NetworkingV1().IPAddresses().Get(ctx, svc.Spec.ClusterIP, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("got %v, want NotFound", err)
		}
		return nil
	})
}

// TestAllocationRepair writes allocator records behind the server's back
// (a leaked node port, a cluster IP record in the old "namespace/name"
// form) and checks that the repair at start frees the first and turns the
// second into an IPAddress.
func TestAllocationRepair(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := context.Background()
	if _, err := e.Client().Put(ctx, "/registry/ranges/servicenodeports/30999", "gone/svc"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client().Put(ctx, "/registry/ranges/serviceips/10.43.0.77", "old/svc"); err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, server.Config{EtcdServers: e.ClientURLs()})
	resp, err := e.Client().Get(ctx, "/registry/ranges/servicenodeports/30999")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Errorf("leaked node port 30999: still allocated to %q", resp.Kvs[0].Value)
	}
	ip, err := s.Client.NetworkingV1().IPAddresses().Get(ctx, "10.43.0.77", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("old cluster IP record as an IPAddress: %v", err)
	}
	if p := ip.Spec.ParentRef; p == nil || p.Namespace != "old" || p.Name != "svc" {
		t.Errorf("parentRef of the converted record: got %+v, want services old/svc", p)
	}
	// A node port service's port is kept.
	n := ns(t, s.Client)
	svc, err := s.Client.CoreV1().Services(n).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "np"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}, Selector: map[string]string{"a": "b"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("/registry/ranges/servicenodeports/%d", svc.Spec.Ports[0].NodePort)
	if resp, err := e.Client().Get(ctx, key); err != nil || len(resp.Kvs) != 1 {
		t.Errorf("node port record %s: got %v, %v; want one key", key, resp, err)
	}
}
