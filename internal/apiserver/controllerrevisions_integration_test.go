//go:build integration

package apiserver_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestControllerRevisions checks create, list and that data is immutable.
func TestControllerRevisions(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	ctx := context.Background()
	n := ns(t, s.Client)
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f", Labels: map[string]string{"app": "web"}},
		Data:       runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"metadata":{"labels":{"app":"web"}}}}}`)},
		Revision:   1,
	}
	got, err := s.Client.AppsV1().ControllerRevisions(n).Create(ctx, cr, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		change  func(*appsv1.ControllerRevision)
		wantErr bool
	}{
		{name: "revision may change", change: func(c *appsv1.ControllerRevision) { c.Revision = 3 }},
		{name: "data is immutable", change: func(c *appsv1.ControllerRevision) { c.Data.Raw = []byte(`{"spec":{}}`) }, wantErr: true},
		{name: "negative revision", change: func(c *appsv1.ControllerRevision) { c.Revision = -1 }, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := s.Client.AppsV1().ControllerRevisions(n).Get(ctx, got.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tc.change(cur)
			_, err = s.Client.AppsV1().ControllerRevisions(n).Update(ctx, cur, metav1.UpdateOptions{})
			if tc.wantErr && !apierrors.IsInvalid(err) {
				t.Errorf("got %v, want 422 Invalid", err)
			}
			if !tc.wantErr && err != nil {
				t.Errorf("got %v, want success", err)
			}
		})
	}
	bad := cr.DeepCopy()
	bad.Name, bad.Data = "nodata", runtime.RawExtension{}
	if _, err := s.Client.AppsV1().ControllerRevisions(n).Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("creating without data: got %v, want 422 Invalid", err)
	}
}
