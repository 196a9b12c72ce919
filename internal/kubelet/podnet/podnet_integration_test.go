//go:build integration

package podnet_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	tnetns "github.com/podvisor/podvisor/internal/testutil/netns"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testNet is a node network with a unique bridge and pod CIDR.
type testNet struct {
	net *podnet.Network
	sbm *podsandbox.Manager
	cfg podnet.Config
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("integration tests need root")
	}
	suffix := randHex(3)
	b := make([]byte, 1)
	rand.Read(b)
	// 10.213.X.0/24: a random /24 so parallel test packages do not clash.
	cidr := netip.MustParsePrefix(fmt.Sprintf("10.213.%d.0/24", b[0]))
	dir := t.TempDir()
	cfg := podnet.Config{
		BridgeName: "pvt" + suffix, PodCIDR: cidr, StateDir: filepath.Join(dir, "net"),
		VethPrefix: "pvt", MTU: 1400,
	}
	n, err := podnet.New(cfg, podnet.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Init(); err != nil {
		t.Fatalf("init: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("closing network: %v", err)
		}
	})
	sbm, err := podsandbox.New(podsandbox.Config{Dir: filepath.Join(dir, "pods"), CgroupRoot: "/podvisor-test-" + suffix})
	if err != nil {
		t.Fatal(err)
	}
	return &testNet{net: n, sbm: sbm, cfg: cfg}
}

// pod makes a sandbox and connects it.
func (tn *testNet) pod(t *testing.T, ports []podnet.PortMapping) (*podsandbox.Sandbox, podnet.Result) {
	t.Helper()
	id := randHex(8)
	sb, err := tn.sbm.Create(id, podsandbox.Options{Hostname: "p" + id[:5]})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	res, err := tn.net.Setup(id, sb.NetNS, ports)
	if err != nil {
		tn.sbm.Remove(id)
		t.Fatalf("setup: %v", err)
	}
	t.Cleanup(func() {
		if err := tn.net.Teardown(id, sb.NetNS); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if err := tn.sbm.Remove(id); err != nil {
			t.Errorf("sandbox remove: %v", err)
		}
	})
	return sb, res
}

