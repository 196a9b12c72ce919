package namespace

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

type fakeDiscovery struct {
	lists []*metav1.APIResourceList
	err   error
}

func (f fakeDiscovery) ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error) {
	return f.lists, f.err
}

var (
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	configMapsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	all            = []string{"get", "list", "watch", "create", "delete", "deletecollection"}
)

var resources = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: all},
		{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: []string{"get", "update"}},
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: all},
		{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
	}},
	// No deletecollection: deleted one by one.
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: []string{"get", "list", "delete"}},
	}},
}

func object(gvr schema.GroupVersionResource, kind, name string, finalizers ...string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: gvr.GroupVersion().String(), Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "doomed", UID: ktypes.UID("uid-" + name), Finalizers: finalizers},
	}
}

// apiserverDeletes makes the metadata fake delete like the API server: an
// object with finalizers gets a deletionTimestamp and stays.
func apiserverDeletes(md *metadatafake.FakeMetadataClient, now time.Time) {
	tr := md.Tracker()
	del := func(gvr schema.GroupVersionResource, ns, name string) error {
		o, err := tr.Get(gvr, ns, name)
		if err != nil {
			return err
		}
		m := o.(*metav1.PartialObjectMetadata)
		if len(m.Finalizers) == 0 {
			return tr.Delete(gvr, ns, name)
		}
		if m.DeletionTimestamp == nil {
			m = m.DeepCopy()
			ts := metav1.NewTime(now)
			m.DeletionTimestamp = &ts
			return tr.Update(gvr, m, ns)
		}
		return nil
	}
	md.PrependReactor("delete", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		d := a.(clienttesting.DeleteAction)
		return true, nil, del(d.GetResource(), d.GetNamespace(), d.GetName())
	})
	md.PrependReactor("delete-collection", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		gvr := a.GetResource()
		l, err := tr.List(gvr, schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}, a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		for _, o := range l.(*metav1.List).Items {
			m := o.Object.(*metav1.PartialObjectMetadata)
			if err := del(gvr, m.Namespace, m.Name); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
}

func terminatingNS() *corev1.Namespace {
	now := metav1.Now()
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "doomed", DeletionTimestamp: &now},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

type env struct {
	c      *Controller
	client *fake.Clientset
	md     *metadatafake.FakeMetadataClient
	nsInf  func(*corev1.Namespace)
}

func newEnv(t *testing.T, ns *corev1.Namespace, disc fakeDiscovery, objs ...runtime.Object) *env {
	t.Helper()
	client := fake.NewClientset(ns)
	f := informers.NewSharedInformerFactory(client, 0)
	scheme := metadatafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	md := metadatafake.NewSimpleMetadataClient(scheme, objs...)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	apiserverDeletes(md, clk.Now())
	c, err := New(Config{}, Deps{
		Deps: reconcile.Deps{Client: client, Informers: f, Recorder: record.NewFakeRecorder(10),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clk},
		Metadata: md, Discovery: disc,
	})
	if err != nil {
		t.Fatal(err)
	}
	set := func(n *corev1.Namespace) {
		if err := f.Core().V1().Namespaces().Informer().GetIndexer().Update(n); err != nil {
			t.Fatal(err)
		}
	}
	set(ns)
	return &env{c: c, client: client, md: md, nsInf: set}
}

func (e *env) finalized() bool {
	for _, a := range e.client.Actions() {
		// The fake records the finalize PUT as a create.
		if a.GetSubresource() == "finalize" {
			return true
		}
	}
	return false
}

func (e *env) conditions(t *testing.T) map[corev1.NamespaceConditionType]string {
	t.Helper()
	ns, err := e.client.CoreV1().Namespaces().Get(context.Background(), "doomed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[corev1.NamespaceConditionType]string{}
	for _, c := range ns.Status.Conditions {
		out[c.Type] = string(c.Status) + " " + c.Reason
	}
	return out
}

func (e *env) remaining(t *testing.T, gvr schema.GroupVersionResource) []string {
	t.Helper()
	l, err := e.md.Resource(gvr).Namespace("doomed").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range l.Items {
		out = append(out, i.Name)
	}
	return out
}

func TestDeletesEverythingThenFinalizes(t *testing.T) {
	e := newEnv(t, terminatingNS(), fakeDiscovery{lists: resources},
		object(podsGVR, "Pod", "p1"), object(podsGVR, "Pod", "p2"),
		object(configMapsGVR, "ConfigMap", "cm"), object(deploymentsGVR, "Deployment", "d"))
	if err := e.c.Reconcile(context.Background(), "doomed"); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	for _, gvr := range []schema.GroupVersionResource{podsGVR, configMapsGVR, deploymentsGVR} {
		if left := e.remaining(t, gvr); len(left) > 0 {
			t.Errorf("%s left: %v", gvr.Resource, left)
		}
	}
	if !e.finalized() {
		t.Error("namespace not finalized after its content went")
	}
	want := map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "False ResourcesDiscovered",
		corev1.NamespaceDeletionGVParsingFailure: "False ParsedGroupVersions",
		corev1.NamespaceDeletionContentFailure:   "False ContentDeleted",
		corev1.NamespaceContentRemaining:         "False ContentRemoved",
		corev1.NamespaceFinalizersRemaining:      "False ContentHasNoFinalizers",
	}
	if diff := cmp.Diff(want, e.conditions(t)); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
}

func TestWaitsForFinalizers(t *testing.T) {
	e := newEnv(t, terminatingNS(), fakeDiscovery{lists: resources},
		object(configMapsGVR, "ConfigMap", "held", "example.com/hold"), object(configMapsGVR, "ConfigMap", "free"))
	err := e.c.Reconcile(context.Background(), "doomed")
	if err == nil || err.Error() != reconcile.RequeueAfter(2*time.Second).Error() {
		t.Fatalf("Reconcile with content held by a finalizer: got %v, want requeue after 2s", err)
	}
	if e.finalized() {
		t.Fatal("namespace finalized while an object with a finalizer remains")
	}
	if diff := cmp.Diff([]string{"held"}, e.remaining(t, configMapsGVR)); diff != "" {
		t.Errorf("remaining (-want +got):\n%s", diff)
	}
	conds := e.conditions(t)
	if conds[corev1.NamespaceFinalizersRemaining] != "True SomeFinalizersRemain" || conds[corev1.NamespaceContentRemaining] != "True SomeResourcesRemain" {
		t.Errorf("conditions = %v, want content and finalizers remaining", conds)
	}
	ns, _ := e.client.CoreV1().Namespaces().Get(context.Background(), "doomed", metav1.GetOptions{})
	for _, c := range ns.Status.Conditions {
		if c.Type == corev1.NamespaceFinalizersRemaining && c.Message != "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances" {
			t.Errorf("message = %q", c.Message)
		}
	}

	// The finalizer's owner lets go: the object goes, the namespace is
	// finalized.
	if err := e.md.Tracker().Delete(configMapsGVR, "doomed", "held"); err != nil {
		t.Fatal(err)
	}
	e.nsInf(ns)
	e.client.ClearActions()
	if err := e.c.Reconcile(context.Background(), "doomed"); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if !e.finalized() {
		t.Error("namespace not finalized once empty")
	}
}

func TestLeavesOtherNamespacesAlone(t *testing.T) {
	tests := []struct {
		name string
		ns   *corev1.Namespace
	}{
		{"active", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{FinalizerKubernetes}}}},
		{"already finalized by us", func() *corev1.Namespace {
			n := terminatingNS()
			n.Spec.Finalizers = []corev1.FinalizerName{"other"}
			return n
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.ns, fakeDiscovery{lists: resources}, object(configMapsGVR, "ConfigMap", "cm"))
			e.client.ClearActions()
			if err := e.c.Reconcile(context.Background(), "doomed"); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if len(e.client.Actions()) != 0 || len(e.remaining(t, configMapsGVR)) != 1 {
				t.Errorf("acted on a namespace it must leave alone: %v", e.client.Actions())
			}
		})
	}
}

