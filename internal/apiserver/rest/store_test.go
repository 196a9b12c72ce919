package rest

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/storage"
)

func TestToStatus(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	wrap := func(sentinel error) error {
		return fmt.Errorf("ctx: %w", &storage.Error{Err: sentinel, Key: "/k", Msg: "detail"})
	}
	tests := []struct {
		name string
		err  error
		code int32
	}{
		{"not found", wrap(storage.ErrNotFound), 404},
		{"exists", wrap(storage.ErrExists), 409},
		{"conflict", wrap(storage.ErrConflict), 409},
		{"gone", wrap(storage.ErrGone), 410},
		{"too large", wrap(storage.ErrTooLarge), 504},
		{"invalid", wrap(storage.ErrInvalid), 400},
		{"deadline", context.DeadlineExceeded, 504},
		{"other", fmt.Errorf("disk on fire"), 500},
		{"already an API error", apierrors.NewForbidden(gr, "x", fmt.Errorf("no")), 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ToStatus(tc.err, gr, "x")
			if code := got.(apierrors.APIStatus).Status().Code; code != tc.code {
				t.Errorf("code %d, want %d (%v)", code, tc.code, got)
			}
		})
	}
}

func TestReadOptions(t *testing.T) {
	tests := []struct {
		rv, match  string
		consistent bool
		min        int64
		exact      bool
		wantErr    bool
	}{
		{"", "", true, 0, false, false},
		{"0", "", false, 0, false, false},
		{"15", "", false, 15, false, false},
		{"15", "NotOlderThan", false, 15, false, false},
		{"15", "Exact", false, 15, true, false},
		{"0", "Exact", false, 0, false, true},
		{"", "Exact", false, 0, false, true},
		{"x", "", false, 0, false, true},
		{"15", "Sometimes", false, 0, false, true},
	}
	for _, tc := range tests {
		ro, exact, err := readOptions(tc.rv, tc.match)
		if (err != nil) != tc.wantErr {
			t.Errorf("readOptions(%q, %q) error %v, want error %v", tc.rv, tc.match, err, tc.wantErr)
			continue
		}
		if err == nil && (ro.Consistent != tc.consistent || ro.MinRev != tc.min || exact != tc.exact) {
			t.Errorf("readOptions(%q, %q) = %+v exact %v", tc.rv, tc.match, ro, exact)
		}
	}
}
