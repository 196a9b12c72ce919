// Package podnet wires pods to the node's network: one Linux bridge per
// node holding the first address of the node's pod CIDR, a veth pair per
// pod (host end on the bridge, pod end eth0 in the pod's network namespace
// with an address from IPAM, MTU, default route via the bridge), hostPort
// DNAT and egress masquerade in an nftables table (over netlink, no nft
// binary), and the content of a pod's /etc/hosts and /etc/resolv.conf.
// hostNetwork pods need none of it: the kubelet does not call Setup for
// them.
//
// The namespace itself comes from internal/kubelet/podsandbox. Only the
// kubelet, the agent wiring, tests and benchmarks import this package.
//
// Concurrency: pods are set up and torn down in parallel. Node-wide changes
// (Init, Close: the bridge, the nftables table and its chains) hold
// Network.mu for writing and exclude pod changes, which hold it for
// reading; operations on one pod are serialised by a per-pod lock; the
// kernel serialises the netlink and nftables changes themselves, and each
// pod touches only its own veth, its namespace and the DNAT rules tagged
// with its ID. IPAM has its own lock.
//
// Lock order: Network.mu, then a pod's lock, then Network.nftMu or
// IPAM.mu.
package podnet

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Config holds the node network's settings.
type Config struct {
	// BridgeName is the node's bridge, e.g. "pv0" (at most 15 bytes).
	BridgeName string
	// PodCIDR is this node's pod range; the bridge takes its first address.
	PodCIDR netip.Prefix
	// ClusterCIDR is every node's pods (and services): egress to it is
	// not masqueraded. Zero is PodCIDR.
	ClusterCIDR netip.Prefix
	// MTU of the bridge and veths; 0 is 1500.
	MTU int
	// StateDir holds IPAM state (survives agent restarts).
	StateDir string
	// TableName is the nftables table (family ip); "" is
	// "podvisor-<bridge>".
	TableName string
	// VethPrefix starts host-side veth names; "" is "pv". With a pod
	// hash it must fit 15 bytes, so keep it at most 4.
	VethPrefix string
}

// Deps are the Network's collaborators.
type Deps struct {
	Logger *slog.Logger
}

// PortMapping is one hostPort.
type PortMapping struct {
	// Protocol is "TCP" or "UDP" ("" is TCP).
	Protocol      string
	HostPort      uint16
	ContainerPort uint16
	// HostIP limits the mapping to one local address; "" is any local
	// address.
	HostIP string
}

// Result is a pod's network configuration.
type Result struct {
	IP        netip.Addr
	Gateway   netip.Addr
	Prefix    netip.Prefix
	Interface string // in the pod: eth0
	HostVeth  string
}

// Network is the node's pod network. Create it with New, then Init once
// per agent start. Its methods are safe for concurrent use.
type Network struct {
	cfg  Config
	log  *slog.Logger
	ipam *IPAM

	// mu is held for writing by node-wide changes (Init, Close) and for
	// reading by pod changes (Setup, Teardown).
	mu sync.RWMutex

	podsMu sync.Mutex
	pods   map[string]*podLock // +checklocks:podsMu

	// nftMu serialises pods' hostPort rule changes (a list of the
	// chains, then one batch), short next to a pod's link changes.
	nftMu sync.Mutex
}

// podLock serialises the operations on one pod; users counts the
// goroutines holding or waiting for it, so the entry goes when none do.
type podLock struct {
	mu    sync.Mutex
	users int // guarded by Network.podsMu
}

// lockPod locks pod id and returns its unlock.
func (n *Network) lockPod(id string) func() {
	n.podsMu.Lock()
	l := n.pods[id]
	if l == nil {
		l = &podLock{}
		n.pods[id] = l
	}
	l.users++
	n.podsMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		n.podsMu.Lock()
		if l.users--; l.users == 0 {
			delete(n.pods, id)
		}
		n.podsMu.Unlock()
	}
}

