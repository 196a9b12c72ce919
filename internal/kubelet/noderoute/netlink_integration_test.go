//go:build integration

package noderoute

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// newNetNS returns a netlink handle in a fresh network namespace with a
// veth interface holding 192.0.2.1/24 (so 192.0.2.0/24 gateways are on
// link), up with its peer.
func newNetNS(t *testing.T) *netlink.Handle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("the netlink test needs root (network namespaces)")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("current netns: %v", err)
	}
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("new netns: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("back to the original netns: %v", err)
	}
	orig.Close()
	runtime.UnlockOSThread()
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle: %v", err)
	}
	t.Cleanup(h.Close)
	d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "d0"}, PeerName: "d1"}
	if err := h.LinkAdd(d); err != nil {
		t.Fatalf("adding veth pair: %v", err)
	}
	l, err := h.LinkByName("d0")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := netlink.ParseAddr("192.0.2.1/24")
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	peer, err := h.LinkByName("d1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	// Someone else's route, which Sync must leave alone.
	_, dst, _ := net.ParseCIDR("10.99.0.0/24")
	if err := h.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP("192.0.2.50"), LinkIndex: l.Attrs().Index}); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNetlinkTable(t *testing.T) {
	h := newNetNS(t)
	tb := NewNetlinkTable(h, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	owned := func() []string {
		rs, err := tb.Owned()
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, r := range rs {
			s = append(s, r.String())
		}
		sort.Strings(s)
		return s
	}
	steps := []struct {
		name string
		want []string // destination, gateway pairs
		got  []string
	}{
		{name: "add", want: []string{"10.42.1.0/24", "192.0.2.2", "10.42.2.0/24", "192.0.2.3"},
			got: []string{"10.42.1.0/24 via 192.0.2.2", "10.42.2.0/24 via 192.0.2.3"}},
		{name: "again (idempotent)", want: []string{"10.42.1.0/24", "192.0.2.2", "10.42.2.0/24", "192.0.2.3"},
			got: []string{"10.42.1.0/24 via 192.0.2.2", "10.42.2.0/24 via 192.0.2.3"}},
		{name: "gateway moves, one node goes", want: []string{"10.42.1.0/24", "192.0.2.9"},
			got: []string{"10.42.1.0/24 via 192.0.2.9"}},
		{name: "someone else's destination and a local gateway are left alone",
			want: []string{"10.99.0.0/24", "192.0.2.7", "10.42.1.0/24", "192.0.2.9", "10.42.5.0/24", "192.0.2.1"},
			got:  []string{"10.42.1.0/24 via 192.0.2.9"}},
		{name: "none", got: nil},
	}
	for _, s := range steps {
		if err := Sync(tb, want(s.want...), log); err != nil {
			t.Fatalf("%s: Sync: %v", s.name, err)
		}
		if d := cmp.Diff(s.got, owned()); d != "" {
			t.Errorf("%s: our routes (-want +got):\n%s", s.name, d)
		}
	}
	// The foreign route is still there.
	rs, err := h.RouteGet(net.ParseIP("10.99.0.5"))
	if err != nil || len(rs) == 0 || !rs[0].Gw.Equal(net.ParseIP("192.0.2.50")) {
		t.Errorf("foreign route to 10.99.0.0/24: %v, %v; want via 192.0.2.50", rs, err)
	}
	if !tb.Local(netip.MustParseAddr("192.0.2.1")) || tb.Local(netip.MustParseAddr("192.0.2.2")) || !tb.Local(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("Local: want 192.0.2.1 and 127.0.0.1 local, 192.0.2.2 not")
	}
}
