package linux

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// epoll(7) flags in epoll_event.events beyond the readiness bits, and
// epoll_ctl operations.
const (
	epollExclusive = 1 << 28
	epollWakeup    = 1 << 29
	epollOneShot   = 1 << 30
	epollET        = 1 << 31
	epollFlags     = epollExclusive | epollWakeup | epollOneShot | epollET

	epollCtlAdd = 1
	epollCtlDel = 2
	epollCtlMod = 3

	// epollEventSize is sizeof(struct epoll_event) on amd64 (packed: a
	// 32-bit mask, then 64 bits of user data).
	epollEventSize = 12
	// epollMaxEvents is EP_MAX_EVENTS.
	epollMaxEvents = (1<<31 - 1) / epollEventSize
)

// epollFile is an epoll instance: an interest list of (file, fd) pairs,
// each with a wait entry on its file, and a ready list of the items whose
// files reported events since last checked. Readiness is always re-read
// from the file when the ready list is consumed (level-triggered items
// stay on it while ready).
//
// Lock order: a watched file's wait queue (its callbacks run under it) ->
// epollFile.mu. epollFile.queue is notified with mu released.
//
// Unlike Linux, an item holds a reference on its file: closing every
// descriptor of a watched file without EPOLL_CTL_DEL keeps it watched
// (and open) until the epoll instance is closed or the item deleted.
type epollFile struct {
	vfsfd vfs.FileDescription
	vfs.FileDefaults
	// queue holds waiters on the instance itself (epoll_wait, and poll or
	// another epoll watching this one).
	queue vfs.WaitQueue

	mu sync.Mutex
	// interest is guarded by mu.
	interest map[epollKey]*epollItem
	// ready is guarded by mu: items to check, in the order their events
	// came; item.ready says an item is on it.
	ready []*epollItem
}

type epollKey struct {
	file *vfs.FileDescription
	fd   int32
}

// epollItem is one watched (file, fd). events, data, ready and disabled
// are guarded by the instance's mu.
type epollItem struct {
	ep    *epollFile
	key   epollKey
	entry *vfs.WaitEntry

	events   uint32
	data     uint64
	ready    bool
	disabled bool // a one-shot item that fired, until EPOLL_CTL_MOD
}

func newEpoll(t *kernel.Task) *vfs.FileDescription {
	ep := &epollFile{interest: make(map[epollKey]*epollItem)}
	vd := t.Kernel().VFS().NewAnonVirtualDentry("anon_inode:[eventpoll]", nil)
	defer vd.DecRef(t)
	ep.vfsfd.Init(ep, abi.O_RDWR, vd)
	return &ep.vfsfd
}

// Release implements vfs.FileDescriptionImpl.Release: every item is
// dropped.
func (ep *epollFile) Release(ctx context.Context) {
	ep.mu.Lock()
	items := make([]*epollItem, 0, len(ep.interest))
	for _, it := range ep.interest {
		items = append(items, it)
	}
	ep.interest = nil
	ep.ready = nil
	ep.mu.Unlock()
	for _, it := range items {
		it.key.file.EventUnregister(it.entry)
		it.key.file.DecRef(ctx)
	}
}

// Readiness implements vfs.FileDescriptionImpl.Readiness: readable while
// a watched file is ready.
func (ep *epollFile) Readiness(mask vfs.EventMask) vfs.EventMask {
	if mask&vfs.EventReadable == 0 {
		return 0
	}
	ep.mu.Lock()
	var check []*epollItem
	var masks []vfs.EventMask
	for _, it := range ep.ready {
		if !it.disabled {
			check = append(check, it)
			masks = append(masks, itemMask(it.events))
		}
	}
	ep.mu.Unlock()
	for i, it := range check {
		if it.key.file.Readiness(masks[i]) != 0 {
			return vfs.EventReadable & mask
		}
	}
	return 0
}

// EventRegister implements vfs.FileDescriptionImpl.EventRegister.
func (ep *epollFile) EventRegister(e *vfs.WaitEntry) error {
	ep.queue.EventRegister(e)
	return nil
}

// EventUnregister implements vfs.FileDescriptionImpl.EventUnregister.
func (ep *epollFile) EventUnregister(e *vfs.WaitEntry) { ep.queue.EventUnregister(e) }

// itemMask is the readiness an item reports: what it asked for plus
// errors and hang-ups, which are always reported.
func itemMask(events uint32) vfs.EventMask {
	return vfs.EventMask(events&^epollFlags) | vfs.EventErr | vfs.EventHUp
}

// markReadyLocked puts it on the ready list.
//
// Preconditions: ep.mu is held.
func (ep *epollFile) markReadyLocked(it *epollItem) {
	if !it.ready && !it.disabled {
		it.ready = true
		ep.ready = append(ep.ready, it)
	}
}

