package vfs

import (
	"sync"
)

// EventMask is a set of readiness events, with the values of poll(2)'s and
// epoll(7)'s POLL*/EPOLL* bits.
type EventMask uint32

// Readiness events.
const (
	EventIn     EventMask = 0x1    // POLLIN
	EventPri    EventMask = 0x2    // POLLPRI
	EventOut    EventMask = 0x4    // POLLOUT
	EventErr    EventMask = 0x8    // POLLERR
	EventHUp    EventMask = 0x10   // POLLHUP
	EventRdNorm EventMask = 0x40   // POLLRDNORM
	EventWrNorm EventMask = 0x100  // POLLWRNORM
	EventRdHUp  EventMask = 0x2000 // POLLRDHUP

	// EventReadable and EventWritable are what poll reports for a file that
	// can be read, or written, without blocking.
	EventReadable = EventIn | EventRdNorm
	EventWritable = EventOut | EventWrNorm
	// AlwaysReady is the readiness of files that never block (regular
	// files, /dev/null).
	AlwaysReady = EventReadable | EventWritable
)

// WaitEntry is one waiter on a WaitQueue: its callback runs, with the
// events that happened, whenever the queue is notified of events in its
// mask. Callbacks run with the queue's lock held: they must not block and
// must not call back into the queue.
type WaitEntry struct {
	mask     EventMask
	callback func(EventMask)
	// prev and next are guarded by the WaitQueue's mu.
	prev, next *WaitEntry
	queue      *WaitQueue
}

// NewFunctionEntry returns an entry that calls fn for events in mask.
func NewFunctionEntry(mask EventMask, fn func(EventMask)) *WaitEntry {
	return &WaitEntry{mask: mask, callback: fn}
}

// NewChannelEntry returns an entry for events in mask and a channel that
// receives a value (without blocking the notifier; one is buffered) each
// time such an event happens.
func NewChannelEntry(mask EventMask) (*WaitEntry, <-chan struct{}) {
	ch := make(chan struct{}, 1)
	return &WaitEntry{mask: mask, callback: func(EventMask) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}}, ch
}

// Mask returns the events e waits for.
func (e *WaitEntry) Mask() EventMask { return e.mask }

// WaitQueue is a list of waiters, notified by the owner of a file when its
// readiness changes. The zero value is an empty queue.
type WaitQueue struct {
	mu sync.Mutex
	// head and tail are guarded by mu.
	head, tail *WaitEntry
}

// EventRegister adds e to q. An entry is in at most one queue at a time.
func (q *WaitQueue) EventRegister(e *WaitEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.queue != nil {
		panic("vfs: WaitEntry registered twice")
	}
	e.queue = q
	e.prev, e.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = e
	} else {
		q.head = e
	}
	q.tail = e
}

// EventUnregister removes e from q; it is a no-op if e is not in q.
func (q *WaitQueue) EventUnregister(e *WaitEntry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.queue != q {
		return
	}
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		q.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		q.tail = e.prev
	}
	e.prev, e.next, e.queue = nil, nil, nil
}

// Notify calls the callback of every entry interested in any of mask.
// EventErr and EventHUp reach every entry, as poll(2) always reports them.
func (q *WaitQueue) Notify(mask EventMask) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for e := q.head; e != nil; e = e.next {
		if ev := (e.mask | EventErr | EventHUp) & mask; ev != 0 {
			e.callback(ev)
		}
	}
}

// Empty reports whether no entry is registered.
func (q *WaitQueue) Empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == nil
}
