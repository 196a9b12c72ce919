// Package bootstrap authenticates node join ("bootstrap") tokens, as
// Kubernetes' bootstrap token authenticator: a token "<id>.<secret>" (6 and
// 16 characters of [a-z0-9]) is valid while a Secret named
// "bootstrap-token-<id>" of type bootstrap.kubernetes.io/token exists in
// kube-system with that token-id and token-secret, the data key
// usage-bootstrap-authentication set to "true" and no past expiration. Its
// user is "system:bootstrap:<id>" in the group system:bootstrappers plus the
// Secret's auth-extra-groups (each must start with "system:bootstrappers:").
//
// podvisor extension, for simple node joins: a Secret that also carries the
// data key "podvisor.io-node-name" is a join token for that one node, and
// its user is the node itself, "system:node:<name>" in system:nodes, so an
// agent can join and run with nothing but that token. Such a token grants
// exactly what the node authorizer grants that node.
//
// Only the apiserver and the server wiring import it.
package bootstrap

import (
	"context"
	"crypto/subtle"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Names and keys of bootstrap token Secrets, as Kubernetes defines them.
const (
	// SecretType is the type of bootstrap token Secrets.
	SecretType corev1.SecretType = "bootstrap.kubernetes.io/token"
	// SecretNamespace is where bootstrap token Secrets live.
	SecretNamespace = "kube-system"
	// SecretPrefix starts a bootstrap token Secret's name; the token id
	// follows.
	SecretPrefix = "bootstrap-token-"

	KeyTokenID        = "token-id"
	KeyTokenSecret    = "token-secret"
	KeyExpiration     = "expiration"
	KeyUsageAuth      = "usage-bootstrap-authentication"
	KeyUsageSigning   = "usage-bootstrap-signing"
	KeyAuthExtraGroup = "auth-extra-groups"
	KeyDescription    = "description"
	// KeyNodeName is podvisor's extension: the node a join token is for
	// (a Secret data key may not hold a "/").
	KeyNodeName = "podvisor.io-node-name"

	// ExtraGroupPrefix must start every auth-extra-groups entry.
	ExtraGroupPrefix = "system:bootstrappers:"
)

var tokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

// SecretLister looks up bootstrap token Secrets. The apiserver implements it
// over its watch cache of Secrets in kube-system.
//
// GetSecret is called concurrently on every request carrying a token of the
// bootstrap format; it must not block on anything but local memory, and
// returns an error (e.g. NotFound) when there is no such Secret. The result
// is only read.
type SecretLister interface {
	GetSecret(namespace, name string) (*corev1.Secret, error)
}

// Config configures an Authenticator.
type Config struct {
	Secrets SecretLister
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// Authenticator authenticates bootstrap tokens.
type Authenticator struct {
	secrets SecretLister
	now     func() time.Time
}

var _ authn.TokenAuthenticator = (*Authenticator)(nil)

// New returns an Authenticator for cfg.
func New(cfg Config) *Authenticator {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Authenticator{secrets: cfg.Secrets, now: now}
}

// ParseToken splits a bootstrap token into its id and secret; ok is false if
// token is not of the bootstrap format.
func ParseToken(token string) (id, secret string, ok bool) {
	m := tokenRE.FindStringSubmatch(token)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// AuthenticateToken implements authn.TokenAuthenticator.AuthenticateToken.
//
// Like Kubernetes, a token of the bootstrap format whose Secret is missing,
// mismatched, expired, being deleted or not meant for authentication gives
// ok=false with no error, so that the answer does not tell which token ids
// exist; the bearer authenticator then reports an invalid bearer token.
func (a *Authenticator) AuthenticateToken(_ context.Context, token string) (*authn.Response, bool, error) {
	id, secret, ok := ParseToken(token)
	if !ok {
		return nil, false, nil
	}
	s, err := a.secrets.GetSecret(SecretNamespace, SecretPrefix+id)
	if err != nil || s == nil {
		return nil, false, nil
	}
	if s.DeletionTimestamp != nil || s.Type != SecretType {
		return nil, false, nil
	}
	if subtle.ConstantTimeCompare(s.Data[KeyTokenSecret], []byte(secret)) != 1 || string(s.Data[KeyTokenID]) != id {
		return nil, false, nil
	}
	if expired(s, a.now()) {
		return nil, false, nil
	}
	if string(s.Data[KeyUsageAuth]) != "true" {
		return nil, false, nil
	}
	if node := string(s.Data[KeyNodeName]); node != "" {
		if len(validation.IsDNS1123Subdomain(node)) != 0 {
			return nil, false, nil
		}
		return &authn.Response{User: authn.NodeUser(node)}, true, nil
	}
	groups, ok := extraGroups(s)
	if !ok {
		return nil, false, nil
	}
	return &authn.Response{User: &authn.User{
		Name:   authn.BootstrapUserPrefix + id,
		Groups: append([]string{authn.BootstrapGroup}, groups...),
	}}, true, nil
}

// expired reports whether s has an expiration that is unparsable or past.
func expired(s *corev1.Secret, now time.Time) bool {
	v, ok := s.Data[KeyExpiration]
	if !ok || len(v) == 0 {
		return false
	}
	t, err := time.Parse(time.RFC3339, string(v))
	return err != nil || !now.Before(t)
}

// extraGroups returns the Secret's auth-extra-groups; ok is false if one of
// them is not a system:bootstrappers: group.
func extraGroups(s *corev1.Secret) ([]string, bool) {
	v := strings.TrimSpace(string(s.Data[KeyAuthExtraGroup]))
	if v == "" {
		return nil, true
	}
	var out []string
	for _, g := range strings.Split(v, ",") {
		g = strings.TrimSpace(g)
		if !strings.HasPrefix(g, ExtraGroupPrefix) || len(g) == len(ExtraGroupPrefix) {
			return nil, false
		}
		out = append(out, g)
	}
	return out, true
}
