package bootstrappolicy_test

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
	"github.com/podvisor/podvisor/internal/testutil/authtest"
)

func user(n string) rbacv1.Subject { return rbacv1.Subject{Kind: rbacv1.UserKind, Name: n} }

func defaultPolicy(tb testing.TB, rbs ...*rbacv1.RoleBinding) *rbac.Policy {
	tb.Helper()
	p, err := authtest.DefaultPolicy(rbs...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestBenchCases keeps the benchmark honest: each case decides as claimed.
func TestBenchCases(t *testing.T) {
	az, err := authtest.RealisticChain()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range authtest.Cases() {
		d, reason, err := az.Authorize(context.Background(), c.Attrs)
		if err != nil || (d == authz.Allow) != c.Allow {
			t.Errorf("%s: %v %q %v, want allow=%v", c.Name, d, reason, err, c.Allow)
		}
	}
}

// BenchmarkAuthorize measures the apiserver's authorizer chain on the
// bootstrap policy plus 200 bindings.
func BenchmarkAuthorize(b *testing.B) {
	az, err := authtest.RealisticChain()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cases := authtest.Cases()
	for _, c := range cases {
		b.Run(c.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				az.Authorize(ctx, c.Attrs)
			}
		})
	}
	b.Run("parallel-mix", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				az.Authorize(ctx, cases[i%len(cases)].Attrs)
				i++
			}
		})
	})
}
