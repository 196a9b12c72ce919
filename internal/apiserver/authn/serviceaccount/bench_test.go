package serviceaccount

import (
	"context"
	"crypto"
	"testing"
)

// BenchmarkAuthenticateToken measures validating one pod-bound token, the
// cost paid on every request of a workload using its service account.
func BenchmarkAuthenticateToken(b *testing.B) {
	for alg, key := range keys(b) {
		b.Run(alg, func(b *testing.B) {
			iss, err := NewIssuer(IssuerConfig{Issuer: issuerName, Key: key})
			if err != nil {
				b.Fatal(err)
			}
			objs := newObjects()
			tok, _, err := iss.Issue(Request{ServiceAccount: objs.sas["apps/builder"], Audiences: []string{issuerName}, Pod: objs.pods["apps/web-0"], Node: objs.nodes["n1"]})
			if err != nil {
				b.Fatal(err)
			}
			a, err := NewAuthenticator(AuthenticatorConfig{Issuers: []string{issuerName}, Keys: []crypto.PublicKey{iss.PublicKey()}, APIAudiences: []string{issuerName}, Getter: objs})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, ok, err := a.AuthenticateToken(ctx, tok); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
