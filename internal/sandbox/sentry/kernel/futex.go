package kernel

import (
	"sync"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
)

// futexKey identifies a futex word: a private futex by address space and
// address, a shared one by the memory-file page offset behind it (so
// processes sharing memory meet).
type futexKey struct {
	mm   *mm.MemoryManager
	addr uint64
}

type futexWaiter struct {
	key    futexKey
	bitset uint32
	ch     chan struct{}
	woken  bool
}

// futexManager holds every futex waiter of the kernel.
type futexManager struct {
	mu      sync.Mutex
	waiters map[futexKey][]*futexWaiter // +checklocks:mu
}

func (f *futexManager) init() { f.waiters = make(map[futexKey][]*futexWaiter) }

func makeFutexKey(t *Task, m *mm.MemoryManager, addr uint64, private bool) (futexKey, error) {
	if addr&3 != 0 {
		return futexKey{}, abi.EINVAL
	}
	if private {
		return futexKey{mm: m, addr: addr}, nil
	}
	frame, err := m.FrameOf(t, addr)
	if err != nil {
		return futexKey{}, abi.EFAULT
	}
	return futexKey{addr: frame}, nil
}

// FutexWait implements FUTEX_WAIT(_BITSET): sleep while the word at addr
// holds val, until woken, the deadline (zero: none), or a signal.
func (t *Task) FutexWait(addr uint64, private bool, val, bitset uint32, deadline time.Time) error {
	if bitset == 0 {
		return abi.EINVAL
	}
	m := t.MemoryManager()
	key, err := makeFutexKey(t, m, addr, private)
	if err != nil {
		return err
	}
	f := &t.k.futexes
	f.mu.Lock()
	cur, err := m.LoadUint32(t, addr)
	if err != nil {
		f.mu.Unlock()
		return abi.EFAULT
	}
	if cur != val {
		f.mu.Unlock()
		return abi.EAGAIN
	}
	w := &futexWaiter{key: key, bitset: bitset, ch: make(chan struct{})}
	f.waiters[key] = append(f.waiters[key], w)
	f.mu.Unlock()

	timedOut, berr := t.BlockWithDeadline(w.ch, deadline)
	f.mu.Lock()
	woken := w.woken
	if !woken {
		f.removeLocked(w)
	}
	f.mu.Unlock()
	switch {
	case woken:
		return nil
	case timedOut:
		return abi.ETIMEDOUT
	case berr != nil:
		return abi.ERESTARTSYS
	}
	return nil
}

func (f *futexManager) removeLocked(w *futexWaiter) {
	q := f.waiters[w.key]
	for i, o := range q {
		if o == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(f.waiters, w.key)
	} else {
		f.waiters[w.key] = q
	}
}

