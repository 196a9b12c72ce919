package apiserver

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/storage"
)

// Cluster IPs and node ports are allocated in the Service's own create
// transaction: each allocated value is a side key that must be absent,
// /registry/ranges/serviceips/<ip> and /registry/ranges/servicenodeports/<port>,
// so two Services never get the same value, even from two API servers, and
// the allocation survives restarts. Deleting the Service deletes the keys.
const (
	ipKeyPrefix   = "/registry/ranges/serviceips/"
	portKeyPrefix = "/registry/ranges/servicenodeports/"
)

// ipAllocator picks cluster IPs from the service CIDR.
type ipAllocator struct {
	cidr  *net.IPNet
	base  *big.Int
	size  int64 // usable addresses after the first (the kubernetes Service's)
	store *storage.Store

	mu sync.Mutex
	// recentlyTaken remembers addresses found taken, so random picks
	// avoid them; bounded.
	// +checklocks:mu
	recentlyTaken map[string]bool
}

func newIPAllocator(cidr *net.IPNet, st *storage.Store) (*ipAllocator, error) {
	ones, bits := cidr.Mask.Size()
	hostBits := bits - ones
	if hostBits < 2 {
		return nil, fmt.Errorf("service CIDR %s is too small", cidr)
	}
	size := new(big.Int).Lsh(big.NewInt(1), uint(hostBits))
	size.Sub(size, big.NewInt(2)) // network address and (v4) broadcast
	if hostBits > 20 {
		size = big.NewInt(1<<20 - 2)
	}
	return &ipAllocator{cidr: cidr, base: new(big.Int).SetBytes(normIP(cidr.IP)), size: size.Int64() - 1,
		store: st, recentlyTaken: map[string]bool{}}, nil
}

func normIP(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip.To16()
}

// nth returns the n-th address of the CIDR (1 is the first usable).
func (a *ipAllocator) nth(n int64) net.IP {
	v := new(big.Int).Add(a.base, big.NewInt(n))
	b := v.Bytes()
	l := len(normIP(a.cidr.IP))
	out := make(net.IP, l)
	copy(out[l-len(b):], b)
	return out
}

// First returns the kubernetes Service's address.
func (a *ipAllocator) First() net.IP { return a.nth(1) }

// random returns an address that was not recently found taken.
func (a *ipAllocator) random() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := 0; ; i++ {
		ip := a.nth(2 + rand.Int64N(a.size)).String()
		if !a.recentlyTaken[ip] || i > 64 {
			return ip
		}
	}
}

func (a *ipAllocator) taken(ip string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.recentlyTaken) > 4096 {
		clear(a.recentlyTaken)
	}
	a.recentlyTaken[ip] = true
}

func (a *ipAllocator) contains(ip net.IP) bool { return a.cidr.Contains(ip) }

// portAllocator picks node ports from the node port range.
type portAllocator struct {
	base, size int
	store      *storage.Store
}

func newPortAllocator(base, size int, st *storage.Store) *portAllocator {
	if base == 0 {
		base, size = 30000, 2768
	}
	return &portAllocator{base: base, size: size, store: st}
}

func (p *portAllocator) random() int32 { return int32(p.base + rand.IntN(p.size)) }

func (p *portAllocator) contains(port int32) bool {
	return int(port) >= p.base && int(port) < p.base+p.size
}

// serviceAlloc is the allocation of one Service create or update.
type serviceAlloc struct {
	s   *Server
	svc *corev1.Service
	// keys to write; randomIP/randomPorts say which values were picked
	// by the server (and may be picked again).
	side       []storage.SideKey
	randomIP   bool
	randomPort map[int32]int // node port -> index in spec.ports
	owner      string
}

func (a *serviceAlloc) SideKeys() []storage.SideKey { return a.side }

func (a *serviceAlloc) Retake(key string) error {
	for i, sk := range a.side {
		if sk.Key != key {
			continue
		}
		switch {
		case strings.HasPrefix(key, ipKeyPrefix):
			ip := strings.TrimPrefix(key, ipKeyPrefix)
			if !a.randomIP {
				return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, a.svc.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), ip, "failed to allocate IP "+ip+": provided IP is already allocated")})
			}
			a.s.ipAlloc.taken(ip)
			nip := a.s.ipAlloc.random()
			a.svc.Spec.ClusterIP, a.svc.Spec.ClusterIPs = nip, []string{nip}
			a.side[i].Key = ipKeyPrefix + nip
		case strings.HasPrefix(key, portKeyPrefix):
			n, _ := strconv.Atoi(strings.TrimPrefix(key, portKeyPrefix))
			idx, ok := a.randomPort[int32(n)]
			if !ok {
				return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, a.svc.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "ports").Index(a.portIndex(int32(n))).Child("nodePort"), n, "provided port is already allocated")})
			}
			delete(a.randomPort, int32(n))
			np := a.pickPort()
			a.svc.Spec.Ports[idx].NodePort = np
			a.randomPort[np] = idx
			a.side[i].Key = portKeyPrefix + strconv.Itoa(int(np))
		}
		return nil
	}
	return apierrors.NewInternalError(fmt.Errorf("allocation: unknown key %s", key))
}

