package abi

import "time"

// Timespec is struct timespec.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Valid reports whether ts is a valid duration or point in time (0 <=
// Nsec < 1e9, Sec >= 0).
func (ts Timespec) Valid() bool {
	return ts.Sec >= 0 && ts.Nsec >= 0 && ts.Nsec < 1e9
}

// Duration returns ts as a time.Duration, saturating on overflow.
func (ts Timespec) Duration() time.Duration {
	const maxSec = int64(1<<63-1) / 1e9
	if ts.Sec >= maxSec {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(ts.Sec)*time.Second + time.Duration(ts.Nsec)
}

// NsecToTimespec converts nanoseconds to a Timespec.
func NsecToTimespec(ns int64) Timespec {
	return Timespec{Sec: ns / 1e9, Nsec: ns % 1e9}
}

// Timeval is struct timeval.
type Timeval struct {
	Sec  int64
	Usec int64
}

// Valid reports whether tv is a valid duration (0 <= Usec < 1e6, Sec >= 0).
func (tv Timeval) Valid() bool {
	return tv.Sec >= 0 && tv.Usec >= 0 && tv.Usec < 1e6
}

// Duration returns tv as a time.Duration, saturating on overflow.
func (tv Timeval) Duration() time.Duration {
	const maxSec = int64(1<<63-1) / 1e9
	if tv.Sec >= maxSec {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond
}

// NsecToTimeval converts nanoseconds to a Timeval.
func NsecToTimeval(ns int64) Timeval {
	return Timeval{Sec: ns / 1e9, Usec: (ns % 1e9) / 1e3}
}

// Timezone is struct timezone.
type Timezone struct {
	Minuteswest int32
	Dsttime     int32
}

// Itimerval is struct itimerval (setitimer, getitimer).
type Itimerval struct {
	Interval Timeval
	Value    Timeval
}

// Itimerspec is struct itimerspec (timer_settime, timerfd).
type Itimerspec struct {
	Interval Timespec
	Value    Timespec
}

// Tms is struct tms (times(2)), in clock ticks.
type Tms struct {
	Utime  int64
	Stime  int64
	Cutime int64
	Cstime int64
}

// Clock IDs.
const (
	CLOCK_REALTIME           = 0
	CLOCK_MONOTONIC          = 1
	CLOCK_PROCESS_CPUTIME_ID = 2
	CLOCK_THREAD_CPUTIME_ID  = 3
	CLOCK_MONOTONIC_RAW      = 4
	CLOCK_REALTIME_COARSE    = 5
	CLOCK_MONOTONIC_COARSE   = 6
	CLOCK_BOOTTIME           = 7
	CLOCK_REALTIME_ALARM     = 8
	CLOCK_BOOTTIME_ALARM     = 9
	CLOCK_TAI                = 11
	TIMER_ABSTIME            = 1
)

// Interval timers (setitimer(2)).
const (
	ITIMER_REAL    = 0
	ITIMER_VIRTUAL = 1
	ITIMER_PROF    = 2
)

// CLK_TCK is the clock tick rate reported by AT_CLKTCK and used by times(2)
// and /proc.
const CLK_TCK = 100
