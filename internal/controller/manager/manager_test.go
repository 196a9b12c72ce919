package manager

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

func TestEnabled(t *testing.T) {
	none := func(*Context, reconcile.Deps) (Runner, error) { return nil, nil }
	regs := []Registration{
		{Name: "a", Aliases: []string{"a-controller"}, New: none},
		{Name: "b", New: none},
		{Name: "c", OffByDefault: true, New: none},
	}
	tests := []struct {
		spec    []string
		want    []string
		wantErr string
	}{
		{[]string{"*"}, []string{"a", "b"}, ""},
		{[]string{"*", "-b"}, []string{"a"}, ""},
		{[]string{"*", "c"}, []string{"a", "b", "c"}, ""},
		{[]string{"b"}, []string{"b"}, ""},
		{[]string{"*", "-a-controller"}, []string{"b"}, ""},
		{[]string{"-a"}, nil, ""},
		{[]string{"*", "nope"}, nil, `unknown controller "nope"`},
		{[]string{"-nope"}, nil, `unknown controller "nope"`},
	}
	for _, tc := range tests {
		got, err := Enabled(regs, tc.spec)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Enabled(%v) error = %v, want %q", tc.spec, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Enabled(%v): %v", tc.spec, err)
			continue
		}
		var names []string
		for _, r := range got {
			names = append(names, r.Name)
		}
		if diff := cmp.Diff(tc.want, names); diff != "" {
			t.Errorf("Enabled(%v) (-want +got):\n%s", tc.spec, diff)
		}
	}
}

func TestRegistrationsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Registrations() {
		for _, n := range append([]string{r.Name}, r.Aliases...) {
			if seen[n] {
				t.Errorf("controller name %q registered twice", n)
			}
			seen[n] = true
		}
		if r.New == nil || r.ServiceAccount == "" {
			t.Errorf("registration %q lacks New or ServiceAccount", r.Name)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{}, Deps{}); err == nil {
		t.Error("New without a REST config succeeded")
	}
}