// callback is an item's wait-entry callback, run under its file's queue
// lock.
func (it *epollItem) callback(vfs.EventMask) {
	ep := it.ep
	ep.mu.Lock()
	if ep.interest[it.key] != it {
		ep.mu.Unlock()
		return
	}
	ep.markReadyLocked(it)
	ep.mu.Unlock()
	ep.queue.Notify(vfs.EventReadable)
}

// ctl implements epoll_ctl for file f at descriptor fd.
func (ep *epollFile) ctl(t *kernel.Task, op int32, fd int32, f *vfs.FileDescription, events uint32, data uint64) error {
	key := epollKey{file: f, fd: fd}
	switch op {
	case epollCtlAdd:
		ep.mu.Lock()
		if ep.interest == nil {
			ep.mu.Unlock()
			return abi.EBADF
		}
		if ep.interest[key] != nil {
			ep.mu.Unlock()
			return abi.EEXIST
		}
		it := &epollItem{ep: ep, key: key, events: events, data: data}
		it.entry = vfs.NewFunctionEntry(itemMask(events), it.callback)
		ep.interest[key] = it
		// Checked at the next wait: it may be ready already.
		ep.markReadyLocked(it)
		ep.mu.Unlock()
		f.IncRef()
		if err := f.EventRegister(it.entry); err != nil {
			ep.mu.Lock()
			delete(ep.interest, key)
			ep.removeReadyLocked(it)
			ep.mu.Unlock()
			f.DecRef(t)
			return err
		}
		ep.queue.Notify(vfs.EventReadable)
		return nil
	case epollCtlMod:
		ep.mu.Lock()
		it := ep.interest[key]
		if it == nil {
			ep.mu.Unlock()
			return abi.ENOENT
		}
		if it.events&epollExclusive != 0 || events&epollExclusive != 0 {
			ep.mu.Unlock()
			return abi.EINVAL
		}
		it.events, it.data, it.disabled = events, data, false
		ep.markReadyLocked(it)
		ep.mu.Unlock()
		// The file's queue filters by the entry's mask: re-register
		// with the new one.
		f.EventUnregister(it.entry)
		it.entry = vfs.NewFunctionEntry(itemMask(events), it.callback)
		if err := f.EventRegister(it.entry); err != nil {
			return err
		}
		ep.queue.Notify(vfs.EventReadable)
		return nil
	case epollCtlDel:
		ep.mu.Lock()
		it := ep.interest[key]
		if it == nil {
			ep.mu.Unlock()
			return abi.ENOENT
		}
		delete(ep.interest, key)
		ep.removeReadyLocked(it)
		ep.mu.Unlock()
		f.EventUnregister(it.entry)
		f.DecRef(t)
		return nil
	}
	return abi.EINVAL
}

// removeReadyLocked takes it off the ready list.
//
// Preconditions: ep.mu is held.
func (ep *epollFile) removeReadyLocked(it *epollItem) {
	if !it.ready {
		return
	}
	it.ready = false
	for i, r := range ep.ready {
		if r == it {
			ep.ready = append(ep.ready[:i], ep.ready[i+1:]...)
			return
		}
	}
}

// epollEvent is one reported event.
type epollEvent struct {
	events uint32
	data   uint64
}

// collect checks the ready list and returns up to max events. Items that
// are still ready and level-triggered go back on the list; edge-triggered
// ones wait for their next event; one-shot ones are disabled.
func (ep *epollFile) collect(max int) []epollEvent {
	ep.mu.Lock()
	batch := ep.ready
	ep.ready = nil
	for _, it := range batch {
		it.ready = false
	}
	ep.mu.Unlock()
	var out []epollEvent
	var requeue []*epollItem
	for i, it := range batch {
		if len(out) == max {
			requeue = append(requeue, batch[i:]...)
			break
		}
		ep.mu.Lock()
		events, data, live := it.events, it.data, ep.interest[it.key] == it && !it.disabled
		ep.mu.Unlock()
		if !live {
			continue
		}
		r := it.key.file.Readiness(itemMask(events))
		if r == 0 {
			continue
		}
		out = append(out, epollEvent{events: uint32(r), data: data})
		switch {
		case events&epollOneShot != 0:
			ep.mu.Lock()
			it.disabled = true
			ep.mu.Unlock()
		case events&epollET == 0:
			requeue = append(requeue, it)
		}
	}
	if len(requeue) > 0 {
		ep.mu.Lock()
		// Unconsumed and level-triggered items go first, in order.
		var rest []*epollItem
		rest, ep.ready = ep.ready, nil
		for _, it := range requeue {
			ep.markReadyLocked(it)
		}
		for _, it := range rest {
			it.ready = false
			ep.markReadyLocked(it)
		}
		ep.mu.Unlock()
	}
	return out
}

