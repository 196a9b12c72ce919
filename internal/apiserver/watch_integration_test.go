//go:build integration

package apiserver_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

func TestInformers(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := ns(t, c)
	for i := 0; i < 3; i++ {
		if _, err := c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pre-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(n))
	inf := f.Core().V1().ConfigMaps().Informer()
	events := make(chan string, 100)
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { events <- "add " + o.(*corev1.ConfigMap).Name },
		UpdateFunc: func(_, o any) { events <- "update " + o.(*corev1.ConfigMap).Name },
		DeleteFunc: func(o any) {
			if cm, ok := o.(*corev1.ConfigMap); ok {
				events <- "delete " + cm.Name
			}
		},
	})
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	var got []string
	for i := 0; i < 3; i++ {
		got = append(got, <-events)
	}
	sort.Strings(got)
	if diff := cmp.Diff([]string{"add pre-0", "add pre-1", "add pre-2"}, got); diff != "" {
		t.Errorf("initial events (-want +got):\n%s", diff)
	}
	if _, err := c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "live"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps(n).Patch(ctx, "live", types.MergePatchType, []byte(`{"data":{"a":"b"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().ConfigMaps(n).Delete(ctx, "live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got = nil
	timeout := time.After(20 * time.Second)
	for len(got) < 3 {
		select {
		case e := <-events:
			got = append(got, e)
		case <-timeout:
			t.Fatalf("events so far %v", got)
		}
	}
	if diff := cmp.Diff([]string{"add live", "update live", "delete live"}, got); diff != "" {
		t.Errorf("live events (-want +got):\n%s", diff)
	}
}

func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended")
		}
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no watch event within 20s")
	}
	return watch.Event{}
}

func TestWatchSelectorsAndPagination(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)
	start, err := c.CoreV1().Pods(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().Pods(n).Watch(ctx, metav1.ListOptions{LabelSelector: "tier in (web,api),env!=test", ResourceVersion: start.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	fw, err := c.CoreV1().Pods(n).Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-a", ResourceVersion: start.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Stop()
	mk := func(name string, labels map[string]string, node string) {
		p := pod(name, labels)
		p.Spec.NodeName = node
		if _, err := c.CoreV1().Pods(n).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk("web-1", map[string]string{"tier": "web", "env": "prod"}, "node-a")
	mk("web-test", map[string]string{"tier": "web", "env": "test"}, "node-b")
	mk("db-1", map[string]string{"tier": "db"}, "node-a")
	mk("api-1", map[string]string{"tier": "api"}, "")
	// web-1 leaves the selector: it is Deleted for this watch.
	if _, err := c.CoreV1().Pods(n).Patch(ctx, "web-1", types.MergePatchType, []byte(`{"metadata":{"labels":{"env":"test"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"ADDED web-1", "ADDED api-1", "DELETED web-1"}
	var got []string
	for range want {
		ev := nextEvent(t, w)
		got = append(got, string(ev.Type)+" "+ev.Object.(*corev1.Pod).Name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("label-selected watch (-want +got):\n%s", diff)
	}
	got = nil
	for i := 0; i < 2; i++ {
		ev := nextEvent(t, fw)
		got = append(got, string(ev.Type)+" "+ev.Object.(*corev1.Pod).Name)
	}
	if diff := cmp.Diff([]string{"ADDED web-1", "ADDED db-1"}, got); diff != "" {
		t.Errorf("field-selected watch (-want +got):\n%s", diff)
	}

	lists := []struct {
		name   string
		opts   metav1.ListOptions
		expect []string
	}{
		{"equality", metav1.ListOptions{LabelSelector: "tier=web"}, []string{"web-1", "web-test"}},
		{"set-based", metav1.ListOptions{LabelSelector: "tier notin (web), !env"}, []string{"api-1", "db-1"}},
		{"exists", metav1.ListOptions{LabelSelector: "env"}, []string{"web-1", "web-test"}},
		{"field name", metav1.ListOptions{FieldSelector: "metadata.name=db-1"}, []string{"db-1"}},
		{"field node and phase", metav1.ListOptions{FieldSelector: "spec.nodeName=node-a,status.phase=Pending"}, []string{"db-1", "web-1"}},
		{"field not equal", metav1.ListOptions{FieldSelector: "spec.nodeName!=node-a"}, []string{"api-1", "web-test"}},
	}
	for _, tc := range lists {
		t.Run(tc.name, func(t *testing.T) {
			l, err := c.CoreV1().Pods(n).List(ctx, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range l.Items {
				names = append(names, p.Name)
			}
			if diff := cmp.Diff(tc.expect, names); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("pagination", func(t *testing.T) {
		for i := 0; i < 25; i++ {
			if _, err := c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%02d", i)}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var names []string
		opts := metav1.ListOptions{Limit: 10}
		pages := 0
		for {
			l, err := c.CoreV1().ConfigMaps(n).List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, cm := range l.Items {
				names = append(names, cm.Name)
			}
			if pages == 1 && (l.RemainingItemCount == nil || *l.RemainingItemCount != 15) {
				t.Errorf("first page remainingItemCount %v, want 15", l.RemainingItemCount)
			}
			if pages == 1 {
				// A write between pages is not seen by later pages.
				if _, err := c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-99"}}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if l.Continue == "" {
				break
			}
			opts.Continue = l.Continue
		}
		if pages != 3 || len(names) != 25 || names[0] != "cm-00" || names[24] != "cm-24" {
			t.Errorf("%d pages, %d names (%v)", pages, len(names), names)
		}
	})
}

// TestExternalEtcdAndCompaction runs the server against an etcd it does
// not own, compacts that etcd behind the server's back, and checks that old
// watches and continue tokens get 410 Gone.
func TestExternalEtcdAndCompaction(t *testing.T) {
	e := etcdtest.Start(t)
	s := servertest.Start(t, server.Config{EtcdServers: e.ClientURLs()})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)
	for i := 0; i < 5; i++ {
		if _, err := c.CoreV1().ConfigMaps(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.CoreV1().ConfigMaps(n).List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Enough writes to push the old revision out of the watch cache's
	// window is not needed: compaction makes any older watch fall back
	// to etcd, which refuses it.
	for i := 0; i < 5; i++ {
		if _, err := c.CoreV1().ConfigMaps(n).Patch(ctx, "c0", types.MergePatchType, []byte(fmt.Sprintf(`{"data":{"i":"%d"}}`, i)), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := e.Client().Get(ctx, "/registry/", nil...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Client().Compact(ctx, st.Header.Revision); err != nil {
		t.Fatal(err)
	}
	_, err = c.CoreV1().ConfigMaps(n).List(ctx, metav1.ListOptions{Limit: 2, Continue: page.Continue})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("continue from a compacted revision: got %v, want 410 Gone", err)
	}
	w, err := c.CoreV1().ConfigMaps(n).Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	ev := nextEvent(t, w)
	st2, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || st2.Code != 410 {
		t.Errorf("watch from a compacted revision: got %v %+v, want an ERROR event with Status 410", ev.Type, ev.Object)
	}
	// A watch from the compaction revision on still works.
	if _, err := c.CoreV1().ConfigMaps(n).Patch(ctx, "c0", types.MergePatchType, []byte(`{"data":{"i":"after"}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	w2, err := c.CoreV1().ConfigMaps(n).Watch(ctx, metav1.ListOptions{ResourceVersion: fmt.Sprint(st.Header.Revision)})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	if ev := nextEvent(t, w2); ev.Type != watch.Modified {
		t.Errorf("watch from a recent revision: first event %v %+v, want MODIFIED", ev.Type, ev.Object)
	}
}
