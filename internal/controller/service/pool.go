package service

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
)

// Errors of Pool.
var (
	// ErrPoolExhausted: every address of the pool is taken.
	ErrPoolExhausted = errors.New("no available IPs in the load-balancer pool")
	// ErrNotInPool: a requested address is outside the pool.
	ErrNotInPool = errors.New("address is not in the load-balancer pool")
	// ErrInUse: a requested address is held by another Service.
	ErrInUse = errors.New("address is already in use")
)

// maxPoolSize bounds a pool so that a typo (a /8) cannot cost gigabytes.
const maxPoolSize = 1 << 20

type ipRange struct{ first, last netip.Addr }

// Pool is a set of load-balancer addresses and which Service ("ns/name")
// holds each. Safe for concurrent use.
type Pool struct {
	ranges []ipRange

	mu sync.Mutex
	// +checklocks:mu
	owner map[netip.Addr]string
	// +checklocks:mu
	bySvc map[string]netip.Addr
}

// ParsePool parses --loadbalancer-ip-pool: a comma-separated list of
// CIDRs (192.168.1.240/28: every host address, without the network and
// broadcast addresses of IPv4 prefixes up to /30) and inclusive ranges
// (192.168.1.240-192.168.1.250). IPv4 and IPv6 may be mixed. An empty
// spec is an empty pool.
func ParsePool(spec string) (*Pool, error) {
	p := &Pool{owner: map[netip.Addr]string{}, bySvc: map[string]netip.Addr{}}
	total := 0
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var r ipRange
		switch {
		case strings.Contains(part, "/"):
			pfx, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("load-balancer pool %q: %w", part, err)
			}
			pfx = pfx.Masked()
			r.first = pfx.Addr()
			r.last = lastOf(pfx)
			if pfx.Addr().Is4() && pfx.Bits() <= 30 {
				r.first, r.last = r.first.Next(), r.last.Prev()
			}
		case strings.Contains(part, "-"):
			a, b, _ := strings.Cut(part, "-")
			first, err1 := netip.ParseAddr(strings.TrimSpace(a))
			last, err2 := netip.ParseAddr(strings.TrimSpace(b))
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("load-balancer pool range %q: %w", part, err)
			}
			if first.Is4() != last.Is4() || last.Less(first) {
				return nil, fmt.Errorf("load-balancer pool range %q: not an increasing range of one family", part)
			}
			r = ipRange{first, last}
		default:
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("load-balancer pool address %q: %w", part, err)
			}
			r = ipRange{a, a}
		}
		n := size(r)
		if total += n; total > maxPoolSize {
			return nil, fmt.Errorf("load-balancer pool %q: more than %d addresses", spec, maxPoolSize)
		}
		p.ranges = append(p.ranges, r)
	}
	return p, nil
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// size counts the addresses of r, capped just above maxPoolSize.
func size(r ipRange) int {
	n := 0
	for a := r.first; n <= maxPoolSize; a = a.Next() {
		n++
		if a == r.last {
			break
		}
	}
	return n
}

// Empty reports whether the pool has no address at all.
func (p *Pool) Empty() bool { return len(p.ranges) == 0 }

// Contains reports whether a is in the pool.
func (p *Pool) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, r := range p.ranges {
		if a.Is4() == r.first.Is4() && !a.Less(r.first) && !r.last.Less(a) {
			return true
		}
	}
	return false
}

// Allocate returns the address of svc: want if valid (it must be in the
// pool and free or svc's), else the one svc holds, else the lowest free.
func (p *Pool) Allocate(svc string, want netip.Addr) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if want.IsValid() {
		want = want.Unmap()
		if !p.Contains(want) {
			return netip.Addr{}, fmt.Errorf("%s: %w", want, ErrNotInPool)
		}
		if o, ok := p.owner[want]; ok && o != svc {
			return netip.Addr{}, fmt.Errorf("%s held by %s: %w", want, o, ErrInUse)
		}
		p.releaseLocked(svc)
		p.owner[want], p.bySvc[svc] = svc, want
		return want, nil
	}
	if a, ok := p.bySvc[svc]; ok {
		return a, nil
	}
	for _, r := range p.ranges {
		for a := r.first; ; a = a.Next() {
			if _, taken := p.owner[a]; !taken {
				p.owner[a], p.bySvc[svc] = svc, a
				return a, nil
			}
			if a == r.last {
				break
			}
		}
	}
	return netip.Addr{}, ErrPoolExhausted
}

// Occupy records that svc holds a (read from its status at start).
func (p *Pool) Occupy(svc string, a netip.Addr) error {
	_, err := p.Allocate(svc, a)
	return err
}

// Release frees the address svc holds, if any.
func (p *Pool) Release(svc string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.releaseLocked(svc)
}

// +checklocks:p.mu
func (p *Pool) releaseLocked(svc string) bool {
	a, ok := p.bySvc[svc]
	if ok {
		delete(p.owner, a)
		delete(p.bySvc, svc)
	}
	return ok
}

// Holder returns the Service holding a, or "".
func (p *Pool) Holder(a netip.Addr) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.owner[a.Unmap()]
}

// Held returns the address svc holds.
func (p *Pool) Held(svc string) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.bySvc[svc]
	return a, ok
}