// New returns the node network for cfg (no system changes yet).
func New(cfg Config, deps Deps) (*Network, error) {
	if cfg.BridgeName == "" || len(cfg.BridgeName) > 15 {
		return nil, fmt.Errorf("podnet: invalid bridge name %q", cfg.BridgeName)
	}
	if !cfg.PodCIDR.IsValid() {
		return nil, errors.New("podnet: no pod CIDR")
	}
	cfg.PodCIDR = cfg.PodCIDR.Masked()
	if !cfg.ClusterCIDR.IsValid() {
		cfg.ClusterCIDR = cfg.PodCIDR
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.TableName == "" {
		cfg.TableName = "podvisor-" + cfg.BridgeName
	}
	if cfg.VethPrefix == "" {
		cfg.VethPrefix = "pv"
	}
	if len(cfg.VethPrefix) > 4 {
		return nil, fmt.Errorf("podnet: veth prefix %q longer than 4 bytes", cfg.VethPrefix)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("podnet: no state dir")
	}
	ipam, err := NewIPAM(cfg.StateDir+"/ipam", cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Network{cfg: cfg, log: log, ipam: ipam, pods: map[string]*podLock{}}, nil
}

// IPAM returns the address allocator.
func (n *Network) IPAM() *IPAM { return n.ipam }

// Init creates (or adopts) the bridge with the gateway address, enables
// IPv4 forwarding, and (re)creates the nftables table with the masquerade
// rule and empty DNAT chains; existing hostPort rules of running pods are
// kept.
func (n *Network) Init() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.ensureBridge(); err != nil {
		return err
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling ip forwarding: %w", err)
	}
	return n.ensureTable()
}

func (n *Network) ensureBridge() (netlink.Link, error) {
	br, err := netlink.LinkByName(n.cfg.BridgeName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return nil, fmt.Errorf("finding bridge %s: %w", n.cfg.BridgeName, err)
		}
		la := netlink.NewLinkAttrs()
		la.Name, la.MTU = n.cfg.BridgeName, n.cfg.MTU
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("creating bridge %s: %w", n.cfg.BridgeName, err)
		}
		if br, err = netlink.LinkByName(n.cfg.BridgeName); err != nil {
			return nil, fmt.Errorf("finding bridge %s: %w", n.cfg.BridgeName, err)
		}
	}
	if _, ok := br.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("%s exists and is not a bridge", n.cfg.BridgeName)
	}
	gw := Gateway(n.cfg.PodCIDR)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(n.cfg.PodCIDR.Bits(), 32)}}
	if err := netlink.AddrReplace(br, addr); err != nil {
		return nil, fmt.Errorf("addressing bridge %s: %w", n.cfg.BridgeName, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("bringing bridge %s up: %w", n.cfg.BridgeName, err)
	}
	return br, nil
}

// Close removes the bridge and the nftables table (node teardown and
// tests). Pods must have been torn down.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	if br, err := netlink.LinkByName(n.cfg.BridgeName); err == nil {
		if err := netlink.LinkDel(br); err != nil {
			errs = append(errs, fmt.Errorf("deleting bridge: %w", err))
		}
	}
	c, err := nftables.New()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if t, err := c.ListTableOfFamily(n.cfg.TableName, nftables.TableFamilyIPv4); err == nil && t != nil {
		c.DelTable(t)
		if err := c.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("deleting nftables table: %w", err))
		}
	}
	return errors.Join(errs...)
}

// VethName returns the host-side veth name for pod id.
func (n *Network) VethName(podID string) string {
	h := sha256.Sum256([]byte(podID))
	return n.cfg.VethPrefix + hex.EncodeToString(h[:])[:15-len(n.cfg.VethPrefix)]
}

