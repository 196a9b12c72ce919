package loader

import (
	"context"
	"encoding/binary"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
)

// ELF constants (amd64, 64-bit little endian only).
const (
	elfHeaderSize = 64
	phdrSize      = 56
	etExec        = 2
	etDyn         = 3
	emX86_64      = 62
	ptLoad        = 1
	ptInterp      = 3
	ptPhdr        = 6
	ptGNUStack    = 0x6474e551
	pfX           = 1
	pfW           = 2
	pfR           = 4
	// maxPhdrs bounds the program header table (Linux: 64 KiB of them).
	maxPhdrs = 65536 / phdrSize
	// pieBase is where a position-independent executable is loaded
	// (Linux's ELF_ET_DYN_BASE is two thirds of the address space; we
	// pick a fixed, low, canonical base) and interpBase its interpreter.
	pieBase    = 0x555555554000
	interpBase = 0x7f0000000000 - 0x10000000000
)

type elfHeader struct {
	typ       uint16
	entry     uint64
	phoff     uint64
	phentsize uint16
	phnum     uint16
}

type phdr struct {
	typ    uint32
	flags  uint32
	off    uint64
	vaddr  uint64
	filesz uint64
	memsz  uint64
	align  uint64
}

// parseHeader validates the ELF header in hdr.
func parseHeader(hdr []byte) (elfHeader, error) {
	if len(hdr) < elfHeaderSize || string(hdr[:4]) != "\x7fELF" {
		return elfHeader{}, abi.ENOEXEC
	}
	// 64-bit, little endian, current version, amd64.
	if hdr[4] != 2 || hdr[5] != 1 || hdr[6] != 1 {
		return elfHeader{}, abi.ENOEXEC
	}
	le := binary.LittleEndian
	h := elfHeader{
		typ:       le.Uint16(hdr[16:]),
		entry:     le.Uint64(hdr[24:]),
		phoff:     le.Uint64(hdr[32:]),
		phentsize: le.Uint16(hdr[54:]),
		phnum:     le.Uint16(hdr[56:]),
	}
	if machine := le.Uint16(hdr[18:]); machine != emX86_64 {
		return elfHeader{}, abi.ENOEXEC
	}
	if h.typ != etExec && h.typ != etDyn {
		return elfHeader{}, abi.ENOEXEC
	}
	if h.phentsize != phdrSize || h.phnum == 0 || h.phnum > maxPhdrs {
		return elfHeader{}, abi.ENOEXEC
	}
	return h, nil
}

// readPhdrs reads and validates the program headers.
func readPhdrs(ctx context.Context, f File, h elfHeader) ([]phdr, error) {
	size := int(h.phnum) * phdrSize
	if h.phoff > 1<<40 {
		return nil, abi.ENOEXEC
	}
	buf := make([]byte, size)
	if n, _ := f.ReadAt(ctx, buf, int64(h.phoff)); n != size {
		return nil, abi.ENOEXEC
	}
	le := binary.LittleEndian
	phs := make([]phdr, h.phnum)
	for i := range phs {
		b := buf[i*phdrSize:]
		phs[i] = phdr{
			typ:    le.Uint32(b[0:]),
			flags:  le.Uint32(b[4:]),
			off:    le.Uint64(b[8:]),
			vaddr:  le.Uint64(b[16:]),
			filesz: le.Uint64(b[32:]),
			memsz:  le.Uint64(b[40:]),
			align:  le.Uint64(b[48:]),
		}
		p := phs[i]
		if p.typ != ptLoad {
			continue
		}
		if p.filesz > p.memsz || p.off+p.filesz < p.off || p.vaddr+p.memsz < p.vaddr ||
			p.vaddr+p.memsz > abi.TaskSize || p.off > 1<<40 {
			return nil, abi.EINVAL
		}
		if p.vaddr&abi.PageMask != p.off&abi.PageMask {
			return nil, abi.EINVAL
		}
	}
	return phs, nil
}

// loaded describes one ELF object mapped into an address space.
type loaded struct {
	entry  uint64 // biased
	bias   uint64
	phdr   uint64 // address of the program headers in memory, or 0
	phnum  uint16
	end    uint64 // end of the highest segment (for brk)
	interp string
}

