package serviceaccount

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

func deps(t *testing.T, objs ...runtime.Object) (reconcile.Deps, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Namespace:
			err = f.Core().V1().Namespaces().Informer().GetIndexer().Add(o)
		case *corev1.ServiceAccount:
			err = f.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(o)
		case *corev1.ConfigMap:
			err = f.Core().V1().ConfigMaps().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(10),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clocktesting.NewFakeClock(metav1.Now().Time)}, client
}

func ns(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

func writes(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			out = append(out, v+" "+a.GetResource().Resource)
		}
	}
	return out
}

func TestServiceAccounts(t *testing.T) {
	tests := []struct {
		name       string
		objs       []runtime.Object
		wantWrites []string
	}{
		{"missing default is created", []runtime.Object{ns("a", corev1.NamespaceActive)}, []string{"create serviceaccounts"}},
		{"present default is left alone", []runtime.Object{ns("a", corev1.NamespaceActive),
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "a"}}}, nil},
		{"terminating namespace gets none", []runtime.Object{ns("a", corev1.NamespaceTerminating)}, nil},
		{"absent namespace", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, client := deps(t, tc.objs...)
			c, err := New(Config{}, d)
			if err != nil {
				t.Fatal(err)
			}
			client.ClearActions()
			if err := c.Reconcile(context.Background(), "a"); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if diff := cmp.Diff(tc.wantWrites, writes(client)); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceAccountRecreatedOnDelete(t *testing.T) {
	var got []string
	enqueueNamespaceOf(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "a"}}, DefaultName, func(k string) { got = append(got, k) })
	enqueueNamespaceOf(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "b"}}, DefaultName, func(k string) { got = append(got, k) })
	if diff := cmp.Diff([]string{"a"}, got); diff != "" {
		t.Errorf("enqueued (-want +got):\n%s", diff)
	}
}

func TestPublisher(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name       string
		objs       []runtime.Object
		wantWrites []string
		wantData   map[string]string
	}{
		{"missing configmap is created", []runtime.Object{ns("a", corev1.NamespaceActive)}, []string{"create configmaps"}, map[string]string{"ca.crt": ca}},
		{"stale bundle is replaced", []runtime.Object{ns("a", corev1.NamespaceActive), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: "a"}, Data: map[string]string{"ca.crt": "old", "extra": "x"}}},
			[]string{"update configmaps"}, map[string]string{"ca.crt": ca}},
		{"current bundle left alone", []runtime.Object{ns("a", corev1.NamespaceActive), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: "a"}, Data: map[string]string{"ca.crt": ca}}},
			nil, map[string]string{"ca.crt": ca}},
		{"terminating namespace", []runtime.Object{ns("a", corev1.NamespaceTerminating)}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, client := deps(t, tc.objs...)
			p, err := NewPublisher(PublisherConfig{RootCA: []byte(ca)}, d)
			if err != nil {
				t.Fatal(err)
			}
			client.ClearActions()
			if err := p.Reconcile(context.Background(), "a"); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if diff := cmp.Diff(tc.wantWrites, writes(client)); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			cm, err := client.CoreV1().ConfigMaps("a").Get(context.Background(), RootCAConfigMap, metav1.GetOptions{})
			var got map[string]string
			if err == nil {
				got = cm.Data
			}
			if diff := cmp.Diff(tc.wantData, got); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPublisherNeedsCA(t *testing.T) {
	d, _ := deps(t)
	if _, err := NewPublisher(PublisherConfig{}, d); err == nil {
		t.Error("NewPublisher with no CA: got nil error")
	}
}
