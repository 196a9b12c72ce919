package linux

import (
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
)

func sysClockGettime(t *kernel.Task, a *[6]uint64) (uint64, error) {
	d, err := t.Clock(int32(a[0]))
	if err != nil {
		return 0, err
	}
	ts := abi.NsecToTimespec(int64(d))
	return 0, copyOut(t, a[1], &ts)
}

func sysClockGetres(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if _, err := t.Clock(int32(a[0])); err != nil {
		return 0, err
	}
	if a[1] == 0 {
		return 0, nil
	}
	ts := abi.Timespec{Nsec: 1}
	switch int32(a[0]) {
	case abi.CLOCK_REALTIME_COARSE, abi.CLOCK_MONOTONIC_COARSE:
		ts.Nsec = 4000000
	}
	return 0, copyOut(t, a[1], &ts)
}

func sysGettimeofday(t *kernel.Task, a *[6]uint64) (uint64, error) {
	if a[0] != 0 {
		tv := abi.NsecToTimeval(time.Now().UnixNano())
		if err := copyOut(t, a[0], &tv); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		var tz abi.Timezone
		if err := copyOut(t, a[1], &tz); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func sysTime(t *kernel.Task, a *[6]uint64) (uint64, error) {
	now := time.Now().Unix()
	if a[0] != 0 {
		if err := copyOut(t, a[0], &now); err != nil {
			return 0, err
		}
	}
	return uint64(now), nil
}

// sleep blocks until deadline; an interruption leaves a restart block
// resuming the same deadline and writes the time left to remAddr.
func sleep(t *kernel.Task, deadline time.Time, remAddr uint64) (uint64, error) {
	timedOut, err := t.BlockWithDeadline(nil, deadline)
	if timedOut || err == nil {
		return 0, nil
	}
	if remAddr != 0 {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		rem := abi.NsecToTimespec(int64(left))
		if err := copyOut(t, remAddr, &rem); err != nil {
			return 0, err
		}
	}
	t.SetRestartBlock(func(t *kernel.Task) (uint64, error) { return sleep(t, deadline, remAddr) })
	return 0, abi.ERESTARTRestartBlock
}

func sysNanosleep(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var ts abi.Timespec
	if err := copyIn(t, a[0], &ts); err != nil {
		return 0, err
	}
	if !ts.Valid() {
		return 0, abi.EINVAL
	}
	return sleep(t, time.Now().Add(ts.Duration()), a[1])
}

func sysClockNanosleep(t *kernel.Task, a *[6]uint64) (uint64, error) {
	clock, flags := int32(a[0]), int32(a[1])
	var ts abi.Timespec
	if err := copyIn(t, a[2], &ts); err != nil {
		return 0, err
	}
	if !ts.Valid() {
		return 0, abi.EINVAL
	}
	switch clock {
	case abi.CLOCK_REALTIME, abi.CLOCK_MONOTONIC, abi.CLOCK_BOOTTIME, abi.CLOCK_TAI, abi.CLOCK_PROCESS_CPUTIME_ID:
	case abi.CLOCK_THREAD_CPUTIME_ID:
		return 0, abi.EINVAL
	default:
		return 0, abi.EINVAL
	}
	if flags&abi.TIMER_ABSTIME != 0 {
		deadline, err := t.ClockDeadline(clock, ts.Duration())
		if err != nil {
			return 0, err
		}
		return sleep(t, deadline, 0)
	}
	return sleep(t, time.Now().Add(ts.Duration()), a[3])
}

func sysRestartSyscall(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return t.RestartSyscall()
}

func ticks(d time.Duration) int64 { return int64(d / (time.Second / abi.CLK_TCK)) }

func sysTimes(t *kernel.Task, a *[6]uint64) (uint64, error) {
	u, s, cu, cs := t.ThreadGroup().Usage()
	if a[0] != 0 {
		tms := abi.Tms{Utime: ticks(u), Stime: ticks(s), Cutime: ticks(cu), Cstime: ticks(cs)}
		if err := copyOut(t, a[0], &tms); err != nil {
			return 0, err
		}
	}
	return uint64(ticks(t.Kernel().Monotonic())), nil
}

func sysGetrusage(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var ru abi.Rusage
	u, s, cu, cs := t.ThreadGroup().Usage()
	switch int32(a[0]) {
	case abi.RUSAGE_SELF:
	case abi.RUSAGE_CHILDREN:
		u, s = cu, cs
	case abi.RUSAGE_THREAD:
		u, s = t.CPUTime()
	default:
		return 0, abi.EINVAL
	}
	ru.Utime = abi.NsecToTimeval(int64(u))
	ru.Stime = abi.NsecToTimeval(int64(s))
	_, rss := t.MemoryManager().Usage()
	ru.Maxrss = int64(rss / 1024)
	return 0, copyOut(t, a[1], &ru)
}