// loadELF maps the executable f (with its interpreter, if any) and builds
// the stack.
func loadELF(ctx context.Context, m *mm.MemoryManager, f File, hdr []byte, cfg Config, argv []string) (Image, error) {
	exe, err := mapObject(ctx, m, f, hdr, pieBase, true)
	if err != nil {
		return Image{}, err
	}
	entry := exe.entry
	var base uint64
	if exe.interp != "" {
		inf, err := cfg.Open(ctx, exe.interp)
		if err != nil {
			return Image{}, err
		}
		defer inf.DecRef(ctx)
		ihdr := make([]byte, elfHeaderSize)
		if n, _ := inf.ReadAt(ctx, ihdr, 0); n != elfHeaderSize {
			return Image{}, abi.ELIBBAD
		}
		interp, err := mapObject(ctx, m, inf, ihdr, interpBase, false)
		if err != nil {
			if err == abi.ENOEXEC {
				return Image{}, abi.ELIBBAD
			}
			return Image{}, err
		}
		if interp.interp != "" {
			return Image{}, abi.ELIBBAD
		}
		entry, base = interp.entry, interp.bias
	}
	brk, _ := abi.PageRoundUp(exe.end)
	m.SetBrk(brk)

	auxv := []uint64{
		abi.AT_PHDR, exe.phdr,
		abi.AT_PHENT, phdrSize,
		abi.AT_PHNUM, uint64(exe.phnum),
		abi.AT_PAGESZ, abi.PageSize,
		abi.AT_BASE, base,
		abi.AT_FLAGS, 0,
		abi.AT_ENTRY, exe.entry,
		abi.AT_UID, uint64(cfg.UID),
		abi.AT_EUID, uint64(cfg.EUID),
		abi.AT_GID, uint64(cfg.GID),
		abi.AT_EGID, uint64(cfg.EGID),
		abi.AT_SECURE, 0,
		abi.AT_CLKTCK, abi.CLK_TCK,
		abi.AT_HWCAP, cfg.HWCap,
		abi.AT_HWCAP2, 0,
		abi.AT_MINSIGSTKSZ, abi.MINSIGSTKSZ,
	}
	sp, err := buildStack(ctx, m, cfg, argv, auxv)
	if err != nil {
		return Image{}, err
	}
	return Image{Entry: entry, StackPointer: sp}, nil
}

// mapObject maps one ELF object. A position-independent object is loaded
// at bias base; exec says f is the main executable (PT_INTERP allowed).
func mapObject(ctx context.Context, m *mm.MemoryManager, f File, hdr []byte, base uint64, exec bool) (loaded, error) {
	h, err := parseHeader(hdr)
	if err != nil {
		return loaded{}, err
	}
	phs, err := readPhdrs(ctx, f, h)
	if err != nil {
		return loaded{}, err
	}
	var l loaded
	if h.typ == etDyn {
		// Bias so the lowest segment starts at base.
		lowest := ^uint64(0)
		for _, p := range phs {
			if p.typ == ptLoad && p.vaddr < lowest {
				lowest = p.vaddr
			}
		}
		if lowest == ^uint64(0) {
			return loaded{}, abi.ENOEXEC
		}
		l.bias = base - abi.PageRoundDown(lowest)
	}
	nload := 0
	for _, p := range phs {
		switch p.typ {
		case ptInterp:
			if !exec || p.filesz < 2 || p.filesz > abi.PATH_MAX {
				return loaded{}, abi.ENOEXEC
			}
			buf := make([]byte, p.filesz)
			if n, _ := f.ReadAt(ctx, buf, int64(p.off)); n != len(buf) || buf[len(buf)-1] != 0 {
				return loaded{}, abi.ENOEXEC
			}
			l.interp = string(buf[:len(buf)-1])
		case ptPhdr:
			l.phdr = p.vaddr + l.bias
		case ptLoad:
			nload++
			if err := mapSegment(ctx, m, f, p, l.bias); err != nil {
				return loaded{}, err
			}
			if end := p.vaddr + p.memsz + l.bias; end > l.end {
				l.end = end
			}
			// The headers are in memory if this segment holds them.
			if l.phdr == 0 && h.phoff >= p.off && h.phoff+uint64(h.phnum)*phdrSize <= p.off+p.filesz {
				l.phdr = p.vaddr + (h.phoff - p.off) + l.bias
			}
		}
	}
	if nload == 0 {
		return loaded{}, abi.ENOEXEC
	}
	l.entry = h.entry + l.bias
	l.phnum = h.phnum
	return l, nil
}

