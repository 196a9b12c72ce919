package nodelifecycle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
)

// ErrCIDRExhausted is returned when every node CIDR of the cluster CIDR
// is taken.
var ErrCIDRExhausted = errors.New("no pod CIDR left in the cluster CIDR")

// CIDRSet hands out equal-size IPv4 subnets (node pod CIDRs) of a cluster
// CIDR, remembering which node holds which. Safe for concurrent use.
type CIDRSet struct {
	base     uint32 // first address of the cluster CIDR
	nodeBits int    // prefix length of a node CIDR
	count    int    // number of node CIDRs
	cluster  *net.IPNet

	mu sync.Mutex
	// +checklocks:mu
	owner map[int]string // index -> node
	// +checklocks:mu
	byNode map[string]int
	// +checklocks:mu
	next int // where the next search starts, so freed CIDRs are reused last
}

// NewCIDRSet splits cidr (IPv4) into subnets of prefix length nodeMask.
func NewCIDRSet(cidr string, nodeMask int) (*CIDRSet, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("cluster CIDR %q: %w", cidr, err)
	}
	if n.IP.To4() == nil {
		return nil, fmt.Errorf("cluster CIDR %q: only IPv4 is supported", cidr)
	}
	ones, _ := n.Mask.Size()
	if nodeMask < ones || nodeMask > 30 {
		return nil, fmt.Errorf("node CIDR mask /%d: must be between the cluster CIDR's /%d and /30", nodeMask, ones)
	}
	if nodeMask-ones > 20 {
		return nil, fmt.Errorf("node CIDR mask /%d: more than 2^20 node CIDRs in %s", nodeMask, cidr)
	}
	return &CIDRSet{
		base:     binary.BigEndian.Uint32(n.IP.To4()),
		nodeBits: nodeMask,
		count:    1 << (nodeMask - ones),
		cluster:  n,
		owner:    map[int]string{},
		byNode:   map[string]int{},
	}, nil
}

func (s *CIDRSet) cidr(i int) string {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, s.base+uint32(i)<<(32-s.nodeBits))
	return fmt.Sprintf("%s/%d", ip, s.nodeBits)
}

// index returns the index of cidr, which must be exactly one node CIDR of
// the set.
func (s *CIDRSet) index(cidr string) (int, error) {
	ip, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return 0, fmt.Errorf("pod CIDR %q: %w", cidr, err)
	}
	ones, _ := n.Mask.Size()
	if ip.To4() == nil || ones != s.nodeBits || !s.cluster.Contains(ip) || !ip.Equal(n.IP) {
		return 0, fmt.Errorf("pod CIDR %q is not a /%d of the cluster CIDR %s", cidr, s.nodeBits, s.cluster)
	}
	return int((binary.BigEndian.Uint32(ip.To4()) - s.base) >> (32 - s.nodeBits)), nil
}

// Allocate returns node's CIDR, allocating one if it has none.
func (s *CIDRSet) Allocate(node string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.byNode[node]; ok {
		return s.cidr(i), nil
	}
	for k := 0; k < s.count; k++ {
		i := (s.next + k) % s.count
		if _, taken := s.owner[i]; !taken {
			s.owner[i], s.byNode[node] = node, i
			s.next = (i + 1) % s.count
			return s.cidr(i), nil
		}
	}
	return "", ErrCIDRExhausted
}

// Occupy records that node holds cidr (read from its Node object). It
// fails if cidr is outside the set or another node holds it.
func (s *CIDRSet) Occupy(node, cidr string) error {
	i, err := s.index(cidr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, taken := s.owner[i]; taken && o != node {
		return fmt.Errorf("pod CIDR %s of node %s is already held by node %s", cidr, node, o)
	}
	if old, ok := s.byNode[node]; ok && old != i {
		delete(s.owner, old)
	}
	s.owner[i], s.byNode[node] = node, i
	return nil
}

// Release frees node's CIDR, if it holds one.
func (s *CIDRSet) Release(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.byNode[node]; ok {
		delete(s.owner, i)
		delete(s.byNode, node)
	}
}

// Holder returns the node holding cidr, or "".
func (s *CIDRSet) Holder(cidr string) string {
	i, err := s.index(cidr)
	if err != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner[i]
}
