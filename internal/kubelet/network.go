package kubelet

import (
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/podvisor/podvisor/internal/kubelet/podnet"
)

// podNetwork adapts *podnet.Network to Network.
type podNetwork struct {
	*podnet.Network
}

// NewPodNetwork returns n as a Network.
func NewPodNetwork(n *podnet.Network) Network { return podNetwork{n} }

// Lookup implements Network.Lookup: the pod's address from IPAM, if its
// host-side veth still exists.
func (n podNetwork) Lookup(podID string) (netip.Addr, bool) {
	all, err := n.IPAM().Allocated()
	if err != nil {
		return netip.Addr{}, false
	}
	for a, owner := range all {
		if owner == podID {
			if _, err := netlink.LinkByName(n.VethName(podID)); err != nil {
				return netip.Addr{}, false
			}
			return a, true
		}
	}
	return netip.Addr{}, false
}

// Owners implements Network.Owners.
func (n podNetwork) Owners() ([]string, error) {
	all, err := n.IPAM().Allocated()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(all))
	for _, owner := range all {
		out = append(out, owner)
	}
	return out, nil
}
