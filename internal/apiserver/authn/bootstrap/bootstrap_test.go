package bootstrap

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

type secrets map[string]*corev1.Secret

func (s secrets) GetSecret(namespace, name string) (*corev1.Secret, error) {
	if sec, ok := s[namespace+"/"+name]; ok {
		return sec, nil
	}
	return nil, errors.New("not found")
}

func (s secrets) add(sec *corev1.Secret) { s[sec.Namespace+"/"+sec.Name] = sec }

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func mustSecret(t *testing.T, o SecretOptions) *corev1.Secret {
	t.Helper()
	s, err := NewSecret(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticateToken(t *testing.T) {
	store := secrets{}
	store.add(mustSecret(t, SecretOptions{ID: "abcdef", Secret: "0123456789abcdef", ExtraGroups: []string{"system:bootstrappers:workers"}}))
	store.add(mustSecret(t, SecretOptions{ID: "expird", Secret: "0123456789abcdef", Expiration: now.Add(-time.Minute)}))
	store.add(mustSecret(t, SecretOptions{ID: "later1", Secret: "0123456789abcdef", Expiration: now.Add(time.Hour)}))
	store.add(mustSecret(t, SecretOptions{ID: "node01", Secret: "0123456789abcdef", NodeName: "worker-1"}))
	noAuth := mustSecret(t, SecretOptions{ID: "noauth", Secret: "0123456789abcdef"})
	noAuth.Data[KeyUsageAuth] = []byte("false")
	store.add(noAuth)
	wrongType := mustSecret(t, SecretOptions{ID: "wrongt", Secret: "0123456789abcdef"})
	wrongType.Type = corev1.SecretTypeOpaque
	store.add(wrongType)
	deleting := mustSecret(t, SecretOptions{ID: "delete", Secret: "0123456789abcdef"})
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	store.add(deleting)
	badGroup := mustSecret(t, SecretOptions{ID: "badgrp", Secret: "0123456789abcdef"})
	badGroup.Data[KeyAuthExtraGroup] = []byte("system:masters")
	store.add(badGroup)
	idMismatch := mustSecret(t, SecretOptions{ID: "idmism", Secret: "0123456789abcdef"})
	idMismatch.Data[KeyTokenID] = []byte("zzzzzz")
	store.add(idMismatch)

	a := New(Config{Secrets: store, Now: func() time.Time { return now }})
	tests := []struct {
		name, token string
		want        *authn.User
	}{
		{"valid with extra groups", "abcdef.0123456789abcdef",
			&authn.User{Name: "system:bootstrap:abcdef", Groups: []string{"system:bootstrappers", "system:bootstrappers:workers"}}},
		{"wrong secret", "abcdef.0123456789abcdee", nil},
		{"unknown id", "zzzzzz.0123456789abcdef", nil},
		{"not the format", "abcdef0123456789abcdef", nil},
		{"upper case", "ABCDEF.0123456789ABCDEF", nil},
		{"expired", "expird.0123456789abcdef", nil},
		{"not yet expired", "later1.0123456789abcdef", &authn.User{Name: "system:bootstrap:later1", Groups: []string{"system:bootstrappers"}}},
		{"per-node join token", "node01.0123456789abcdef", &authn.User{Name: "system:node:worker-1", Groups: []string{"system:nodes"}}},
		{"not for authentication", "noauth.0123456789abcdef", nil},
		{"wrong secret type", "wrongt.0123456789abcdef", nil},
		{"secret being deleted", "delete.0123456789abcdef", nil},
		{"extra group outside system:bootstrappers:", "badgrp.0123456789abcdef", nil},
		{"token-id data mismatch", "idmism.0123456789abcdef", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, ok, err := a.AuthenticateToken(context.Background(), tc.token)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if ok != (tc.want != nil) {
				t.Fatalf("ok = %v, want %v", ok, tc.want != nil)
			}
			if ok {
				if diff := cmp.Diff(tc.want, r.User); diff != "" {
					t.Errorf("user (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestGenerateToken(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		tok, id, secret, err := GenerateToken()
		if err != nil {
			t.Fatal(err)
		}
		gid, gsecret, ok := ParseToken(tok)
		if !ok || gid != id || gsecret != secret {
			t.Fatalf("GenerateToken = %q (%q, %q), which does not parse back", tok, id, secret)
		}
		if seen[tok] {
			t.Fatalf("GenerateToken repeated %q", tok)
		}
		seen[tok] = true
	}
}

func TestNewSecretErrors(t *testing.T) {
	tests := []struct {
		name string
		o    SecretOptions
	}{
		{"short id", SecretOptions{ID: "abc", Secret: "0123456789abcdef"}},
		{"bad extra group", SecretOptions{ID: "abcdef", Secret: "0123456789abcdef", ExtraGroups: []string{"admins"}}},
		{"bad node name", SecretOptions{ID: "abcdef", Secret: "0123456789abcdef", NodeName: "Not_A_Name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSecret(tc.o); err == nil {
				t.Errorf("NewSecret(%+v) succeeded, want an error", tc.o)
			}
		})
	}
}
