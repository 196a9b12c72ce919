package kubelet

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
)

// errNetworkNotReady: the node has no pod CIDR yet.
var errNetworkNotReady = fmt.Errorf("network is not ready: the node has no pod CIDR yet")

// podHostname returns the pod's hostname and FQDN (spec.hostname or the
// pod name, at most 63 bytes; with spec.subdomain,
// <hostname>.<subdomain>.<ns>.svc.<domain>).
func (k *Kubelet) podHostname(pod *corev1.Pod) (string, string) {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	fqdn := ""
	if pod.Spec.Subdomain != "" {
		fqdn = fmt.Sprintf("%s.%s.%s.svc.%s", h, pod.Spec.Subdomain, pod.Namespace, k.cfg.ClusterDomain)
	}
	return h, fqdn
}

// hostPorts collects the pod's hostPort mappings.
func hostPorts(pod *corev1.Pod) []podnet.PortMapping {
	var out []podnet.PortMapping
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort > 0 {
					out = append(out, podnet.PortMapping{Protocol: string(p.Protocol), HostPort: uint16(p.HostPort), ContainerPort: uint16(p.ContainerPort), HostIP: p.HostIP})
				}
			}
		}
	}
	return out
}

// ensureSandbox makes the pod's namespaces, network and DNS files, or
// adopts them (after an agent restart). It is idempotent.
func (k *Kubelet) ensureSandbox(ctx context.Context, r *podRecord, pod *corev1.Pod) error {
	w := &r.w
	uid := string(pod.UID)
	host, fqdn := k.podHostname(pod)
	if w.sandbox == nil {
		sb, err := k.sandboxes.Get(uid)
		if err != nil {
			sb, err = k.sandboxes.Create(uid, podsandbox.Options{Hostname: host, HostNetwork: pod.Spec.HostNetwork, HostIPC: pod.Spec.HostIPC})
			if err != nil {
				return fmt.Errorf("creating pod sandbox: %w", err)
			}
		}
		w.sandbox = sb
		k.step(pod.UID, "sandbox")
		k.publish(r)
	}
	if !pod.Spec.HostNetwork && !w.netReady {
		n := k.net()
		if n == nil {
			return errNetworkNotReady
		}
		// Only a pod found on the node at start may have its network
		// already; a new one skips the lookup (IPAM scan, netlink).
		var ip netip.Addr
		found := false
		if w.adopted {
			ip, found = n.Lookup(uid)
		}
		if found {
			w.podIP = ip
		} else {
			res, err := n.Setup(uid, w.sandbox.NetNS, hostPorts(pod))
			if err != nil {
				return fmt.Errorf("setting up pod network: %w", err)
			}
			w.podIP = res.IP
		}
		w.netReady = true
		k.step(pod.UID, "network")
		k.publish(r)
	}
	return k.writePodFiles(pod, w.podIP, host, fqdn)
}

// writePodFiles writes the pod's /etc/hosts, /etc/resolv.conf and
// /etc/hostname (only when their content changes).
func (k *Kubelet) writePodFiles(pod *corev1.Pod, ip netip.Addr, host, fqdn string) error {
	dir := k.volumes.PodDir(pod.UID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating pod dir: %w", err)
	}
	aliases := map[string][]string{}
	for _, a := range pod.Spec.HostAliases {
		aliases[a.IP] = append(aliases[a.IP], a.Hostnames...)
	}
	var hosts []byte
	if pod.Spec.HostNetwork {
		b, err := os.ReadFile("/etc/hosts")
		if err != nil {
			b = podnet.HostsFile(podnet.HostsConfig{})
		}
		hosts = b
		if len(aliases) > 0 {
			extra := podnet.HostsFile(podnet.HostsConfig{Aliases: aliases})
			if i := strings.Index(string(extra), "\n# Entries added by HostAliases."); i >= 0 {
				hosts = append(append([]byte(nil), b...), extra[i:]...)
			}
		}
	} else {
		hosts = podnet.HostsFile(podnet.HostsConfig{PodIP: ip.String(), Hostname: host, FQDN: fqdn, Aliases: aliases})
	}
	resolv, err := k.resolvConf(pod)
	if err != nil {
		return err
	}
	hn := host
	if pod.Spec.HostNetwork {
		hn = k.hostname()
	}
	for name, data := range map[string][]byte{"etc-hosts": hosts, "resolv.conf": resolv, "hostname": []byte(hn + "\n")} {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(data) {
			continue
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		// The file is bind-mounted into running containers: rewrite in
		// place if it exists so they see the change, else rename.
		if _, err := os.Stat(p); err == nil {
			os.Remove(tmp)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return fmt.Errorf("writing %s: %w", name, err)
			}
			continue
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// hostResolvConf is the node's resolver configuration (systemd-resolved's
// real upstreams when /etc/resolv.conf points at its stub).
func hostResolvConf() podnet.DNSConfig {
	var c podnet.DNSConfig
	read := func(p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			return
		}
		c = podnet.DNSConfig{}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 || strings.HasPrefix(f[0], "#") {
				continue
			}
			switch f[0] {
			case "nameserver":
				c.Nameservers = append(c.Nameservers, f[1])
			case "search", "domain":
				c.Searches = append(c.Searches, f[1:]...)
			case "options":
				c.Options = append(c.Options, f[1:]...)
			}
		}
	}
	read("/etc/resolv.conf")
	if len(c.Nameservers) == 1 && strings.HasPrefix(c.Nameservers[0], "127.0.0.53") {
		read("/run/systemd/resolve/resolv.conf")
	}
	return c
}

// resolvConf is the pod's /etc/resolv.conf per its dnsPolicy and
// dnsConfig.
func (k *Kubelet) resolvConf(pod *corev1.Pod) ([]byte, error) {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	var c podnet.DNSConfig
	cluster := func() bool {
		if len(k.cfg.ClusterDNS) == 0 {
			return false
		}
		ip, err := netip.ParseAddr(k.cfg.ClusterDNS[0])
		if err != nil {
			return false
		}
		c = podnet.ClusterDNS(ip, pod.Namespace, k.cfg.ClusterDomain)
		c.Nameservers = append([]string(nil), k.cfg.ClusterDNS...)
		return true
	}
	switch policy {
	case corev1.DNSClusterFirstWithHostNet:
		if !cluster() {
			c = hostResolvConf()
		}
	case corev1.DNSClusterFirst:
		if pod.Spec.HostNetwork || !cluster() {
			c = hostResolvConf()
		}
	case corev1.DNSDefault:
		c = hostResolvConf()
	case corev1.DNSNone:
	default:
		return nil, fmt.Errorf("unknown dnsPolicy %q", policy)
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		c.Nameservers = append(c.Nameservers, dc.Nameservers...)
		c.Searches = append(c.Searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			replaced := false
			for i, ex := range c.Options {
				if n, _, _ := strings.Cut(ex, ":"); n == o.Name {
					c.Options[i], replaced = opt, true
				}
			}
			if !replaced {
				c.Options = append(c.Options, opt)
			}
		}
	}
	return podnet.ResolvConf(c), nil
}