// Setup connects pod id, whose network namespace is pinned at netnsPath,
// to the bridge and maps its host ports. It is idempotent: a retry keeps
// the pod's address and rebuilds the veth and rules.
func (n *Network) Setup(podID, netnsPath string, ports []PortMapping) (Result, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	defer n.lockPod(podID)()
	ip, err := n.ipam.Allocate(podID)
	if err != nil {
		return Result{}, err
	}
	ok := false
	defer func() {
		if !ok {
			n.teardownLocked(podID, netnsPath)
		}
	}()
	br, err := netlink.LinkByName(n.cfg.BridgeName)
	if err != nil {
		return Result{}, fmt.Errorf("finding bridge %s (Init not run?): %w", n.cfg.BridgeName, err)
	}
	host := n.VethName(podID)
	if old, err := netlink.LinkByName(host); err == nil {
		netlink.LinkDel(old)
	}
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return Result{}, fmt.Errorf("opening pod netns %s: %w", netnsPath, err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return Result{}, fmt.Errorf("netlink in pod netns: %w", err)
	}
	defer nh.Close()
	if old, err := nh.LinkByName("eth0"); err == nil {
		nh.LinkDel(old)
	}
	peer := "t" + host[1:] // temporary name in the host netns
	la := netlink.NewLinkAttrs()
	la.Name, la.MTU, la.MasterIndex = host, n.cfg.MTU, br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: la, PeerName: peer, PeerNamespace: netlink.NsFd(int(ns))}
	if err := netlink.LinkAdd(veth); err != nil {
		return Result{}, fmt.Errorf("creating veth %s: %w", host, err)
	}
	pl, err := nh.LinkByName(peer)
	if err != nil {
		return Result{}, fmt.Errorf("finding pod end of veth: %w", err)
	}
	if err := nh.LinkSetName(pl, "eth0"); err != nil {
		return Result{}, fmt.Errorf("renaming pod veth: %w", err)
	}
	gw := Gateway(n.cfg.PodCIDR)
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(n.cfg.PodCIDR.Bits(), 32)}}
	if err := nh.AddrAdd(pl, addr); err != nil {
		return Result{}, fmt.Errorf("addressing pod eth0: %w", err)
	}
	if err := nh.LinkSetUp(pl); err != nil {
		return Result{}, fmt.Errorf("bringing pod eth0 up: %w", err)
	}
	if lo, err := nh.LinkByName("lo"); err == nil {
		nh.LinkSetUp(lo)
	}
	if err := nh.RouteAdd(&netlink.Route{LinkIndex: pl.Attrs().Index, Gw: gw.AsSlice(), Dst: nil}); err != nil && !errors.Is(err, unix.EEXIST) {
		return Result{}, fmt.Errorf("adding default route: %w", err)
	}
	hl, err := netlink.LinkByName(host)
	if err != nil {
		return Result{}, fmt.Errorf("finding host veth: %w", err)
	}
	if err := netlink.LinkSetUp(hl); err != nil {
		return Result{}, fmt.Errorf("bringing host veth up: %w", err)
	}
	if err := n.setPorts(podID, ip, ports); err != nil {
		return Result{}, err
	}
	ok = true
	n.log.Debug("pod network set up", "pod", podID, "ip", ip.String(), "veth", host)
	return Result{IP: ip, Gateway: gw, Prefix: n.cfg.PodCIDR, Interface: "eth0", HostVeth: host}, nil
}

// Teardown removes pod id's veth, host-port rules and address. It is
// idempotent and works after an agent restart (nothing but IPAM state is
// needed). netnsPath may be "" if the namespace is already gone.
func (n *Network) Teardown(podID, netnsPath string) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	defer n.lockPod(podID)()
	return n.teardownLocked(podID, netnsPath)
}

// teardownLocked is Teardown.
//
// Preconditions: n.mu is held (for reading) and podID's lock is held.
func (n *Network) teardownLocked(podID, netnsPath string) error {
	var errs []error
	if l, err := netlink.LinkByName(n.VethName(podID)); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("deleting veth: %w", err))
		}
	}
	if err := n.setPorts(podID, netip.Addr{}, nil); err != nil {
		errs = append(errs, err)
	}
	if err := n.ipam.Release(podID); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// nftables layout: table ip <TableName>
//
//	chain prerouting  { type nat hook prerouting priority dstnat; }  hostPort DNAT
//	chain output      { type nat hook output priority dstnat; }      hostPort DNAT, local clients
//	chain postrouting { type nat hook postrouting priority srcnat; } masquerade
//
// DNAT rules carry the pod ID as user data, so Teardown finds them.

func (n *Network) chains(t *nftables.Table) (pre, out, post *nftables.Chain) {
	pre = &nftables.Chain{Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest}
	out = &nftables.Chain{Name: "output", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest}
	post = &nftables.Chain{Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource}
	return
}

func (n *Network) table() *nftables.Table {
	return &nftables.Table{Name: n.cfg.TableName, Family: nftables.TableFamilyIPv4}
}

