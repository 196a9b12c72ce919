package mm

import (
	"context"
	"fmt"
	"strings"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Mapping describes one VMA as /proc/[pid]/maps shows it.
type Mapping struct {
	Start, End uint64
	// Perms is like "r-xp".
	Perms  string
	Offset uint64
	Dev    uint64
	Inode  uint64
	Name   string
}

// Mappings returns the VMAs in address order.
func (mm *MemoryManager) Mappings(ctx context.Context) []Mapping {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	out := make([]Mapping, 0, len(mm.vmas))
	for _, v := range mm.vmas {
		m := Mapping{Start: v.Start, End: v.End, Name: v.hint}
		p := v.perms.String()
		if v.private {
			p += "p"
		} else {
			p += "s"
		}
		m.Perms = p
		if v.id != nil {
			m.Name = v.id.MappedName(ctx)
			m.Dev = v.id.DeviceID()
			m.Inode = v.id.InodeID()
			m.Offset = v.off
		}
		if v.growsDown && m.Name == "" {
			m.Name = "[stack]"
		}
		out = append(out, m)
	}
	return out
}

// MapsText returns the text of /proc/[pid]/maps.
func (mm *MemoryManager) MapsText(ctx context.Context) string {
	var b strings.Builder
	for _, m := range mm.Mappings(ctx) {
		line := fmt.Sprintf("%08x-%08x %s %08x %02x:%02x %d ", m.Start, m.End, m.Perms, m.Offset,
			abi.DevMajor(m.Dev), abi.DevMinor(m.Dev), m.Inode)
		if m.Name != "" {
			// Linux pads the fixed columns to 73 characters.
			if len(line) < 73 {
				line += strings.Repeat(" ", 73-len(line))
			}
			line += m.Name
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}
