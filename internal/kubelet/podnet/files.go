package podnet

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// HostsConfig is what a pod's /etc/hosts says.
type HostsConfig struct {
	// PodIP is the pod's address ("" for a hostNetwork pod, which gets
	// the node's hosts file instead).
	PodIP string
	// Hostname is the pod's hostname; FQDN, if set, is listed before it
	// (<hostname>.<subdomain>.<ns>.svc.<domain>).
	Hostname, FQDN string
	// Aliases are spec.hostAliases: IP → names.
	Aliases map[string][]string
}

// HostsFile returns the content of a pod's /etc/hosts.
func HostsFile(c HostsConfig) []byte {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	if c.PodIP != "" && c.Hostname != "" {
		if c.FQDN != "" {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", c.PodIP, c.FQDN, c.Hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", c.PodIP, c.Hostname)
		}
	}
	if len(c.Aliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		ips := make([]string, 0, len(c.Aliases))
		for ip := range c.Aliases {
			ips = append(ips, ip)
		}
		sort.Strings(ips)
		for _, ip := range ips {
			fmt.Fprintf(&b, "%s\t%s\n", ip, strings.Join(c.Aliases[ip], "\t"))
		}
	}
	return []byte(b.String())
}

// DNSConfig is what a pod's /etc/resolv.conf says.
type DNSConfig struct {
	Nameservers []string
	Searches    []string
	Options     []string
}

// ClusterDNS returns the ClusterFirst configuration for a pod in
// namespace: the cluster DNS server, search domains
// "<ns>.svc.<domain> svc.<domain> <domain>", and ndots:5.
func ClusterDNS(server netip.Addr, namespace, clusterDomain string) DNSConfig {
	return DNSConfig{
		Nameservers: []string{server.String()},
		Searches: []string{
			namespace + ".svc." + clusterDomain,
			"svc." + clusterDomain,
			clusterDomain,
		},
		Options: []string{"ndots:5"},
	}
}

// ResolvConf returns the content of /etc/resolv.conf for c. glibc reads
// at most 3 nameservers and 32 search domains; extra ones are dropped.
func ResolvConf(c DNSConfig) []byte {
	var b strings.Builder
	ns := c.Nameservers
	if len(ns) > 3 {
		ns = ns[:3]
	}
	for _, n := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", n)
	}
	s := c.Searches
	if len(s) > 32 {
		s = s[:32]
	}
	if len(s) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(s, " "))
	}
	if len(c.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(c.Options, " "))
	}
	return []byte(b.String())
}
