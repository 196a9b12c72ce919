package nodelifecycle

import (
	"sync"
	"time"
)

// bucket is a token bucket on an injected clock: rate tokens per second
// up to burst. Safe for concurrent use.
type bucket struct {
	rate  float64
	burst float64

	mu sync.Mutex
	// +checklocks:mu
	tokens float64
	// +checklocks:mu
	last time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take takes a token at now if one is available; otherwise it reports how
// long until one will be.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.last) {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