// wait implements epoll_wait: up to max events, blocking until one, the
// deadline (zero: none) or a signal (EINTR: epoll_wait is never
// restarted).
func (ep *epollFile) wait(t *kernel.Task, max int, deadline time.Time) ([]epollEvent, error) {
	if evs := ep.collect(max); len(evs) > 0 {
		return evs, nil
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return nil, nil
	}
	e, ch := vfs.NewChannelEntry(vfs.EventReadable)
	ep.queue.EventRegister(e)
	defer ep.queue.EventUnregister(e)
	for {
		if evs := ep.collect(max); len(evs) > 0 {
			return evs, nil
		}
		timedOut, err := t.BlockWithDeadline(ch, deadline)
		if timedOut {
			return ep.collect(max), nil
		}
		if err != nil {
			return nil, abi.EINTR
		}
	}
}

func sysEpollCreate(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if int32(a[0]) <= 0 {
		return 0, abi.EINVAL
	}
	return epollCreate(t, 0)
}

func sysEpollCreate1(t *kernel.Task, a *[6]uint64) (uint64, error) {
	flags := uint32(a[0])
	if flags&^abi.O_CLOEXEC != 0 {
		return 0, abi.EINVAL
	}
	return epollCreate(t, flags)
}

func epollCreate(t *kernel.Task, flags uint32) (uint64, error) {
	f := newEpoll(t)
	defer f.DecRef(t)
	return newFD(t, f, flags&abi.O_CLOEXEC != 0)
}

// getEpoll returns the epoll instance at descriptor fd.
func getEpoll(t *kernel.Task, fd int32) (*vfs.FileDescription, *epollFile, error) {
	f, err := getFile(t, fd)
	if err != nil {
		return nil, nil, err
	}
	ep, ok := f.Impl().(*epollFile)
	if !ok {
		f.DecRef(t)
		return nil, nil, abi.EINVAL
	}
	return f, ep, nil
}

func sysEpollCtl(t *kernel.Task, a *[6]uint64) (uint64, error) {
	epfd, op, fd, evAddr := int32(a[0]), int32(a[1]), int32(a[2]), a[3]
	epf, ep, err := getEpoll(t, epfd)
	if err != nil {
		return 0, err
	}
	defer epf.DecRef(t)
	f, err := getFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if f == epf {
		return 0, abi.EINVAL
	}
	if typ := f.Inode().Type(); typ == abi.S_IFREG || typ == abi.S_IFDIR {
		return 0, abi.EPERM // always ready: Linux refuses them
	}
	var events uint32
	var data uint64
	if op != epollCtlDel {
		var b [epollEventSize]byte
		if err := copyInBytes(t, evAddr, b[:]); err != nil {
			return 0, err
		}
		events = binary.LittleEndian.Uint32(b[0:])
		data = binary.LittleEndian.Uint64(b[4:])
		if events&epollExclusive != 0 && (op == epollCtlMod || events&epollOneShot != 0) {
			return 0, abi.EINVAL
		}
	}
	if _, nested := f.Impl().(*epollFile); nested && events&epollExclusive != 0 {
		return 0, abi.EINVAL
	}
	return 0, ep.ctl(t, op, fd, f, events, data)
}

func epollWait(t *kernel.Task, epfd int32, evAddr uint64, max int32, deadline time.Time) (uint64, error) {
	if max <= 0 || max > epollMaxEvents {
		return 0, abi.EINVAL
	}
	epf, ep, err := getEpoll(t, epfd)
	if err != nil {
		return 0, err
	}
	defer epf.DecRef(t)
	evs, err := ep.wait(t, int(max), deadline)
	if err != nil {
		return 0, err
	}
	if len(evs) == 0 {
		return 0, nil
	}
	b := make([]byte, len(evs)*epollEventSize)
	for i, e := range evs {
		binary.LittleEndian.PutUint32(b[i*epollEventSize:], e.events)
		binary.LittleEndian.PutUint64(b[i*epollEventSize+4:], e.data)
	}
	if err := copyOutBytes(t, evAddr, b); err != nil {
		return 0, err
	}
	return uint64(len(evs)), nil
}

// msDeadline turns a millisecond timeout (negative: forever) into a
// deadline (zero: none).
func msDeadline(timeout int32) time.Time {
	switch {
	case timeout == 0:
		return time.Now()
	case timeout > 0:
		return time.Now().Add(time.Duration(timeout) * time.Millisecond)
	}
	return time.Time{}
}

func sysEpollWait(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return epollWait(t, int32(a[0]), a[1], int32(a[2]), msDeadline(int32(a[3])))
}

func sysEpollPwait(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return withSigmask(t, a[4], a[5], func() (uint64, error) {
		return epollWait(t, int32(a[0]), a[1], int32(a[2]), msDeadline(int32(a[3])))
	})
}

func sysEpollPwait2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	deadline, err := timespecDeadline(t, a[3])
	if err != nil {
		return 0, err
	}
	return withSigmask(t, a[4], a[5], func() (uint64, error) {
		return epollWait(t, int32(a[0]), a[1], int32(a[2]), deadline)
	})
}