// mapSegment maps one PT_LOAD segment: its file part privately from f,
// the rest (bss) anonymous.
func mapSegment(ctx context.Context, m *mm.MemoryManager, f File, p phdr, bias uint64) error {
	var perms memmap.AccessType
	if p.flags&pfR != 0 {
		perms |= memmap.Read
	}
	if p.flags&pfW != 0 {
		perms |= memmap.Write
	}
	if p.flags&pfX != 0 {
		perms |= memmap.Execute
	}
	vaddr := p.vaddr + bias
	if vaddr < bias {
		return abi.EINVAL
	}
	start := abi.PageRoundDown(vaddr)
	fileEnd, ok := abi.PageRoundUp(vaddr + p.filesz)
	memEnd, ok2 := abi.PageRoundUp(vaddr + p.memsz)
	if !ok || !ok2 {
		return abi.EINVAL
	}
	// Map writable at first so the tail of the last file page can be
	// zeroed, then set the segment's permissions.
	if p.filesz > 0 {
		opts := &memmap.MMapOpts{
			Length:   fileEnd - start,
			Offset:   abi.PageRoundDown(p.off),
			Addr:     start,
			Fixed:    true,
			Unmap:    true,
			Private:  true,
			Perms:    memmap.ReadWrite,
			MaxPerms: memmap.AnyAccess,
		}
		switch err := f.ConfigureMMap(ctx, opts); err {
		case nil:
			if _, err := m.MMap(ctx, opts); err != nil {
				if opts.MappingIdentity != nil {
					opts.MappingIdentity.DecRef(ctx)
				}
				return err
			}
		case abi.ENODEV:
			// Not mappable: copy the contents into anonymous memory.
			if err := copySegment(ctx, m, f, start, fileEnd, abi.PageRoundDown(p.off), vaddr+p.filesz); err != nil {
				return err
			}
		default:
			return err
		}
		if tail := fileEnd - (vaddr + p.filesz); tail > 0 && tail < abi.PageSize {
			if _, err := m.ZeroOut(ctx, vaddr+p.filesz, tail); err != nil {
				return err
			}
		}
	}
	if memEnd > fileEnd {
		bssStart := fileEnd
		if p.filesz == 0 {
			bssStart = start
		}
		opts := &memmap.MMapOpts{
			Length:   memEnd - bssStart,
			Addr:     bssStart,
			Fixed:    true,
			Unmap:    true,
			Private:  true,
			Perms:    perms,
			MaxPerms: memmap.AnyAccess,
		}
		if _, err := m.MMap(ctx, opts); err != nil {
			return err
		}
	}
	if p.filesz > 0 {
		if err := m.MProtect(start, fileEnd-start, perms.Prot()); err != nil {
			return err
		}
	}
	return nil
}

// copySegment fills [start, end) with anonymous memory holding the file's
// bytes from off, up to dataEnd.
func copySegment(ctx context.Context, m *mm.MemoryManager, f File, start, end, off, dataEnd uint64) error {
	opts := &memmap.MMapOpts{Length: end - start, Addr: start, Fixed: true, Unmap: true, Private: true, Perms: memmap.ReadWrite, MaxPerms: memmap.AnyAccess}
	if _, err := m.MMap(ctx, opts); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for a := start; a < dataEnd; {
		n := uint64(len(buf))
		if dataEnd-a < n {
			n = dataEnd - a
		}
		got, _ := f.ReadAt(ctx, buf[:n], int64(off+(a-start)))
		if got <= 0 {
			break
		}
		if _, err := m.CopyOut(ctx, a, buf[:got]); err != nil {
			return err
		}
		a += uint64(got)
	}
	return nil
}
