package linux

import (
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/eventfd"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/pipe"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func sysPipe(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return pipe2(t, a[0], 0)
}

func sysPipe2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return pipe2(t, a[0], uint32(a[1]))
}

func sysEventfd(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return eventfd2(t, uint32(a[0]), 0)
}

func sysEventfd2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return eventfd2(t, uint32(a[0]), uint32(a[1]))
}

// eventfd2 makes an eventfd (fsimpl/eventfd); EFD_CLOEXEC and
// EFD_NONBLOCK have the values of O_CLOEXEC and O_NONBLOCK.
func eventfd2(t *kernel.Task, initial, flags uint32) (uint64, error) {
	if flags&^(eventfd.Semaphore|abi.O_NONBLOCK|abi.O_CLOEXEC) != 0 {
		return 0, abi.EINVAL
	}
	f := eventfd.New(t, t.Kernel().VFS(), initial, flags&(eventfd.Semaphore|eventfd.NonBlock))
	defer f.DecRef(t)
	return newFD(t, f, flags&abi.O_CLOEXEC != 0)
}

func pipe2(t *kernel.Task, addr uint64, flags uint32) (uint64, error) {
	if flags&^(abi.O_NONBLOCK|abi.O_CLOEXEC|abi.O_DIRECT) != 0 {
		return 0, abi.EINVAL
	}
	r, w := pipe.NewConnectedPipeFDs(t, t.Kernel().VFS(), vfsCreds(t), flags)
	defer r.DecRef(t)
	defer w.DecRef(t)
	cloexec := flags&abi.O_CLOEXEC != 0
	fdt := t.FDTable()
	rfd, err := fdt.NewFD(r, 0, cloexec, nofile(t))
	if err != nil {
		return 0, err
	}
	wfd, err := fdt.NewFD(w, 0, cloexec, nofile(t))
	if err != nil {
		if f, err := fdt.Remove(rfd); err == nil {
			f.DecRef(t)
		}
		return 0, err
	}
	fds := [2]int32{rfd, wfd}
	if err := copyOut(t, addr, &fds); err != nil {
		for _, fd := range fds {
			if f, err := fdt.Remove(fd); err == nil {
				f.DecRef(t)
			}
		}
		return 0, err
	}
	return 0, nil
}

// pollState is one poll/select call's files.
type pollState struct {
	t     *kernel.Task
	fds   []abi.PollFD
	files []*vfs.FileDescription
}

func newPollState(t *kernel.Task, fds []abi.PollFD) *pollState {
	s := &pollState{t: t, fds: fds, files: make([]*vfs.FileDescription, len(fds))}
	for i, p := range fds {
		if p.FD < 0 {
			continue
		}
		if f, err := getFile(t, p.FD); err == nil {
			s.files[i] = f
		}
	}
	return s
}

func (s *pollState) release() {
	for _, f := range s.files {
		if f != nil {
			f.DecRef(s.t)
		}
	}
}

// check fills revents and returns how many descriptors are ready.
func (s *pollState) check() int {
	n := 0
	for i := range s.fds {
		p := &s.fds[i]
		p.Revents = 0
		if p.FD < 0 {
			continue
		}
		f := s.files[i]
		if f == nil {
			p.Revents = abi.POLLNVAL
			n++
			continue
		}
		mask := vfs.EventMask(uint16(p.Events)) | vfs.EventErr | vfs.EventHUp
		if r := f.Readiness(mask) & mask; r != 0 {
			p.Revents = int16(r)
			n++
		}
	}
	return n
}

// wait blocks until a descriptor is ready, the deadline passes (zero:
// never) or a signal arrives. It returns the ready count.
func (s *pollState) wait(deadline time.Time) (int, error) {
	if n := s.check(); n > 0 {
		return n, nil
	}
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		return 0, nil
	}
	ch := make(chan struct{}, 1)
	notify := func(vfs.EventMask) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	var entries []*vfs.WaitEntry
	var registered []*vfs.FileDescription
	for i, f := range s.files {
		if f == nil {
			continue
		}
		e := vfs.NewFunctionEntry(vfs.EventMask(uint16(s.fds[i].Events))|vfs.EventErr|vfs.EventHUp, notify)
		if f.EventRegister(e) == nil {
			entries = append(entries, e)
			registered = append(registered, f)
		}
	}
	defer func() {
		for i, f := range registered {
			f.EventUnregister(entries[i])
		}
	}()
	for {
		if n := s.check(); n > 0 {
			return n, nil
		}
		timedOut, err := s.t.BlockWithDeadline(ch, deadline)
		if timedOut {
			return s.check(), nil
		}
		if err != nil {
			return 0, abi.ERESTARTNOHAND
		}
	}
}

