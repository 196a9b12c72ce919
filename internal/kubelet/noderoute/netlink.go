package noderoute

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetlinkTable is the main routing table of a network namespace, over
// netlink.
type NetlinkTable struct {
	h     *netlink.Handle
	proto netlink.RouteProtocol
}

var _ Table = (*NetlinkTable)(nil)

// NewNetlinkTable returns the table of the namespace h is bound to (nil
// is the agent's own namespace), owning the routes of protocol proto (0
// is Protocol; agents sharing a host, as in tests, need one each).
func NewNetlinkTable(h *netlink.Handle, proto int) *NetlinkTable {
	if h == nil {
		h = &netlink.Handle{}
	}
	if proto == 0 {
		proto = Protocol
	}
	return &NetlinkTable{h: h, proto: netlink.RouteProtocol(proto)}
}

// Owned implements Table.Owned.
func (t *NetlinkTable) Owned() ([]Route, error) {
	var out []Route
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := t.h.RouteListFiltered(fam, &netlink.Route{Protocol: t.proto, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, fmt.Errorf("listing routes: %w", err)
		}
		for _, r := range rs {
			if r.Dst == nil || r.Gw == nil {
				continue
			}
			dst, ok := prefixOf(r.Dst)
			gw, ok2 := netip.AddrFromSlice(r.Gw)
			if !ok || !ok2 {
				continue
			}
			out = append(out, Route{Dst: dst, Gateway: gw.Unmap()})
		}
	}
	return out, nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func (t *NetlinkTable) route(r Route) *netlink.Route {
	p := r.Dst.Masked()
	bits := p.Addr().BitLen()
	return &netlink.Route{
		Dst:      &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)},
		Gw:       r.Gateway.AsSlice(),
		Protocol: t.proto,
		Table:    unix.RT_TABLE_MAIN,
	}
}

// Add implements Table.Add.
func (t *NetlinkTable) Add(r Route) error {
	err := t.h.RouteAdd(t.route(r))
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s: %w", r, ErrExists)
	}
	return err
}

// Replace implements Table.Replace.
func (t *NetlinkTable) Replace(r Route) error { return t.h.RouteReplace(t.route(r)) }

// Delete implements Table.Delete.
func (t *NetlinkTable) Delete(r Route) error {
	err := t.h.RouteDel(t.route(r))
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	return err
}

// Local implements Table.Local: a is assigned to one of the namespace's
// interfaces, or is a loopback address.
func (t *NetlinkTable) Local(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	fam := netlink.FAMILY_V4
	if a.Is6() && !a.Is4In6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := t.h.AddrList(nil, fam)
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if b, ok := netip.AddrFromSlice(x.IP); ok && b.Unmap() == a.Unmap() {
			return true
		}
	}
	return false
}
