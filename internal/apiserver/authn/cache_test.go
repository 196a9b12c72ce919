package authn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// countingTokens accepts "good" and counts calls; "bad" is rejected.
type countingTokens struct{ calls int }

func (c *countingTokens) AuthenticateToken(ctx context.Context, token string) (*Response, bool, error) {
	c.calls++
	switch token {
	case "good", "good2", "good3":
		auds, _ := AudiencesFrom(ctx)
		return &Response{User: &User{Name: token}, Audiences: auds}, true, nil
	case "bad":
		return nil, false, errors.New("bad token")
	}
	return nil, false, nil
}

func TestCachedTokens(t *testing.T) {
	next := &countingTokens{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewCachedTokens(next, 10*time.Second, 2, func() time.Time { return now })
	ctx := context.Background()
	steps := []struct {
		name      string
		token     string
		ctx       context.Context
		advance   time.Duration
		wantOK    bool
		wantCalls int
	}{
		{"first use", "good", ctx, 0, true, 1},
		{"cached", "good", ctx, 5 * time.Second, true, 1},
		{"other audiences are another entry", "good", WithAudiences(ctx, []string{"vault"}), 0, true, 2},
		{"expired entry", "good", ctx, 6 * time.Second, true, 3},
		{"failures are not cached", "bad", ctx, 0, false, 4},
		{"failures are not cached, again", "bad", ctx, 0, false, 5},
		{"full cache drops expired entries", "good2", ctx, 20 * time.Second, true, 6},
		{"then still caches", "good2", ctx, 0, true, 6},
		{"full cache of live entries is reset", "good3", WithAudiences(ctx, []string{"x"}), 0, true, 7},
		{"good3 cached", "good3", WithAudiences(ctx, []string{"x"}), 0, true, 7},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		_, ok, _ := c.AuthenticateToken(s.ctx, s.token)
		if ok != s.wantOK || next.calls != s.wantCalls {
			t.Fatalf("%s: ok=%v calls=%d, want ok=%v calls=%d", s.name, ok, next.calls, s.wantOK, s.wantCalls)
		}
	}
}

// BenchmarkCachedTokensHit measures a cache hit for a JWT-sized token.
func BenchmarkCachedTokensHit(b *testing.B) {
	c := NewCachedTokens(quietTokens{strings.Repeat("x", 900): {Name: "sa"}}, time.Minute, 1024, nil)
	tok := strings.Repeat("x", 900)
	ctx := context.Background()
	if _, ok, _ := c.AuthenticateToken(ctx, tok); !ok {
		b.Fatal("not authenticated")
	}
	b.ReportAllocs()
	for b.Loop() {
		c.AuthenticateToken(ctx, tok)
	}
}
