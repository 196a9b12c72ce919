//go:build integration

package apiserver_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestEventsView checks that core/v1 and events.k8s.io/v1 events are the
// same objects: each API reads what the other wrote, converted.
func TestEventsView(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	ctx := context.Background()
	n := ns(t, s.Client)
	core := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "from-core"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: n, Name: "p"},
		Reason:         "Started", Message: "core message", Type: corev1.EventTypeNormal, Count: 3,
		Source: corev1.EventSource{Component: "test"},
	}
	if _, err := s.Client.CoreV1().Events(n).Create(ctx, core, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Client.EventsV1().Events(n).Get(ctx, "from-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Note != "core message" || got.Regarding.Name != "p" || got.DeprecatedCount != 3 || got.DeprecatedSource.Component != "test" {
		t.Errorf("core event through events.k8s.io: got note %q regarding %q count %d source %q, want %q %q 3 %q",
			got.Note, got.Regarding.Name, got.DeprecatedCount, got.DeprecatedSource.Component, "core message", "p", "test")
	}

	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "from-events"},
		EventTime:  metav1.NowMicro(), ReportingController: "podvisor.io/test", ReportingInstance: "test-1",
		Action: "Testing", Reason: "Tested", Note: "events message", Type: corev1.EventTypeWarning,
		Regarding: corev1.ObjectReference{Kind: "Node", Name: "n1"},
	}
	if _, err := s.Client.EventsV1().Events(n).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Client.CoreV1().Events(n).Get(ctx, "from-events", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Message != "events message" || c.InvolvedObject.Name != "n1" || c.ReportingController != "podvisor.io/test" || c.Action != "Testing" {
		t.Errorf("events.k8s.io event through core: got message %q involved %q controller %q action %q",
			c.Message, c.InvolvedObject.Name, c.ReportingController, c.Action)
	}
	list, err := s.Client.EventsV1().Events(n).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Errorf("events.k8s.io list: got %d events, want 2", len(list.Items))
	}
	if err := s.Client.EventsV1().Events(n).Delete(ctx, "from-core", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.CoreV1().Events(n).Get(ctx, "from-core", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("core get after events.k8s.io delete: got %v, want NotFound", err)
	}
}
