package kernel

import (
	"sync"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Clock reads clock id for task t: REALTIME is the host's wall clock (the
// one thing the sandbox shares), MONOTONIC and BOOTTIME count from the
// kernel's start, the CPU clocks from t's accounting.
func (t *Task) Clock(id int32) (time.Duration, error) {
	switch id {
	case abi.CLOCK_REALTIME, abi.CLOCK_REALTIME_COARSE, abi.CLOCK_TAI, abi.CLOCK_REALTIME_ALARM:
		return time.Duration(time.Now().UnixNano()), nil
	case abi.CLOCK_MONOTONIC, abi.CLOCK_MONOTONIC_COARSE, abi.CLOCK_MONOTONIC_RAW, abi.CLOCK_BOOTTIME, abi.CLOCK_BOOTTIME_ALARM:
		return t.k.Monotonic(), nil
	case abi.CLOCK_PROCESS_CPUTIME_ID:
		u, s, _, _ := t.tg.Usage()
		return u + s, nil
	case abi.CLOCK_THREAD_CPUTIME_ID:
		u, s := t.cpuTimes()
		return u + s, nil
	}
	if id < 0 {
		// A CPU-time clock of another process or thread (clockid from
		// pid: ~pid<<3 | type). Only the caller's own are supported.
		return 0, abi.EINVAL
	}
	return 0, abi.EINVAL
}

// ClockDeadline converts an absolute time on clock id into a wall-clock
// deadline for BlockWithDeadline.
func (t *Task) ClockDeadline(id int32, abs time.Duration) (time.Time, error) {
	now, err := t.Clock(id)
	if err != nil {
		return time.Time{}, err
	}
	return time.Now().Add(abs - now), nil
}

// realTimer is a process's ITIMER_REAL (setitimer, alarm): it sends
// SIGALRM when it expires, then reloads with its interval.
type realTimer struct {
	tg *ThreadGroup

	mu       sync.Mutex
	timer    *time.Timer   // +checklocks:mu
	deadline time.Time     // +checklocks:mu
	interval time.Duration // +checklocks:mu
}

// stop disarms the timer.
func (r *realTimer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.deadline = time.Time{}
	r.interval = 0
}

func (r *realTimer) get() (value, interval time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deadline.IsZero() {
		return 0, r.interval
	}
	v := time.Until(r.deadline)
	if v <= 0 {
		v = time.Microsecond
	}
	return v, r.interval
}

func (r *realTimer) set(value, interval time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.interval = interval
	if value == 0 {
		r.deadline = time.Time{}
		return
	}
	r.deadline = time.Now().Add(value)
	r.arm(value)
}

// arm starts the Go timer.
//
// Preconditions: r.mu is held.
func (r *realTimer) arm(d time.Duration) {
	r.timer = time.AfterFunc(d, r.fire)
}

func (r *realTimer) fire() {
	r.mu.Lock()
	if r.deadline.IsZero() {
		r.mu.Unlock()
		return
	}
	if r.interval > 0 {
		r.deadline = time.Now().Add(r.interval)
		r.arm(r.interval)
	} else {
		r.deadline = time.Time{}
		r.timer = nil
	}
	r.mu.Unlock()
	k := r.tg.k
	info := abi.SigInfo{Signo: int32(abi.SIGALRM), Code: abi.SI_KERNEL}
	k.mu.Lock()
	k.sendLocked(nil, r.tg, &info, false)
	k.mu.Unlock()
}

// ITimer returns an interval timer's value and interval (getitimer).
// Only ITIMER_REAL runs; the CPU-time timers keep their settings but
// never fire.
func (t *Task) ITimer(which int32) (value, interval time.Duration, err error) {
	switch which {
	case abi.ITIMER_REAL:
		v, i := t.tg.realTimer().get()
		return v, i, nil
	case abi.ITIMER_VIRTUAL, abi.ITIMER_PROF:
		return 0, 0, nil
	}
	return 0, 0, abi.EINVAL
}

// SetITimer arms an interval timer and returns the old setting.
func (t *Task) SetITimer(which int32, value, interval time.Duration) (oldValue, oldInterval time.Duration, err error) {
	switch which {
	case abi.ITIMER_REAL:
		r := t.tg.realTimer()
		oldValue, oldInterval = r.get()
		r.set(value, interval)
		return oldValue, oldInterval, nil
	case abi.ITIMER_VIRTUAL, abi.ITIMER_PROF:
		return 0, 0, nil
	}
	return 0, 0, abi.EINVAL
}

// realTimer returns the process's ITIMER_REAL, creating it.
func (tg *ThreadGroup) realTimer() *realTimer {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	if tg.itimerReal == nil {
		tg.itimerReal = &realTimer{tg: tg}
	}
	return tg.itimerReal
}