// serve listens on port inside netns and answers every connection with
// msg; the listener closes at cleanup.
func serve(t *testing.T, netnsPath string, port int, msg string) {
	t.Helper()
	var ln net.Listener
	err := tnetns.Do(netnsPath, func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listening in pod: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(msg))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

// fetch dials addr (from the netns at path, or the host if "") and reads
// what the server says.
func fetch(path, addr string) (string, error) {
	var out string
	dial := func() error {
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		out = string(b)
		return err
	}
	if path == "" {
		return out, dial()
	}
	return out, tnetns.Do(path, dial)
}

func TestPodsReachEachOtherAndHost(t *testing.T) {
	tn := newTestNet(t)
	sbA, resA := tn.pod(t, nil)
	sbB, resB := tn.pod(t, nil)
	if resA.IP == resB.IP || !tn.cfg.PodCIDR.Contains(resA.IP) || resA.Gateway != podnet.Gateway(tn.cfg.PodCIDR) {
		t.Fatalf("addresses: A %v B %v", resA, resB)
	}
	serve(t, sbA.NetNS, 8080, "from-a")
	serve(t, sbB.NetNS, 8080, "from-b")
	tests := []struct {
		name, from, to, want string
	}{
		{"pod to pod", sbB.NetNS, resA.IP.String(), "from-a"},
		{"pod to pod, other way", sbA.NetNS, resB.IP.String(), "from-b"},
		{"host to pod", "", resA.IP.String(), "from-a"},
		{"pod to itself on loopback", sbA.NetNS, "127.0.0.1", "from-a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fetch(tc.from, net.JoinHostPort(tc.to, "8080"))
			if err != nil || got != tc.want {
				t.Errorf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
	t.Run("counters", func(t *testing.T) {
		// B fetched from A above: A sent the answer, B received it.
		a, err := tn.net.Stats(sbA.ID)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := tn.net.Stats(sbB.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.TxBytes == 0 || a.RxBytes == 0 || bs.RxBytes == 0 || bs.TxBytes == 0 {
			t.Errorf("counters after traffic: A %+v B %+v", a, bs)
		}
		if _, err := tn.net.Stats("no-such-pod"); err == nil {
			t.Errorf("stats of an unknown pod succeeded")
		}
	})
	t.Run("pod interface", func(t *testing.T) {
		err := tnetns.Do(sbA.NetNS, func() error {
			l, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			if l.Attrs().MTU != 1400 || l.Attrs().OperState != netlink.OperUp && l.Attrs().Flags&net.FlagUp == 0 {
				return fmt.Errorf("eth0 mtu %d flags %v", l.Attrs().MTU, l.Attrs().Flags)
			}
			routes, err := netlink.RouteList(l, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			for _, r := range routes {
				if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == resA.Gateway.String() {
					return nil
				}
			}
			return fmt.Errorf("no default route via %s in %v", resA.Gateway, routes)
		})
		if err != nil {
			t.Error(err)
		}
	})
}

func TestHostPort(t *testing.T) {
	tn := newTestNet(t)
	b := make([]byte, 2)
	rand.Read(b)
	hostPort := 20000 + int(b[0])<<4 | int(b[1]&0xf)
	sb, res := tn.pod(t, []podnet.PortMapping{{Protocol: "TCP", HostPort: uint16(hostPort), ContainerPort: 8080}})
	serve(t, sb.NetNS, 8080, "via-hostport")
	// From the host, to a local address (the bridge's), through the
	// output-chain DNAT.
	got, err := fetch("", net.JoinHostPort(res.Gateway.String(), fmt.Sprint(hostPort)))
	if err != nil || got != "via-hostport" {
		t.Errorf("hostPort: got %q %v", got, err)
	}
	// Setup again (a retry) keeps the address and the single rule pair.
	res2, err := tn.net.Setup(sb.ID, sb.NetNS, []podnet.PortMapping{{Protocol: "TCP", HostPort: uint16(hostPort), ContainerPort: 8080}})
	if err != nil || res2.IP != res.IP {
		t.Fatalf("re-setup: %v %v (had %v)", res2.IP, err, res.IP)
	}
	if n := countRules(t, tn.cfg, "pod:"+sb.ID); n != 2 {
		t.Errorf("after re-setup %d hostPort rules, want 2 (prerouting + output)", n)
	}
	if err := tn.net.Teardown(sb.ID, sb.NetNS); err != nil {
		t.Fatal(err)
	}
	if n := countRules(t, tn.cfg, "pod:"+sb.ID); n != 0 {
		t.Errorf("after teardown %d hostPort rules", n)
	}
	if _, err := netlink.LinkByName(tn.net.VethName(sb.ID)); err == nil {
		t.Errorf("veth left after teardown")
	}
	alloc, _ := tn.net.IPAM().Allocated()
	if _, ok := alloc[res.IP]; ok {
		t.Errorf("address %s still allocated after teardown", res.IP)
	}
	if err := tn.net.Teardown(sb.ID, sb.NetNS); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

func countRules(t *testing.T, cfg podnet.Config, tag string) int {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tbl := &nftables.Table{Name: "podvisor-" + cfg.BridgeName, Family: nftables.TableFamilyIPv4}
	n := 0
	for _, ch := range []string{"prerouting", "output"} {
		rules, err := c.GetRules(tbl, &nftables.Chain{Name: ch, Table: tbl})
		if err != nil {
			t.Fatalf("listing rules: %v", err)
		}
		for _, r := range rules {
			if string(r.UserData) == tag {
				n++
			}
		}
	}
	return n
}

func TestMasqueradeRule(t *testing.T) {
	tn := newTestNet(t)
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tbl := &nftables.Table{Name: "podvisor-" + tn.cfg.BridgeName, Family: nftables.TableFamilyIPv4}
	rules, err := c.GetRules(tbl, &nftables.Chain{Name: "postrouting", Table: tbl})
	if err != nil || len(rules) != 1 {
		t.Fatalf("postrouting rules: %d %v, want 1", len(rules), err)
	}
	if s := fmt.Sprintf("%T", rules[0].Exprs[len(rules[0].Exprs)-1]); !strings.Contains(s, "Masq") {
		t.Errorf("last expression %s, want masquerade", s)
	}
	// Init again (an agent restart) keeps one rule.
	if err := tn.net.Init(); err != nil {
		t.Fatal(err)
	}
	rules, _ = c.GetRules(tbl, &nftables.Chain{Name: "postrouting", Table: tbl})
	if len(rules) != 1 {
		t.Errorf("after re-init %d masquerade rules, want 1", len(rules))
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" {
		t.Errorf("ip_forward is %q", b)
	}
}

func TestIPAMSurvivesRestart(t *testing.T) {
	tn := newTestNet(t)
	_, res := tn.pod(t, nil)
	// A new Network on the same state dir (the agent restarted) must not
	// hand out the live pod's address.
	n2, err := podnet.New(tn.cfg, podnet.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Init(); err != nil {
		t.Fatal(err)
	}
	sb, err := tn.sbm.Create(randHex(8), podsandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tn.sbm.Remove(sb.ID)
	res2, err := n2.Setup(sb.ID, sb.NetNS, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Teardown(sb.ID, sb.NetNS)
	if res2.IP == res.IP {
		t.Errorf("restarted allocator reused %s", res.IP)
	}
}

func TestSetupErrorsLeaveNothing(t *testing.T) {
	tn := newTestNet(t)
	tests := []struct {
		name  string
		netns string
		ports []podnet.PortMapping
	}{
		{"missing netns", "/nonexistent/netns", nil},
		{"bad protocol", "", []podnet.PortMapping{{Protocol: "SCTP-ish", HostPort: 1, ContainerPort: 1}}},
		{"zero port", "", []podnet.PortMapping{{HostPort: 0, ContainerPort: 80}}},
		{"bad host ip", "", []podnet.PortMapping{{HostPort: 8080, ContainerPort: 80, HostIP: "not-an-ip"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := randHex(8)
			path := tc.netns
			if path == "" {
				sb, err := tn.sbm.Create(id, podsandbox.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer tn.sbm.Remove(id)
				path = sb.NetNS
			}
			if _, err := tn.net.Setup(id, path, tc.ports); err == nil {
				t.Fatalf("setup succeeded")
			}
			alloc, _ := tn.net.IPAM().Allocated()
			for a, owner := range alloc {
				if owner == id {
					t.Errorf("failed setup kept address %s", a)
				}
			}
			if _, err := netlink.LinkByName(tn.net.VethName(id)); err == nil {
				t.Errorf("failed setup left its veth")
			}
		})
	}
}

// TestEgressMasquerade stands up an "outside" network namespace on a
// subnet outside the cluster CIDR, reachable from the host over a veth;
// a pod's connection to it must arrive from the host's address there, not
// from the pod's IP.
func TestEgressMasquerade(t *testing.T) {
	tn := newTestNet(t)
	sb, res := tn.pod(t, nil)
	outID := randHex(8)
	out, err := tn.sbm.Create(outID, podsandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.sbm.Remove(outID) })
	b := make([]byte, 1)
	rand.Read(b)
	hostAddr := fmt.Sprintf("10.215.%d.1", b[0])
	outAddr := fmt.Sprintf("10.215.%d.2", b[0])
	hostEnd, peer := "pvx"+randHex(3), "pvy"+randHex(3)
	la := netlink.NewLinkAttrs()
	la.Name = hostEnd
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peer}); err != nil {
		t.Fatalf("outside veth: %v", err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(hostEnd); err == nil {
			netlink.LinkDel(l)
		}
	})
	hl, _ := netlink.LinkByName(hostEnd)
	pl, _ := netlink.LinkByName(peer)
	addr, _ := netlink.ParseAddr(hostAddr + "/24")
	if err := netlink.AddrAdd(hl, addr); err != nil {
		t.Fatal(err)
	}
	netlink.LinkSetUp(hl)
	f, err := os.Open(out.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	err = netlink.LinkSetNsFd(pl, int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	err = tnetns.Do(out.NetNS, func() error {
		l, err := netlink.LinkByName(peer)
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr(outAddr + "/24")
		if err := netlink.AddrAdd(l, a); err != nil {
			return err
		}
		return netlink.LinkSetUp(l)
	})
	if err != nil {
		t.Fatalf("configuring outside: %v", err)
	}
	// The outside server answers with the address it sees.
	var ln net.Listener
	if err := tnetns.Do(out.NetNS, func() error {
		var err error
		ln, err = net.Listen("tcp4", ":9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			c.Write([]byte(host))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	got, err := fetch(sb.NetNS, net.JoinHostPort(outAddr, "9000"))
	if err != nil {
		t.Fatalf("pod to outside: %v", err)
	}
	if got != hostAddr {
		t.Errorf("outside saw the pod as %s, want the masqueraded %s (pod IP %s)", got, hostAddr, res.IP)
	}
}

// TestConcurrentPods sets up and tears down pods in parallel, as the
// kubelet's pod workers do: each gets its own address, interface, route
// and hostPort rules, the pods reach each other, and teardown leaves
// nothing behind.
func TestConcurrentPods(t *testing.T) {
	tn := newTestNet(t)
	const n = 12
	b := make([]byte, 2)
	rand.Read(b)
	basePort := 30000 + (int(b[0])<<8|int(b[1]))%20000
	type pod struct {
		sb    *podsandbox.Sandbox
		res   podnet.Result
		ports []podnet.PortMapping
	}
	pods := make([]pod, n)
	for i := range pods {
		sb, err := tn.sbm.Create(randHex(8), podsandbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tn.sbm.Remove(sb.ID) })
		pods[i].sb = sb
		if i%2 == 0 {
			pods[i].ports = []podnet.PortMapping{{HostPort: uint16(basePort + i), ContainerPort: 8080}}
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Go(func() { pods[i].res, errs[i] = tn.net.Setup(pods[i].sb.ID, pods[i].sb.NetNS, pods[i].ports) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("setup of pod %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		for _, p := range pods {
			tn.net.Teardown(p.sb.ID, p.sb.NetNS)
		}
	})
	seen := map[netip.Addr]int{}
	for i, p := range pods {
		if j, dup := seen[p.res.IP]; dup {
			t.Errorf("pods %d and %d both got %s", j, i, p.res.IP)
		}
		seen[p.res.IP] = i
		if got, want := countRules(t, tn.cfg, "pod:"+p.sb.ID), 2*len(p.ports); got != want {
			t.Errorf("pod %d: %d hostPort rules, want %d", i, got, want)
		}
		serve(t, p.sb.NetNS, 8080, fmt.Sprint("pod-", i))
	}
	for i, p := range pods[1:] {
		if got, err := fetch(pods[0].sb.NetNS, net.JoinHostPort(p.res.IP.String(), "8080")); err != nil || got != fmt.Sprint("pod-", i+1) {
			t.Errorf("pod 0 to pod %d (%s): got %q %v", i+1, p.res.IP, got, err)
		}
	}
	if got, err := fetch("", net.JoinHostPort(pods[2].res.Gateway.String(), fmt.Sprint(basePort+2))); err != nil || got != "pod-2" {
		t.Errorf("hostPort of pod 2: got %q %v", got, err)
	}
	for i := range pods {
		wg.Go(func() { errs[i] = tn.net.Teardown(pods[i].sb.ID, pods[i].sb.NetNS) })
	}
	wg.Wait()
	alloc, _ := tn.net.IPAM().Allocated()
	for i, p := range pods {
		if errs[i] != nil {
			t.Errorf("teardown of pod %d: %v", i, errs[i])
		}
		if _, err := netlink.LinkByName(tn.net.VethName(p.sb.ID)); err == nil {
			t.Errorf("pod %d: veth left after teardown", i)
		}
		if n := countRules(t, tn.cfg, "pod:"+p.sb.ID); n != 0 {
			t.Errorf("pod %d: %d hostPort rules left after teardown", i, n)
		}
		if _, ok := alloc[p.res.IP]; ok {
			t.Errorf("pod %d: address %s still allocated after teardown", i, p.res.IP)
		}
	}
}
