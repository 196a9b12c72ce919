package nodelifecycle

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCIDRSet(t *testing.T) {
	s, err := NewCIDRSet("10.42.0.0/23", 24)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range []string{"a", "b", "a"} {
		c, err := s.Allocate(n)
		if err != nil {
			t.Fatalf("Allocate(%s): %v", n, err)
		}
		got = append(got, c)
	}
	if diff := cmp.Diff([]string{"10.42.0.0/24", "10.42.1.0/24", "10.42.0.0/24"}, got); diff != "" {
		t.Errorf("allocations (-want +got):\n%s", diff)
	}
	if _, err := s.Allocate("c"); !errors.Is(err, ErrCIDRExhausted) {
		t.Errorf("Allocate on a full set: got %v, want ErrCIDRExhausted", err)
	}
	s.Release("a")
	if c, err := s.Allocate("c"); err != nil || c != "10.42.0.0/24" {
		t.Errorf("Allocate after release: got %q, %v; want 10.42.0.0/24", c, err)
	}
	if h := s.Holder("10.42.0.0/24"); h != "c" {
		t.Errorf("Holder = %q, want c", h)
	}
}

func TestCIDRSetOccupy(t *testing.T) {
	tests := []struct {
		name    string
		node    string
		cidr    string
		wantErr bool
	}{
		{"free CIDR", "x", "10.42.5.0/24", false},
		{"same node again", "a", "10.42.1.0/24", false},
		{"held by another node", "x", "10.42.1.0/24", true},
		{"outside the cluster CIDR", "x", "10.43.0.0/24", true},
		{"wrong size", "x", "10.42.4.0/25", true},
		{"not aligned", "x", "10.42.4.1/24", true},
		{"garbage", "x", "ten", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewCIDRSet("10.42.0.0/16", 24)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Occupy("a", "10.42.1.0/24"); err != nil {
				t.Fatal(err)
			}
			err = s.Occupy(tc.node, tc.cidr)
			if (err != nil) != tc.wantErr {
				t.Errorf("Occupy(%s, %s) = %v, want error %v", tc.node, tc.cidr, err, tc.wantErr)
			}
		})
	}
}

func TestNewCIDRSetRejects(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		mask int
	}{{"fd00::/64", 80}, {"10.0.0.0/24", 16}, {"10.0.0.0/8", 31}, {"nope", 24}} {
		if _, err := NewCIDRSet(tc.cidr, tc.mask); err == nil {
			t.Errorf("NewCIDRSet(%s, /%d): got nil error", tc.cidr, tc.mask)
		}
	}
}
