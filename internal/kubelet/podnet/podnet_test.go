package podnet

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIPAM(t *testing.T) {
	dir := t.TempDir()
	prefix := netip.MustParsePrefix("10.9.0.0/29") // .2 to .6 usable
	m, err := NewIPAM(dir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.Allocate("pod-a")
	b, _ := m.Allocate("pod-b")
	again, _ := m.Allocate("pod-a")
	if a.String() != "10.9.0.2" || b.String() != "10.9.0.3" || again != a {
		t.Errorf("got a=%s b=%s a again=%s, want 10.9.0.2 10.9.0.3 10.9.0.2", a, b, again)
	}
	// A new allocator on the same directory (an agent restart) keeps the
	// allocations and continues round-robin.
	m2, _ := NewIPAM(dir, prefix)
	if err := m.Release("pod-a"); err != nil {
		t.Fatal(err)
	}
	c, _ := m2.Allocate("pod-c")
	if c.String() != "10.9.0.4" {
		t.Errorf("after restart got %s, want 10.9.0.4 (not the freed .2 nor the used .3)", c)
	}
	for _, o := range []string{"d", "e"} {
		if _, err := m2.Allocate(o); err != nil {
			t.Fatal(err)
		}
	}
	f, err := m2.Allocate("f") // wraps around to the freed .2
	if err != nil || f.String() != "10.9.0.2" {
		t.Errorf("wrap-around got %s %v, want 10.9.0.2", f, err)
	}
	if _, err := m2.Allocate("g"); !errors.Is(err, ErrExhausted) {
		t.Errorf("allocating in a full range: %v, want ErrExhausted", err)
	}
	if err := m2.Release("nobody"); err != nil {
		t.Errorf("releasing an owner with no address: %v", err)
	}
	got, _ := m2.Allocated()
	want := map[netip.Addr]string{
		netip.MustParseAddr("10.9.0.2"): "f", netip.MustParseAddr("10.9.0.3"): "pod-b",
		netip.MustParseAddr("10.9.0.4"): "pod-c", netip.MustParseAddr("10.9.0.5"): "d",
		netip.MustParseAddr("10.9.0.6"): "e",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("allocations (-want +got):\n%s", diff)
	}
}

func TestIPAMRejects(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
	}{
		{"ipv6", "fd00::/64"},
		{"too small", "10.0.0.0/31"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewIPAM(t.TempDir(), netip.MustParsePrefix(tc.prefix)); err == nil {
				t.Errorf("NewIPAM(%s) succeeded", tc.prefix)
			}
		})
	}
}

func TestHostsFile(t *testing.T) {
	tests := []struct {
		name string
		c    HostsConfig
		want string
	}{
		{"plain", HostsConfig{PodIP: "10.1.0.5", Hostname: "web"}, base + "10.1.0.5\tweb\n"},
		{"fqdn and aliases", HostsConfig{PodIP: "10.1.0.5", Hostname: "web-0", FQDN: "web-0.web.default.svc.cluster.local",
			Aliases: map[string][]string{"10.0.0.9": {"db", "db.local"}, "10.0.0.1": {"gw"}}},
			base + "10.1.0.5\tweb-0.web.default.svc.cluster.local\tweb-0\n\n# Entries added by HostAliases.\n10.0.0.1\tgw\n10.0.0.9\tdb\tdb.local\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, string(HostsFile(tc.c))); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
		})
	}
}

const base = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"

func TestResolvConf(t *testing.T) {
	tests := []struct {
		name string
		c    DNSConfig
		want string
	}{
		{"cluster first", ClusterDNS(netip.MustParseAddr("10.96.0.10"), "shop", "cluster.local"),
			"nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"},
		{"too many nameservers", DNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"}},
			"nameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\n"},
		{"empty", DNSConfig{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, string(ResolvConf(tc.c))); diff != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", diff)
			}
		})
	}
}
