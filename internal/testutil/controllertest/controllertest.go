// Package controllertest helps unit-test controllers against client-go's
// fake clientset: a clientset that fills in what the API server would
// (generateName, uid, creationTimestamp), controller dependencies with a
// fake clock and a buffered event recorder, and helpers to seed informer
// caches and read back the write actions a sync made. Only tests import it.
package controllertest

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Start is the fake clock's initial time in every test.
var Start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Env is a fake cluster for one test.
type Env struct {
	Client   *fake.Clientset
	Clock    *clocktesting.FakeClock
	Recorder *record.FakeRecorder
	Deps     reconcile.Deps
	// GracefulPods makes DELETE of a pod only mark it (deletionTimestamp),
	// as for a pod on a node that must stop it; the test removes it.
	GracefulPods bool

	mu    sync.Mutex
	seq   int
	uidNo int
}

// New returns an Env whose clientset holds objs. Objects created through
// it get a name from generateName, a uid and a creationTimestamp at the
// fake clock's time.
func New(t testing.TB, objs ...runtime.Object) *Env {
	t.Helper()
	e := &Env{
		Client:   fake.NewClientset(objs...),
		Clock:    clocktesting.NewFakeClock(Start),
		Recorder: record.NewFakeRecorder(1000),
	}
	e.Client.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(k8stesting.CreateAction)
		if !ok || ca.GetSubresource() != "" {
			return false, nil, nil
		}
		m, err := meta.Accessor(ca.GetObject())
		if err != nil {
			return false, nil, nil
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if m.GetName() == "" && m.GetGenerateName() != "" {
			e.seq++
			m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), e.seq))
		}
		if m.GetUID() == "" {
			e.uidNo++
			m.SetUID(types.UID(fmt.Sprintf("uid-%s-%d", m.GetName(), e.uidNo)))
		}
		if ts := m.GetCreationTimestamp(); ts.IsZero() {
			m.SetCreationTimestamp(metav1.NewTime(e.Clock.Now()))
		}
		return false, nil, nil
	})
	// DELETE of an object with finalizers only marks it, as the API
	// server does; tests remove it once its finalizers are gone.
	e.Client.PrependReactor("delete", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		da, ok := a.(k8stesting.DeleteAction)
		if !ok || a.GetSubresource() != "" {
			return false, nil, nil
		}
		obj, err := e.Client.Tracker().Get(a.GetResource(), a.GetNamespace(), da.GetName())
		if err != nil {
			return false, nil, nil
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return false, nil, nil
		}
		e.mu.Lock()
		graceful := e.GracefulPods && a.GetResource().Resource == "pods"
		e.mu.Unlock()
		if len(m.GetFinalizers()) == 0 && !graceful {
			return false, nil, nil
		}
		if m.GetDeletionTimestamp() == nil {
			now := metav1.NewTime(e.Clock.Now())
			m.SetDeletionTimestamp(&now)
		}
		return true, nil, e.Client.Tracker().Update(a.GetResource(), obj, a.GetNamespace())
	})
	e.Deps = reconcile.Deps{
		Client:    e.Client,
		Informers: informers.NewSharedInformerFactory(e.Client, 0),
		Recorder:  e.Recorder,
		Log:       slog.New(slog.DiscardHandler),
		Clock:     e.Clock,
	}
	return e
}

// Seed adds objs to the informer's cache (not to the clientset: use
// New(t, objs...) or Client.Tracker() for that).
func Seed(t testing.TB, inf cache.SharedIndexInformer, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		if err := inf.GetIndexer().Add(o); err != nil {
			t.Fatalf("seeding informer: %v", err)
		}
	}
}

// Writes returns the clientset's actions other than get, list and watch,
// as "verb resource[/subresource] [name]" strings, in order.
func (e *Env) Writes() []string {
	var out []string
	for _, a := range e.Client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		out = append(out, Describe(a))
	}
	return out
}

// Describe renders an action as "verb resource[/subresource] [name]".
func Describe(a k8stesting.Action) string {
	res := a.GetResource().Resource
	if s := a.GetSubresource(); s != "" {
		res += "/" + s
	}
	name := ""
	switch x := a.(type) {
	case k8stesting.CreateAction:
		if m, err := meta.Accessor(x.GetObject()); err == nil {
			name = m.GetName()
			if name == "" {
				name = m.GetGenerateName() + "*"
			}
		}
	case k8stesting.UpdateAction:
		if m, err := meta.Accessor(x.GetObject()); err == nil {
			name = m.GetName()
		}
	case k8stesting.DeleteAction:
		name = x.GetName()
	case k8stesting.PatchAction:
		name = x.GetName()
	}
	return strings.TrimSpace(a.GetVerb() + " " + res + " " + name)
}

// Created returns the objects created through the clientset for resource.
func (e *Env) Created(resource string) []runtime.Object {
	var out []runtime.Object
	for _, a := range e.Client.Actions() {
		if ca, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == resource && a.GetSubresource() == "" {
			out = append(out, ca.GetObject())
		}
	}
	return out
}

// Deleted returns the names deleted through the clientset for resource,
// sorted.
func (e *Env) Deleted(resource string) []string {
	var out []string
	for _, a := range e.Client.Actions() {
		if da, ok := a.(k8stesting.DeleteAction); ok && a.GetResource().Resource == resource {
			out = append(out, da.GetName())
		}
	}
	sort.Strings(out)
	return out
}

// LastUpdate returns the object of the last update of resource (with
// subresource, e.g. "status"), or nil.
func (e *Env) LastUpdate(resource, subresource string) runtime.Object {
	acts := e.Client.Actions()
	for i := len(acts) - 1; i >= 0; i-- {
		if ua, ok := acts[i].(k8stesting.UpdateAction); ok && acts[i].GetResource().Resource == resource && acts[i].GetSubresource() == subresource {
			return ua.GetObject()
		}
	}
	return nil
}

// Events drains and returns the recorded events ("Type Reason Message").
func (e *Env) Events() []string {
	var out []string
	for {
		select {
		case ev := <-e.Recorder.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}
