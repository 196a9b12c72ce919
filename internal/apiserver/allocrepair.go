package apiserver

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/podvisor/podvisor/internal/registry/networking/ipaddresses"
	"github.com/podvisor/podvisor/internal/storage"
)

// ipAddressesGR is the resource that shows the allocated cluster IPs.
var ipAddressesGR = schema.GroupResource{Group: "networking.k8s.io", Resource: "ipaddresses"}

// protoMagic starts every object the storage codec writes.
var protoMagic = []byte("k8s\x00")

// ipRecord encodes the record of ip allocated to the Service
// namespace/name: the networking.k8s.io/v1 IPAddress that API clients see.
func (s *Server) ipRecord(ip, namespace, name string) []byte {
	fam := string(corev1.IPv4Protocol)
	if p := net.ParseIP(ip); p != nil && p.To4() == nil {
		fam = string(corev1.IPv6Protocol)
	}
	rec := &networkingv1.IPAddress{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "IPAddress"},
		ObjectMeta: metav1.ObjectMeta{Name: ip, UID: types.UID(uuid.NewUUID()),
			CreationTimestamp: metav1.NewTime(s.now().Truncate(time.Second)),
			Labels:            map[string]string{ipaddresses.LabelIPFamily: fam, ipaddresses.LabelManagedBy: ipaddresses.ManagedBy},
		},
		Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: namespace, Name: name}},
	}
	data, err := s.deps.Storage.Encode(rec)
	if err != nil {
		// Cannot happen for a well-formed object; the address stays
		// reserved either way.
		s.log.Error("encoding an IPAddress record", "ip", ip, "err", err)
		return []byte(namespace + "/" + name)
	}
	return data
}

// repairAllocations keeps the allocators' records (cluster IP and node
// port side keys) in line with the Services, as kube-apiserver's repair
// loops do, from one consistent snapshot of both:
//   - a node port whose key no Service holds any more is freed (leaks
//     from crashes or hand edits of etcd);
//   - a Service's cluster IP or node port without its key gets it back,
//     so it cannot be handed out twice (a deleted IPAddress whose Service
//     still has the address, or a restored backup); one held by another
//     Service is logged, as Kubernetes does;
//   - cluster-IP records of older versions ("namespace/name") become
//     IPAddress objects.
//
// Leaked cluster IPs are not freed here: they are IPAddress objects, and
// the service-ip-repair controller frees them after a grace period.
// Every write is conditional on what was read, so concurrent allocations
// and other servers' repairs are never undone.
func (s *Server) repairAllocations(ctx context.Context) error {
	svcPrefix := storage.Key("", "services", "", "")
	_, kvs, err := s.deps.Storage.ReadPrefixes(ctx, ipKeyPrefix, portKeyPrefix, svcPrefix)
	if err != nil {
		return err
	}
	ips, ports, svcs := kvs[0], kvs[1], kvs[2]
	type holder struct {
		key  string // the Service's etcd key
		rev  int64  // its modification revision
		name types.NamespacedName
	}
	wantIP := map[string]holder{}
	wantPort := map[int32]holder{}
	for _, kv := range svcs {
		svc := &corev1.Service{}
		if err := s.deps.Storage.Codec().Decode(kv.Value, svc); err != nil {
			s.log.Error("allocation repair: undecodable service", "key", kv.Key, "err", err)
			continue
		}
		h := holder{key: kv.Key, rev: kv.ModRevision, name: types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}}
		if needsClusterIP(svc) && svc.Spec.ClusterIP != "" {
			if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil && s.ipAlloc.contains(ip) {
				wantIP[ip.String()] = h
			} else {
				s.log.Info("allocation repair: cluster IP outside the service CIDR; recreate the service", "service", h.name.String(), "ip", svc.Spec.ClusterIP, "cidr", s.cfg.ServiceCIDR.String())
			}
		}
		if needsNodePorts(svc) {
			for _, p := range svc.Spec.Ports {
				if p.NodePort == 0 {
					continue
				}
				if !s.portAlloc.contains(p.NodePort) {
					s.log.Info("allocation repair: node port outside the range; recreate the service", "service", h.name.String(), "port", p.NodePort)
					continue
				}
				wantPort[p.NodePort] = h
			}
		}
	}

	for _, kv := range ports {
		n, err := strconv.Atoi(strings.TrimPrefix(kv.Key, portKeyPrefix))
		h, held := wantPort[int32(n)]
		switch {
		case err != nil || !held:
			if ok, err := s.deps.Storage.DeleteKeyIf(ctx, kv.Key, kv.ModRevision); err != nil {
				return err
			} else if ok {
				s.log.Info("allocation repair: freed a leaked node port", "port", n, "was", string(kv.Value))
			}
		case string(kv.Value) != h.name.String():
			s.log.Error("allocation repair: node port allocated to two services; recreate one of them", "port", n, "service", h.name.String(), "holder", string(kv.Value))
		}
		delete(wantPort, int32(n))
	}
	for port, h := range wantPort {
		key := portKeyPrefix + strconv.Itoa(int(port))
		if ok, err := s.deps.Storage.PutKeyIf(ctx, key, []byte(h.name.String()), 0, h.key, h.rev); err != nil {
			return err
		} else if ok {
			s.log.Info("allocation repair: restored a node port record", "port", port, "service", h.name.String())
		}
	}

	for _, kv := range ips {
		ip := strings.TrimPrefix(kv.Key, ipKeyPrefix)
		h, held := wantIP[ip]
		delete(wantIP, ip)
		if !bytes.HasPrefix(kv.Value, protoMagic) {
			// An older record, "namespace/name": make it an object.
			ns, name, _ := strings.Cut(string(kv.Value), "/")
			if _, err := s.deps.Storage.PutKeyIf(ctx, kv.Key, s.ipRecord(ip, ns, name), kv.ModRevision, "", 0); err != nil {
				return err
			}
			continue
		}
		if !held {
			continue // the repair controller's to judge
		}
		rec := &networkingv1.IPAddress{}
		if err := s.deps.Storage.Codec().Decode(kv.Value, rec); err != nil {
			s.log.Error("allocation repair: undecodable IPAddress", "key", kv.Key, "err", err)
			continue
		}
		if p := rec.Spec.ParentRef; p == nil || p.Resource != "services" || p.Namespace != h.name.Namespace || p.Name != h.name.Name {
			s.log.Error("allocation repair: cluster IP allocated to two services; recreate one of them", "ip", ip, "service", h.name.String())
		}
	}
	for ip, h := range wantIP {
		if ok, err := s.deps.Storage.PutKeyIf(ctx, ipKeyPrefix+ip, s.ipRecord(ip, h.name.Namespace, h.name.Name), 0, h.key, h.rev); err != nil {
			return err
		} else if ok {
			s.log.Info("allocation repair: restored a cluster IP record", "ip", ip, "service", h.name.String())
		}
	}
	return nil
}

// runAllocationRepair repairs every interval until ctx ends.
func (s *Server) runAllocationRepair(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.repairAllocations(ctx); err != nil && ctx.Err() == nil {
			s.log.Info("allocation repair", "err", err)
		}
	}
}