func (n *Network) ensureTable() error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := c.AddTable(n.table())
	pre, out, post := n.chains(t)
	c.AddChain(pre)
	c.AddChain(out)
	c.AddChain(post)
	c.FlushChain(post)
	// ip saddr <pod cidr> ip daddr != <cluster cidr> oifname != <bridge> masquerade
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: append(append(append(
		matchPrefix(12, n.cfg.PodCIDR, expr.CmpOpEq),
		matchPrefix(16, n.cfg.ClusterCIDR, expr.CmpOpNeq)...),
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(n.cfg.BridgeName)}),
		&expr.Masq{}),
	})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("programming nftables table %s: %w", n.cfg.TableName, err)
	}
	return nil
}

// setPorts replaces pod's DNAT rules with ports (none removes them).
// It touches only the rules tagged with podID; nftMu keeps another pod's
// batch from landing between its listing and its own batch.
func (n *Network) setPorts(podID string, ip netip.Addr, ports []PortMapping) error {
	n.nftMu.Lock()
	defer n.nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := n.table()
	pre, out, _ := n.chains(t)
	tag := []byte("pod:" + podID)
	changed := false
	for _, ch := range []*nftables.Chain{pre, out} {
		rules, err := c.GetRules(t, ch)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), "no such file") {
				continue // no table yet: nothing to remove
			}
			return fmt.Errorf("listing nftables rules: %w", err)
		}
		for _, r := range rules {
			if string(r.UserData) == string(tag) {
				if err := c.DelRule(r); err != nil {
					return fmt.Errorf("deleting hostPort rule: %w", err)
				}
				changed = true
			}
		}
	}
	for _, p := range ports {
		proto := byte(unix.IPPROTO_TCP)
		switch strings.ToUpper(p.Protocol) {
		case "", "TCP":
		case "UDP":
			proto = unix.IPPROTO_UDP
		default:
			return fmt.Errorf("hostPort %d: unsupported protocol %q", p.HostPort, p.Protocol)
		}
		if p.HostPort == 0 || p.ContainerPort == 0 {
			return fmt.Errorf("hostPort mapping %d→%d: ports must be non-zero", p.HostPort, p.ContainerPort)
		}
		var daddr []expr.Any
		if p.HostIP != "" && p.HostIP != "0.0.0.0" {
			hip, err := netip.ParseAddr(p.HostIP)
			if err != nil || !hip.Is4() {
				return fmt.Errorf("hostPort %d: invalid hostIP %q", p.HostPort, p.HostIP)
			}
			daddr = matchPrefix(16, netip.PrefixFrom(hip, 32), expr.CmpOpEq)
		} else {
			// fib daddr type local
			daddr = []expr.Any{
				&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
			}
		}
		port := binary.BigEndian.AppendUint16(nil, p.HostPort)
		exprs := append(daddr,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port},
			&expr.Immediate{Register: 1, Data: ip.AsSlice()},
			&expr.Immediate{Register: 2, Data: binary.BigEndian.AppendUint16(nil, p.ContainerPort)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		)
		for _, ch := range []*nftables.Chain{pre, out} {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: tag})
		}
		changed = true
	}
	if !changed {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("programming hostPort rules: %w", err)
	}
	return nil
}

// matchPrefix matches the IPv4 address at network-header offset off
// (12 saddr, 16 daddr) against p.
func matchPrefix(off uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	mask := net.CIDRMask(p.Bits(), 32)
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()},
	}
}

// ifname pads an interface name to IFNAMSIZ as the kernel compares it.
func ifname(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}

// NetStats are a pod's network counters, from the pod's point of view.
type NetStats struct {
	Interface            string
	RxBytes, TxBytes     uint64
	RxPackets, TxPackets uint64
	RxErrors, TxErrors   uint64
	RxDropped, TxDropped uint64
}

// Stats reads pod id's eth0 counters from the host end of its veth (what
// the host end receives, the pod sent).
func (n *Network) Stats(podID string) (NetStats, error) {
	l, err := netlink.LinkByName(n.VethName(podID))
	if err != nil {
		return NetStats{}, fmt.Errorf("pod %s network: %w", podID, err)
	}
	s := l.Attrs().Statistics
	if s == nil {
		return NetStats{}, fmt.Errorf("pod %s network: no counters", podID)
	}
	return NetStats{
		Interface: "eth0",
		RxBytes:   s.TxBytes, TxBytes: s.RxBytes,
		RxPackets: s.TxPackets, TxPackets: s.RxPackets,
		RxErrors: s.TxErrors, TxErrors: s.RxErrors,
		RxDropped: s.TxDropped, TxDropped: s.RxDropped,
	}, nil
}
