package authn

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// CachedTokens remembers successful token authentications for a short
// time, as kube-apiserver's token cache does, so that a client sending the
// same service-account JWT on every request pays the signature check once
// per TTL instead of every time (about 0.1 ms each). Failures are not
// cached. The price is Kubernetes' own: a token whose service account or
// pod was just deleted keeps working until its entry expires.
//
// The cache key is the SHA-256 of the token and the requested audiences;
// tokens themselves are not kept. Cached responses are shared between
// requests and must not be modified.
type CachedTokens struct {
	next TokenAuthenticator
	ttl  time.Duration
	max  int
	now  func() time.Time

	mu sync.Mutex
	// +checklocks:mu
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	resp    *Response
	expires time.Time
}

var _ TokenAuthenticator = (*CachedTokens)(nil)

// NewCachedTokens caches next's successes for ttl, keeping at most max
// entries (expired ones are dropped first when full, then all). now is the
// clock; time.Now if nil.
func NewCachedTokens(next TokenAuthenticator, ttl time.Duration, max int, now func() time.Time) *CachedTokens {
	if now == nil {
		now = time.Now
	}
	return &CachedTokens{next: next, ttl: ttl, max: max, now: now, entries: map[[sha256.Size]byte]cacheEntry{}}
}

// AuthenticateToken implements TokenAuthenticator.AuthenticateToken.
func (c *CachedTokens) AuthenticateToken(ctx context.Context, token string) (*Response, bool, error) {
	h := sha256.New()
	h.Write([]byte(token))
	if auds, ok := AudiencesFrom(ctx); ok {
		// A separator that cannot occur in a JWT keeps (token, audiences)
		// pairs distinct.
		h.Write([]byte{0})
		h.Write([]byte(strings.Join(auds, "\x00")))
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.resp, true, nil
	}
	resp, ok, err := c.next.AuthenticateToken(ctx, token)
	if !ok || err != nil {
		return resp, ok, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = cacheEntry{resp: resp, expires: now.Add(c.ttl)}
	return resp, true, nil
}