func doPoll(t *kernel.Task, addr uint64, nfds uint32, deadline time.Time) (uint64, error) {
	if uint64(nfds) > nofile(t) || nfds > 1<<20 {
		return 0, abi.EINVAL
	}
	fds := make([]abi.PollFD, nfds)
	if nfds > 0 {
		if err := copyInBytes(t, addr, abi.SliceAsBytes(fds)); err != nil {
			return 0, err
		}
	}
	s := newPollState(t, fds)
	defer s.release()
	n, err := s.wait(deadline)
	if err != nil {
		return 0, err
	}
	if nfds > 0 {
		if err := copyOutBytes(t, addr, abi.SliceAsBytes(fds)); err != nil {
			return 0, err
		}
	}
	return uint64(n), nil
}

func sysPoll(t *kernel.Task, a *[6]uint64) (uint64, error) {
	timeout := int32(a[2])
	var deadline time.Time
	switch {
	case timeout == 0:
		deadline = time.Now()
	case timeout > 0:
		deadline = time.Now().Add(time.Duration(timeout) * time.Millisecond)
	}
	return doPoll(t, a[0], uint32(a[1]), deadline)
}

// timespecDeadline reads a relative timeout: nil pointer is forever.
func timespecDeadline(t *kernel.Task, addr uint64) (time.Time, error) {
	if addr == 0 {
		return time.Time{}, nil
	}
	var ts abi.Timespec
	if err := copyIn(t, addr, &ts); err != nil {
		return time.Time{}, err
	}
	if !ts.Valid() {
		return time.Time{}, abi.EINVAL
	}
	if ts.Sec == 0 && ts.Nsec == 0 {
		return time.Now(), nil
	}
	return time.Now().Add(ts.Duration()), nil
}

// withSigmask runs f with the signal mask at maskAddr (if any) in effect.
func withSigmask(t *kernel.Task, maskAddr, size uint64, f func() (uint64, error)) (uint64, error) {
	if maskAddr == 0 {
		return f()
	}
	if size != abi.SignalSetSize {
		return 0, abi.EINVAL
	}
	var mask abi.SignalSet
	if err := copyIn(t, maskAddr, &mask); err != nil {
		return 0, err
	}
	t.SetTemporarySigMask(mask)
	rv, err := f()
	if err != abi.ERESTARTNOHAND && err != abi.EINTR {
		t.RestoreTemporarySigMask()
	}
	return rv, err
}

func sysPpoll(t *kernel.Task, a *[6]uint64) (uint64, error) {
	deadline, err := timespecDeadline(t, a[2])
	if err != nil {
		return 0, err
	}
	return withSigmask(t, a[3], a[4], func() (uint64, error) { return doPoll(t, a[0], uint32(a[1]), deadline) })
}

