package podnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrExhausted is returned when the pod CIDR has no free address.
var ErrExhausted = errors.New("no free address in the pod CIDR")

// IPAM hands out addresses of a pod CIDR. State is one file per allocated
// address under its directory, named by the address and holding the owner
// (the pod ID): creating a file with O_EXCL is the allocation, so it is
// atomic, survives restarts, and two allocators on one directory (an old
// and a new agent) never hand out the same address. Addresses are handed
// out round-robin from the last one allocated (kept in "last"), so a freed
// address is not reused at once.
type IPAM struct {
	dir    string
	prefix netip.Prefix

	mu sync.Mutex
}

// NewIPAM returns an allocator for prefix with state in dir. The network
// address, the first address (the bridge's gateway) and the broadcast
// address are never handed out.
func NewIPAM(dir string, prefix netip.Prefix) (*IPAM, error) {
	if !prefix.Addr().Is4() || prefix.Bits() > 30 {
		return nil, fmt.Errorf("pod CIDR %s: need an IPv4 prefix of /30 or larger", prefix)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating IPAM dir: %w", err)
	}
	return &IPAM{dir: dir, prefix: prefix.Masked()}, nil
}

// Gateway is the prefix's first address, the bridge's.
func Gateway(prefix netip.Prefix) netip.Addr { return prefix.Masked().Addr().Next() }

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Allocate returns owner's address, allocating one if it has none
// (idempotent per owner). Errors: ErrExhausted, I/O errors.
func (m *IPAM) Allocate(owner string) (netip.Addr, error) {
	if owner == "" || strings.ContainsAny(owner, "\n") {
		return netip.Addr{}, fmt.Errorf("invalid IPAM owner %q", owner)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok, err := m.lookup(owner); err != nil || ok {
		return a, err
	}
	first := Gateway(m.prefix).Next()
	last := broadcast(m.prefix)
	start := first
	if b, err := os.ReadFile(filepath.Join(m.dir, "last")); err == nil {
		if a, err := netip.ParseAddr(strings.TrimSpace(string(b))); err == nil && m.prefix.Contains(a) {
			start = a.Next()
		}
	}
	if !start.IsValid() || start.Compare(first) < 0 || start.Compare(last) >= 0 {
		start = first
	}
	a := start
	for {
		f, err := os.OpenFile(filepath.Join(m.dir, a.String()), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			_, werr := f.WriteString(owner)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(filepath.Join(m.dir, a.String()))
				return netip.Addr{}, fmt.Errorf("recording allocation: %w", werr)
			}
			writeAtomic(filepath.Join(m.dir, "last"), []byte(a.String()))
			return a, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return netip.Addr{}, fmt.Errorf("allocating %s: %w", a, err)
		}
		a = a.Next()
		if a.Compare(last) >= 0 {
			a = first
		}
		if a == start {
			return netip.Addr{}, fmt.Errorf("%w %s", ErrExhausted, m.prefix)
		}
	}
}

// lookup finds owner's address.
func (m *IPAM) lookup(owner string) (netip.Addr, bool, error) {
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return netip.Addr{}, false, fmt.Errorf("reading IPAM state: %w", err)
	}
	for _, e := range ents {
		a, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(m.dir, e.Name()))
		if err == nil && string(b) == owner {
			return a, true, nil
		}
	}
	return netip.Addr{}, false, nil
}

// Release frees owner's address; releasing an owner with none is not an
// error.
func (m *IPAM) Release(owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok, err := m.lookup(owner)
	if err != nil || !ok {
		return err
	}
	if err := os.Remove(filepath.Join(m.dir, a.String())); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("releasing %s: %w", a, err)
	}
	return nil
}

// Allocated returns the allocations, address → owner.
func (m *IPAM) Allocated() (map[netip.Addr]string, error) {
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, fmt.Errorf("reading IPAM state: %w", err)
	}
	out := map[netip.Addr]string{}
	for _, e := range ents {
		a, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(m.dir, e.Name())); err == nil {
			out[a] = string(b)
		}
	}
	return out, nil
}

func writeAtomic(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