func TestDiscoveryFailureBlocksFinalize(t *testing.T) {
	partial := &discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{{Group: "metrics.k8s.io", Version: "v1beta1"}: errors.New("unavailable")}}
	e := newEnv(t, terminatingNS(), fakeDiscovery{lists: resources, err: partial}, object(configMapsGVR, "ConfigMap", "cm"))
	if err := e.c.Reconcile(context.Background(), "doomed"); err == nil {
		t.Fatal("Reconcile with failed discovery: got nil error")
	}
	if e.finalized() {
		t.Error("finalized with discovery incomplete")
	}
	if len(e.remaining(t, configMapsGVR)) != 0 {
		t.Error("known resources not deleted while discovery is partial")
	}
	if got := e.conditions(t)[corev1.NamespaceDeletionDiscoveryFailure]; got != "True DiscoveryFailed" {
		t.Errorf("discovery condition = %q, want True DiscoveryFailed", got)
	}
}

func TestFinalizeKeepsOtherFinalizers(t *testing.T) {
	ns := terminatingNS()
	ns.Spec.Finalizers = append(ns.Spec.Finalizers, "example.com/other")
	e := newEnv(t, ns, fakeDiscovery{lists: resources})
	var sent *corev1.Namespace
	e.client.PrependReactor("*", "namespaces", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "finalize" {
			sent = a.(clienttesting.CreateAction).GetObject().(*corev1.Namespace)
			return true, sent, nil
		}
		return false, nil, nil
	})
	if err := e.c.Reconcile(context.Background(), "doomed"); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if sent == nil {
		t.Fatal("no finalize request")
	}
	if diff := cmp.Diff([]corev1.FinalizerName{"example.com/other"}, sent.Spec.Finalizers); diff != "" {
		t.Errorf("finalizers sent (-want +got):\n%s", diff)
	}
}
