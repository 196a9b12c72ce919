//go:build integration

package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/agent"
	"github.com/podvisor/podvisor/internal/controller/route"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/nodetest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestNodeRoutes publishes routes in the agent's Node as the Route
// controller does and watches the host's routing table follow: added,
// gateway replaced, removed.
func TestNodeRoutes(t *testing.T) {
	ts := servertest.Start(t, server.Config{})
	proto := 150 + int(nodetest.RandHex(1)[0])%100
	n := nodetest.StartNode(t, ts, nodetest.Options{Tune: func(c *agent.Config) { c.RouteProtocol = proto }})
	ctx := context.Background()
	// Gateways on the node's bridge (its pod CIDR's subnet), not its own
	// address; a destination that is no node's.
	own := netip.MustParsePrefix(n.Config.PodCIDR)
	gw := func(last byte) string {
		a := own.Addr().As4()
		a[3] = last
		return netip.AddrFrom4(a).String()
	}
	dst := own
	for dst == own {
		dst = netip.MustParsePrefix(nodetest.RandomPodCIDR())
	}
	publish := func(rs []route.Route) {
		t.Helper()
		v := ""
		if rs != nil {
			b, _ := json.Marshal(rs)
			v = string(b)
		}
		var patch []byte
		if v == "" {
			patch, _ = json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{route.RoutesAnnotation: nil}}})
		} else {
			patch, _ = json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{route.RoutesAnnotation: v}}})
		}
		if _, err := ts.Client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatalf("annotating the node: %v", err)
		}
	}
	t.Cleanup(func() { // in case of failure midway
		_, d, _ := net.ParseCIDR(dst.String())
		netlink.RouteDel(&netlink.Route{Dst: d, Protocol: netlink.RouteProtocol(proto), Table: unix.RT_TABLE_MAIN})
	})
	hostRoute := func() string {
		_, d, _ := net.ParseCIDR(dst.String())
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: d, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatalf("listing host routes: %v", err)
		}
		for _, r := range rs {
			if int(r.Protocol) == proto {
				return fmt.Sprintf("%s via %s", r.Dst, r.Gw)
			}
		}
		return ""
	}
	wait := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for hostRoute() != want {
			if time.Now().After(deadline) {
				t.Fatalf("host route to %s: %q, want %q", dst, hostRoute(), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	publish([]route.Route{{Destination: dst.String(), Gateway: gw(200), Node: "other"}})
	wait(dst.String() + " via " + gw(200))
	publish([]route.Route{{Destination: dst.String(), Gateway: gw(201), Node: "other"}})
	wait(dst.String() + " via " + gw(201))
	publish(nil)
	wait("")
}
