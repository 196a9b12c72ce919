package loader

import (
	"context"
	"encoding/binary"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
)

// initialStack is the size of the stack VMA before it grows.
const initialStack = 128 << 10

// buildStack maps the initial stack at the top of the address space and
// writes, from the top down as Linux does: an 8-byte end marker, the
// executable's name (AT_EXECFN), the environment and argument strings, the
// platform string, the 16 random bytes, then (16-byte aligned) argc, argv,
// envp and the auxiliary vector. It returns the stack pointer.
func buildStack(ctx context.Context, m *mm.MemoryManager, cfg Config, argv []string, auxv []uint64) (uint64, error) {
	limit := cfg.StackLimit
	if limit == 0 || limit > 1<<30 {
		limit = 8 << 20
	}
	// Linux allows a quarter of the stack limit for strings and
	// pointers, at least 32 pages.
	maxArgs := limit / 4
	if maxArgs < 32*abi.PageSize {
		maxArgs = 32 * abi.PageSize
	}
	var strBytes uint64
	for _, s := range append(append([]string{cfg.Filename}, argv...), cfg.Envv...) {
		if len(s)+1 > abi.MAX_ARG_STRLEN {
			return 0, abi.E2BIG
		}
		strBytes += uint64(len(s)) + 1
	}
	ptrBytes := uint64(len(argv)+len(cfg.Envv)+2+1)*8 + uint64(len(auxv)+8)*8
	if strBytes+ptrBytes > maxArgs {
		return 0, abi.E2BIG
	}
	need := strBytes + ptrBytes + 256
	size := uint64(initialStack)
	for size < need {
		size *= 2
	}
	m.SetLayout(m.Layout().StackTop, limit)
	top := m.Layout().StackTop
	if _, err := m.MMap(ctx, &memmap.MMapOpts{
		Length: size, Addr: top - size, Fixed: true, Unmap: true, Private: true,
		Perms: memmap.ReadWrite, MaxPerms: memmap.AnyAccess, GrowsDown: true, Hint: "[stack]",
	}); err != nil {
		return 0, err
	}

	sp := top - 8
	push := func(s string) (uint64, error) {
		sp -= uint64(len(s)) + 1
		b := make([]byte, len(s)+1)
		copy(b, s)
		_, err := m.CopyOut(ctx, sp, b)
		return sp, err
	}
	execfn, err := push(cfg.Filename)
	if err != nil {
		return 0, err
	}
	envp := make([]uint64, len(cfg.Envv))
	for i := len(cfg.Envv) - 1; i >= 0; i-- {
		if envp[i], err = push(cfg.Envv[i]); err != nil {
			return 0, err
		}
	}
	envEnd := execfn
	envStart := envEnd
	if len(envp) > 0 {
		envStart = envp[0]
	}
	argp := make([]uint64, len(argv))
	for i := len(argv) - 1; i >= 0; i-- {
		if argp[i], err = push(argv[i]); err != nil {
			return 0, err
		}
	}
	argEnd := envStart
	argStart := argEnd
	if len(argp) > 0 {
		argStart = argp[0]
	}
	platform, err := push("x86_64")
	if err != nil {
		return 0, err
	}
	sp -= 16
	random := sp
	if _, err := m.CopyOut(ctx, random, cfg.Random[:]); err != nil {
		return 0, err
	}
	auxv = append(auxv,
		abi.AT_RANDOM, random,
		abi.AT_EXECFN, execfn,
		abi.AT_PLATFORM, platform,
		abi.AT_NULL, 0)

	words := 1 + len(argp) + 1 + len(envp) + 1 + len(auxv)
	sp &^= 15
	if words%2 != 0 {
		sp -= 8
	}
	sp -= uint64(words) * 8
	buf := make([]byte, 0, words*8)
	put := func(v uint64) { buf = binary.LittleEndian.AppendUint64(buf, v) }
	put(uint64(len(argp)))
	for _, a := range argp {
		put(a)
	}
	put(0)
	for _, e := range envp {
		put(e)
	}
	put(0)
	for _, a := range auxv {
		put(a)
	}
	if _, err := m.CopyOut(ctx, sp, buf); err != nil {
		return 0, err
	}
	m.SetArgvEnv(memmap.AddrRange{Start: argStart, End: argEnd}, memmap.AddrRange{Start: envStart, End: envEnd}, auxv)
	return sp, nil
}