func (a *serviceAlloc) portIndex(n int32) int {
	for i, p := range a.svc.Spec.Ports {
		if p.NodePort == n {
			return i
		}
	}
	return 0
}

// pickPort picks a random port not used elsewhere in this Service.
func (a *serviceAlloc) pickPort() int32 {
	for {
		np := a.s.portAlloc.random()
		used := false
		for _, p := range a.svc.Spec.Ports {
			used = used || p.NodePort == np
		}
		if !used {
			return np
		}
	}
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

func needsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// allocate reserves what svc needs that old (nil on create) did not have,
// and releases what old had that svc does not.
func (s *Server) allocate(svc, old *corev1.Service) (*serviceAlloc, error) {
	a := &serviceAlloc{s: s, svc: svc, randomPort: map[int32]int{}, owner: svc.Namespace + "/" + svc.Name}
	var errs field.ErrorList
	oldIP := ""
	if old != nil && needsClusterIP(old) {
		oldIP = old.Spec.ClusterIP
	}
	if needsClusterIP(svc) {
		switch {
		case svc.Spec.ClusterIP == "" && oldIP != "":
			svc.Spec.ClusterIP = oldIP
		case svc.Spec.ClusterIP == "":
			svc.Spec.ClusterIP = s.ipAlloc.random()
			a.randomIP = true
		}
		if svc.Spec.ClusterIP != oldIP {
			ip := net.ParseIP(svc.Spec.ClusterIP)
			if ip == nil || !s.ipAlloc.contains(ip) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIP,
					fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", svc.Spec.ClusterIP, svc.Spec.ClusterIP, s.cfg.ServiceCIDR)))
			} else {
				svc.Spec.ClusterIP = ip.String()
				a.side = append(a.side, storage.SideKey{Key: ipKeyPrefix + svc.Spec.ClusterIP, Value: []byte(a.owner), MustBeAbsent: true})
			}
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		fam := corev1.IPv4Protocol
		if net.ParseIP(svc.Spec.ClusterIP) != nil && net.ParseIP(svc.Spec.ClusterIP).To4() == nil {
			fam = corev1.IPv6Protocol
		}
		svc.Spec.IPFamilies = []corev1.IPFamily{fam}
		single := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy = &single
	} else if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
	}
	if oldIP != "" && oldIP != svc.Spec.ClusterIP {
		a.side = append(a.side, storage.SideKey{Key: ipKeyPrefix + oldIP})
	}

	oldPorts := map[int32]bool{}
	if old != nil && needsNodePorts(old) {
		for _, p := range old.Spec.Ports {
			if p.NodePort != 0 {
				oldPorts[p.NodePort] = true
			}
		}
	}
	keep := map[int32]bool{}
	if needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 {
				// On update keep the port the same-numbered port had.
				if old != nil {
					for _, op := range old.Spec.Ports {
						if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 && oldPorts[op.NodePort] && !keep[op.NodePort] {
							p.NodePort = op.NodePort
						}
					}
				}
			}
			if p.NodePort == 0 {
				p.NodePort = a.pickPort()
				a.randomPort[p.NodePort] = i
			} else if !s.portAlloc.contains(p.NodePort) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", s.portAlloc.base, s.portAlloc.base+s.portAlloc.size-1)))
				continue
			}
			if keep[p.NodePort] {
				continue // the same node port on two protocols
			}
			keep[p.NodePort] = true
			if !oldPorts[p.NodePort] {
				a.side = append(a.side, storage.SideKey{Key: portKeyPrefix + strconv.Itoa(int(p.NodePort)), Value: []byte(a.owner), MustBeAbsent: true})
			}
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	for port := range oldPorts {
		if !keep[port] {
			a.side = append(a.side, storage.SideKey{Key: portKeyPrefix + strconv.Itoa(int(port))})
		}
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, errs)
	}
	return a, nil
}

// releaseKeys returns the side keys that free what svc holds.
func releaseKeys(svc *corev1.Service) []storage.SideKey {
	var side []storage.SideKey
	if needsClusterIP(svc) && svc.Spec.ClusterIP != "" {
		side = append(side, storage.SideKey{Key: ipKeyPrefix + svc.Spec.ClusterIP})
	}
	if needsNodePorts(svc) {
		seen := map[int32]bool{}
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 && !seen[p.NodePort] {
				seen[p.NodePort] = true
				side = append(side, storage.SideKey{Key: portKeyPrefix + strconv.Itoa(int(p.NodePort))})
			}
		}
	}
	return side
}

// hooksFor returns the storage hooks of a resource.
func (s *Server) hooksFor(info interface{ GroupResource() schema.GroupResource }) rest.Hooks {
	if info.GroupResource() != (schema.GroupResource{Resource: "services"}) {
		return rest.Hooks{}
	}
	return rest.Hooks{
		BeforeCreate: func(ctx context.Context, obj runtime.Object) (rest.Allocation, error) {
			return s.allocate(obj.(*corev1.Service), nil)
		},
		BeforeUpdate: func(ctx context.Context, obj, old runtime.Object) (rest.Allocation, error) {
			return s.allocate(obj.(*corev1.Service), old.(*corev1.Service))
		},
		OnDelete: func(obj runtime.Object) []storage.SideKey { return releaseKeys(obj.(*corev1.Service)) },
	}
}