// wakeLocked wakes up to n waiters on key matching bitset.
func (f *futexManager) wakeLocked(key futexKey, n int, bitset uint32) int {
	q := f.waiters[key]
	woken := 0
	out := q[:0]
	for _, w := range q {
		if woken < n && w.bitset&bitset != 0 {
			w.woken = true
			close(w.ch)
			woken++
			continue
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		delete(f.waiters, key)
	} else {
		f.waiters[key] = out
	}
	return woken
}

// wake implements FUTEX_WAKE(_BITSET).
func (f *futexManager) wake(t *Task, m *mm.MemoryManager, addr uint64, private bool, n int, bitset uint32) (int, error) {
	key, err := makeFutexKey(t, m, addr, private)
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wakeLocked(key, n, bitset), nil
}

// FutexWake implements FUTEX_WAKE and FUTEX_WAKE_BITSET.
func (t *Task) FutexWake(addr uint64, private bool, n int, bitset uint32) (int, error) {
	if bitset == 0 {
		return 0, abi.EINVAL
	}
	return t.k.futexes.wake(t, t.MemoryManager(), addr, private, n, bitset)
}

// FutexRequeue implements FUTEX_REQUEUE and FUTEX_CMP_REQUEUE: wake up to
// nwake waiters on addr and move up to nrequeue others to addr2; with
// cmp, only if the word at addr still holds val.
func (t *Task) FutexRequeue(addr, addr2 uint64, private bool, nwake, nrequeue int, cmp bool, val uint32) (int, error) {
	m := t.MemoryManager()
	k1, err := makeFutexKey(t, m, addr, private)
	if err != nil {
		return 0, err
	}
	k2, err := makeFutexKey(t, m, addr2, private)
	if err != nil {
		return 0, err
	}
	f := &t.k.futexes
	f.mu.Lock()
	defer f.mu.Unlock()
	if cmp {
		cur, err := m.LoadUint32(t, addr)
		if err != nil {
			return 0, abi.EFAULT
		}
		if cur != val {
			return 0, abi.EAGAIN
		}
	}
	n := f.wakeLocked(k1, nwake, abi.FUTEX_BITSET_MATCH_ANY)
	q := f.waiters[k1]
	moved := 0
	for len(q) > 0 && moved < nrequeue {
		w := q[0]
		q = q[1:]
		w.key = k2
		f.waiters[k2] = append(f.waiters[k2], w)
		moved++
	}
	if len(q) == 0 {
		delete(f.waiters, k1)
	} else {
		f.waiters[k1] = q
	}
	return n + moved, nil
}

// FutexWakeOp implements FUTEX_WAKE_OP.
func (t *Task) FutexWakeOp(addr, addr2 uint64, private bool, nwake, nwake2 int, op uint32) (int, error) {
	m := t.MemoryManager()
	k1, err := makeFutexKey(t, m, addr, private)
	if err != nil {
		return 0, err
	}
	k2, err := makeFutexKey(t, m, addr2, private)
	if err != nil {
		return 0, err
	}
	opcode := (op >> 28) & 0xf
	cmp := (op >> 24) & 0xf
	oparg := (op >> 12) & 0xfff
	cmparg := op & 0xfff
	if opcode&abi.FUTEX_OP_OPARG_SHIFT != 0 {
		opcode &^= abi.FUTEX_OP_OPARG_SHIFT
		if oparg > 31 {
			return 0, abi.EINVAL
		}
		oparg = 1 << oparg
	}
	f := &t.k.futexes
	f.mu.Lock()
	defer f.mu.Unlock()
	var bad bool
	old, err := m.AtomicRMW32(t, addr2, func(v uint32) uint32 {
		switch opcode {
		case abi.FUTEX_OP_SET:
			return oparg
		case abi.FUTEX_OP_ADD:
			return v + oparg
		case abi.FUTEX_OP_OR:
			return v | oparg
		case abi.FUTEX_OP_ANDN:
			return v &^ oparg
		case abi.FUTEX_OP_XOR:
			return v ^ oparg
		}
		bad = true
		return v
	})
	if err != nil {
		return 0, abi.EFAULT
	}
	if bad {
		return 0, abi.ENOSYS
	}
	n := f.wakeLocked(k1, nwake, abi.FUTEX_BITSET_MATCH_ANY)
	o, c := int32(old), int32(cmparg)
	var ok bool
	switch cmp {
	case abi.FUTEX_OP_CMP_EQ:
		ok = o == c
	case abi.FUTEX_OP_CMP_NE:
		ok = o != c
	case abi.FUTEX_OP_CMP_LT:
		ok = o < c
	case abi.FUTEX_OP_CMP_LE:
		ok = o <= c
	case abi.FUTEX_OP_CMP_GT:
		ok = o > c
	case abi.FUTEX_OP_CMP_GE:
		ok = o >= c
	default:
		return n, abi.ENOSYS
	}
	if ok {
		n += f.wakeLocked(k2, nwake2, abi.FUTEX_BITSET_MATCH_ANY)
	}
	return n, nil
}

// SetRobustList records the robust futex list head (set_robust_list).
func (t *Task) SetRobustList(head uint64) {
	t.k.mu.Lock()
	t.robustList = head
	t.k.mu.Unlock()
}

// RobustList returns the robust list head.
func (t *Task) RobustList() uint64 {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.robustList
}

// SetClearTID sets the clear-child-tid address (set_tid_address).
func (t *Task) SetClearTID(addr uint64) {
	t.k.mu.Lock()
	t.clearTID = addr
	t.k.mu.Unlock()
}

// exitRobustList marks the futexes the exiting thread holds as
// owner-died and wakes a waiter on each, walking at most robustListLimit
// entries of the list the thread registered.
func (t *Task) exitRobustList() {
	head := t.RobustList()
	m := t.MemoryManager()
	if head == 0 || m == nil {
		return
	}
	var h abi.RobustListHead
	if _, err := m.CopyIn(t, head, abi.AsBytes(&h)); err != nil {
		return
	}
	const robustListLimit = 2048
	handle := func(entry uint64) {
		addr := entry + uint64(h.FutexOffset)
		var waiters bool
		_, err := m.AtomicRMW32(t, addr, func(v uint32) uint32 {
			if int32(v&abi.FUTEX_TID_MASK) != t.tid {
				waiters = false
				return v
			}
			waiters = v&abi.FUTEX_WAITERS != 0
			return v&abi.FUTEX_WAITERS | abi.FUTEX_OWNER_DIED
		})
		if err == nil && waiters {
			t.k.futexes.wake(t, m, addr, false, 1, abi.FUTEX_BITSET_MATCH_ANY)
		}
	}
	entry := h.List
	for i := 0; entry != head && entry != 0 && i < robustListLimit; i++ {
		var next uint64
		if _, err := m.CopyIn(t, entry, abi.AsBytes(&next)); err != nil {
			break
		}
		if entry != h.ListOpPending {
			handle(entry &^ 1)
		}
		entry = next
	}
	if h.ListOpPending != 0 {
		handle(h.ListOpPending &^ 1)
	}
}