// doSelect implements select and pselect6 over fd_sets.
func doSelect(t *kernel.Task, nfds int32, rAddr, wAddr, eAddr uint64, deadline time.Time) (uint64, error) {
	if nfds < 0 || nfds > abi.FD_SETSIZE*64 {
		return 0, abi.EINVAL
	}
	words := (int(nfds) + 63) / 64
	read := func(addr uint64) ([]uint64, error) {
		set := make([]uint64, words)
		if addr != 0 && words > 0 {
			if err := copyInBytes(t, addr, abi.SliceAsBytes(set)); err != nil {
				return nil, err
			}
		}
		return set, nil
	}
	rs, err := read(rAddr)
	if err != nil {
		return 0, err
	}
	ws, err := read(wAddr)
	if err != nil {
		return 0, err
	}
	es, err := read(eAddr)
	if err != nil {
		return 0, err
	}
	var fds []abi.PollFD
	for fd := 0; fd < int(nfds); fd++ {
		bit := uint64(1) << (fd % 64)
		var ev int16
		if rs[fd/64]&bit != 0 {
			ev |= abi.POLLIN | abi.POLLRDNORM | abi.POLLHUP | abi.POLLERR
		}
		if ws[fd/64]&bit != 0 {
			ev |= abi.POLLOUT | abi.POLLWRNORM | abi.POLLERR
		}
		if es[fd/64]&bit != 0 {
			ev |= abi.POLLPRI
		}
		if ev != 0 {
			fds = append(fds, abi.PollFD{FD: int32(fd), Events: ev})
		}
	}
	s := newPollState(t, fds)
	defer s.release()
	for i := range fds {
		if s.files[i] == nil {
			return 0, abi.EBADF
		}
	}
	if _, err := s.wait(deadline); err != nil {
		return 0, err
	}
	for i := range rs {
		rs[i], ws[i], es[i] = 0, 0, 0
	}
	n := 0
	for _, p := range fds {
		bit := uint64(1) << (p.FD % 64)
		r := p.Revents
		if p.Events&abi.POLLIN != 0 && r&(abi.POLLIN|abi.POLLRDNORM|abi.POLLHUP|abi.POLLERR) != 0 {
			rs[p.FD/64] |= bit
			n++
		}
		if p.Events&abi.POLLOUT != 0 && r&(abi.POLLOUT|abi.POLLWRNORM|abi.POLLERR) != 0 {
			ws[p.FD/64] |= bit
			n++
		}
		if p.Events&abi.POLLPRI != 0 && r&abi.POLLPRI != 0 {
			es[p.FD/64] |= bit
			n++
		}
	}
	for _, s := range []struct {
		addr uint64
		set  []uint64
	}{{rAddr, rs}, {wAddr, ws}, {eAddr, es}} {
		if s.addr != 0 && words > 0 {
			if err := copyOutBytes(t, s.addr, abi.SliceAsBytes(s.set)); err != nil {
				return 0, err
			}
		}
	}
	return uint64(n), nil
}

func sysSelect(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var deadline time.Time
	if a[4] != 0 {
		var tv abi.Timeval
		if err := copyIn(t, a[4], &tv); err != nil {
			return 0, err
		}
		if !tv.Valid() {
			return 0, abi.EINVAL
		}
		deadline = time.Now().Add(tv.Duration())
	}
	n, err := doSelect(t, int32(a[0]), a[1], a[2], a[3], deadline)
	if a[4] != 0 && err == nil {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		tv := abi.NsecToTimeval(int64(left))
		copyOut(t, a[4], &tv)
	}
	return n, err
}

func sysPselect6(t *kernel.Task, a *[6]uint64) (uint64, error) {
	deadline, err := timespecDeadline(t, a[4])
	if err != nil {
		return 0, err
	}
	var maskAddr, maskSize uint64
	if a[5] != 0 {
		var sig struct{ Addr, Size uint64 }
		if err := copyIn(t, a[5], &sig); err != nil {
			return 0, err
		}
		maskAddr, maskSize = sig.Addr, sig.Size
	}
	return withSigmask(t, maskAddr, maskSize, func() (uint64, error) {
		return doSelect(t, int32(a[0]), a[1], a[2], a[3], deadline)
	})
}

func sysIoctl(t *kernel.Task, a *[6]uint64) (uint64, error) {
	fd, cmd, arg := int32(a[0]), uint32(a[1]), a[2]
	f, err := getFile(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	switch cmd {
	case abi.FIONCLEX:
		return 0, t.FDTable().SetCloexec(fd, false)
	case abi.FIOCLEX:
		return 0, t.FDTable().SetCloexec(fd, true)
	case abi.FIONBIO:
		var on int32
		if err := copyIn(t, arg, &on); err != nil {
			return 0, err
		}
		fl := f.StatusFlags() &^ abi.O_NONBLOCK
		if on != 0 {
			fl |= abi.O_NONBLOCK
		}
		f.SetStatusFlags(fl)
		return 0, nil
	case abi.FIOASYNC:
		var on int32
		if err := copyIn(t, arg, &on); err != nil {
			return 0, err
		}
		fl := f.StatusFlags() &^ abi.O_ASYNC
		if on != 0 {
			fl |= abi.O_ASYNC
		}
		f.SetStatusFlags(fl)
		return 0, nil
	}
	rv, err := f.Ioctl(t, userMemory{t}, cmd, uintptr(arg))
	return uint64(rv), err
}
