package noderoute

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/controller/route"
)

func rt(dst, gw string) Route {
	return Route{Dst: netip.MustParsePrefix(dst), Gateway: netip.MustParseAddr(gw)}
}

func want(pairs ...string) []route.Route {
	var out []route.Route
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, route.Route{Destination: pairs[i], Gateway: pairs[i+1], Node: fmt.Sprint("n", i/2)})
	}
	return out
}

func TestPlan(t *testing.T) {
	local := func(a netip.Addr) bool { return a == netip.MustParseAddr("192.168.1.1") }
	tests := []struct {
		name              string
		want              []route.Route
		owned             []Route
		add, replace, del []Route
		skipped           int
	}{
		{name: "nothing"},
		{name: "add missing", want: want("10.42.1.0/24", "192.168.1.2", "10.42.2.0/24", "192.168.1.3"),
			owned: []Route{rt("10.42.1.0/24", "192.168.1.2")}, add: []Route{rt("10.42.2.0/24", "192.168.1.3")}},
		{name: "delete stale", want: want("10.42.1.0/24", "192.168.1.2"),
			owned: []Route{rt("10.42.1.0/24", "192.168.1.2"), rt("10.42.9.0/24", "192.168.1.9")}, del: []Route{rt("10.42.9.0/24", "192.168.1.9")}},
		{name: "gateway changed", want: want("10.42.1.0/24", "192.168.1.5"),
			owned: []Route{rt("10.42.1.0/24", "192.168.1.2")}, replace: []Route{rt("10.42.1.0/24", "192.168.1.5")}},
		{name: "already right", want: want("10.42.1.0/24", "192.168.1.2"), owned: []Route{rt("10.42.1.0/24", "192.168.1.2")}},
		{name: "unmasked destination", want: want("10.42.1.7/24", "192.168.1.2"), add: []Route{rt("10.42.1.0/24", "192.168.1.2")}},
		{name: "local gateway skipped and our old route to it deleted", want: want("10.42.1.0/24", "192.168.1.1"),
			owned: []Route{rt("10.42.1.0/24", "192.168.1.2")}, del: []Route{rt("10.42.1.0/24", "192.168.1.2")}, skipped: 1},
		{name: "bad entries skipped", want: want("nope", "192.168.1.2", "10.42.1.0/24", "x", "10.42.2.0/24", "fd00::1"), skipped: 3},
		{name: "ipv6", want: want("fd42:0:0:1::/64", "fd00::2"), add: []Route{rt("fd42:0:0:1::/64", "fd00::2")}},
		{name: "duplicate owned route deleted", want: want("10.42.1.0/24", "192.168.1.2"),
			owned: []Route{rt("10.42.1.0/24", "192.168.1.2"), rt("10.42.1.0/24", "192.168.1.3")}, del: []Route{rt("10.42.1.0/24", "192.168.1.3")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			add, replace, del, skipped := Plan(tc.want, tc.owned, local)
			opt := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
			popt := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
			if d := cmp.Diff(tc.add, add, opt, popt); d != "" {
				t.Errorf("add (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.replace, replace, opt, popt); d != "" {
				t.Errorf("replace (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.del, del, opt, popt); d != "" {
				t.Errorf("delete (-want +got):\n%s", d)
			}
			if len(skipped) != tc.skipped {
				t.Errorf("skipped %q, want %d", skipped, tc.skipped)
			}
		})
	}
}

// fakeTable is a routing table in memory; foreign routes are someone
// else's.
type fakeTable struct {
	ours    map[netip.Prefix]netip.Addr
	foreign map[netip.Prefix]bool
}

func (f *fakeTable) Owned() ([]Route, error) {
	var out []Route
	for d, g := range f.ours {
		out = append(out, Route{Dst: d, Gateway: g})
	}
	return out, nil
}

func (f *fakeTable) Add(r Route) error {
	if _, ok := f.ours[r.Dst]; ok || f.foreign[r.Dst] {
		return fmt.Errorf("%s: %w", r, ErrExists)
	}
	f.ours[r.Dst] = r.Gateway
	return nil
}

func (f *fakeTable) Replace(r Route) error   { f.ours[r.Dst] = r.Gateway; return nil }
func (f *fakeTable) Delete(r Route) error    { delete(f.ours, r.Dst); return nil }
func (f *fakeTable) Local(a netip.Addr) bool { return false }

func TestSync(t *testing.T) {
	tests := []struct {
		name    string
		ours    []Route
		foreign []string
		want    []route.Route
		after   []string
	}{
		{name: "converges", ours: []Route{rt("10.42.9.0/24", "192.168.1.9"), rt("10.42.1.0/24", "192.168.1.7")},
			want:  want("10.42.1.0/24", "192.168.1.2", "10.42.2.0/24", "192.168.1.3"),
			after: []string{"10.42.1.0/24 via 192.168.1.2", "10.42.2.0/24 via 192.168.1.3"}},
		{name: "foreign route kept", foreign: []string{"10.42.1.0/24"}, want: want("10.42.1.0/24", "192.168.1.2")},
		{name: "empty annotation removes ours", ours: []Route{rt("10.42.9.0/24", "192.168.1.9")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTable{ours: map[netip.Prefix]netip.Addr{}, foreign: map[netip.Prefix]bool{}}
			for _, r := range tc.ours {
				f.ours[r.Dst] = r.Gateway
			}
			for _, d := range tc.foreign {
				f.foreign[netip.MustParsePrefix(d)] = true
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			for range 2 { // idempotent
				if err := Sync(f, tc.want, log); err != nil {
					t.Fatalf("Sync: %v", err)
				}
				got, _ := f.Owned()
				var s []string
				for _, r := range got {
					s = append(s, r.String())
				}
				sort.Strings(s)
				if d := cmp.Diff(tc.after, s); d != "" {
					t.Errorf("routes after Sync (-want +got):\n%s", d)
				}
			}
		})
	}
}
