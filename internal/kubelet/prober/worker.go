package prober

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Kind is a probe's kind.
type Kind int

// Probe kinds.
const (
	Liveness Kind = iota
	Readiness
	Startup
)

func (k Kind) String() string {
	switch k {
	case Liveness:
		return "Liveness"
	case Readiness:
		return "Readiness"
	}
	return "Startup"
}

// initial is a kind's verdict before any probe counted: a container is
// alive until proven dead, not ready until proven ready, and not started
// until its startup probe succeeds.
func (k Kind) initial() Result {
	switch k {
	case Liveness:
		return Success
	case Readiness:
		return Failure
	}
	return Unknown
}

// counter applies a probe's thresholds to its results: the verdict
// changes only after successThreshold consecutive successes or
// failureThreshold consecutive failures. It is the deterministic core of
// a worker.
type counter struct {
	kind                Kind
	successes, failures int32
	verdict             Result
	last                Result
	run                 int32
	// onHold: a liveness or startup failure was reported; nothing more
	// is counted for this container instance (it is being restarted).
	onHold bool
}

func newCounter(kind Kind, p *corev1.Probe) *counter {
	c := &counter{kind: kind, successes: p.SuccessThreshold, failures: p.FailureThreshold, verdict: kind.initial()}
	if c.successes < 1 {
		c.successes = 1
	}
	if c.failures < 1 {
		c.failures = 3
	}
	return c
}

// observe counts one probe result and reports whether the verdict
// changed.
func (c *counter) observe(r Result) bool {
	if c.onHold || r == Unknown {
		return false
	}
	if r == c.last {
		c.run++
	} else {
		c.last, c.run = r, 1
	}
	if (r == Failure && c.run < c.failures) || (r == Success && c.run < c.successes) {
		return false
	}
	changed := c.verdict != r
	c.verdict = r
	if r == Failure && (c.kind == Liveness || c.kind == Startup) {
		c.onHold = true
		c.run = 0
	}
	return changed
}

// schedule is when a worker probes: the first probe after the initial
// delay counted from the container's start, then every period.
type schedule struct {
	start        time.Time
	initialDelay time.Duration
	period       time.Duration
	timeout      time.Duration
}

func newSchedule(p *corev1.Probe, started time.Time) schedule {
	s := schedule{
		start:        started,
		initialDelay: time.Duration(p.InitialDelaySeconds) * time.Second,
		period:       time.Duration(p.PeriodSeconds) * time.Second,
		timeout:      time.Duration(p.TimeoutSeconds) * time.Second,
	}
	if s.period <= 0 {
		s.period = 10 * time.Second
	}
	if s.timeout <= 0 {
		s.timeout = time.Second
	}
	return s
}

// first returns how long to wait before the first probe at now.
func (s schedule) first(now time.Time) time.Duration {
	d := s.start.Add(s.initialDelay).Sub(now)
	if d < 0 {
		return 0
	}
	return d
}

// worker probes one container instance with one probe until its context
// ends or (startup) the probe succeeds.
type worker struct {
	m           *Manager
	key         key
	containerID string
	probe       *corev1.Probe
	cancel      context.CancelFunc
	done        chan struct{}
}

func (w *worker) run(ctx context.Context, sched schedule, t Target, pt podTarget) {
	defer close(w.done)
	timer := time.NewTimer(sched.first(w.m.now()))
	defer timer.Stop()
	h := ProbeHandler(w.probe)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(sched.period)
		if w.key.kind != Startup && !w.m.startedFor(w.key, w.containerID) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, sched.timeout)
		r, msg := w.m.runner.Run(pctx, h, t)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if r == Failure && w.m.event != nil {
			w.m.event(pt.pod, w.key.kind, w.key.container, msg)
		}
		stop := w.m.observe(w.key, w.containerID, r)
		if stop {
			return
		}
	}
}
