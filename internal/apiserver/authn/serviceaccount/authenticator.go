package serviceaccount

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Getter gives the Authenticator the current state of the objects a token
// names. The apiserver implements it over its watch cache.
//
// Methods are called concurrently on every request authenticated by a
// service-account token and must not block on anything but local memory.
// They return the object, or an error (any error, typically a NotFound
// StatusError) when it does not exist. Returned objects are only read.
type Getter interface {
	GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error)
	GetPod(namespace, name string) (*corev1.Pod, error)
	GetSecret(namespace, name string) (*corev1.Secret, error)
	GetNode(name string) (*corev1.Node, error)
}

// AuthenticatorConfig configures an Authenticator.
type AuthenticatorConfig struct {
	// Issuers are the accepted "iss" values; tokens of other issuers are
	// left to other authenticators (ok=false, no error).
	Issuers []string
	// Keys are the public keys that may have signed tokens (RSA or ECDSA
	// P-256); e.g. Issuer.PublicKey().
	Keys []crypto.PublicKey
	// APIAudiences are the audiences a token must carry one of when the
	// request context names none (see authn.WithAudiences); typically the
	// issuer name.
	APIAudiences []string
	// Getter looks up the service account and bound objects. Required.
	Getter Getter
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// anyAlgorithm lets tokens of our issuer signed with an algorithm none of
// our keys use be reported as invalid rather than ignored.
var anyAlgorithm = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// leeway is the clock skew tolerated on exp, nbf and iat, and the grace
// given to objects being deleted, as Kubernetes (jwt.DefaultLeeway).
const leeway = time.Minute

// Authenticator validates service-account tokens. It is safe for concurrent
// use.
type Authenticator struct {
	issuers []string
	keys    []verifyKey
	algs    []jose.SignatureAlgorithm
	auds    []string
	getter  Getter
	now     func() time.Time
}

type verifyKey struct {
	kid string
	key crypto.PublicKey
}

var _ authn.TokenAuthenticator = (*Authenticator)(nil)

// NewAuthenticator returns an Authenticator for cfg.
func NewAuthenticator(cfg AuthenticatorConfig) (*Authenticator, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("service-account authenticator needs at least one issuer")
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("service-account authenticator needs at least one public key")
	}
	if cfg.Getter == nil {
		return nil, errors.New("service-account authenticator needs a Getter")
	}
	a := &Authenticator{issuers: cfg.Issuers, auds: cfg.APIAudiences, getter: cfg.Getter, now: cfg.Now}
	if a.now == nil {
		a.now = time.Now
	}
	for _, k := range cfg.Keys {
		alg, err := algorithm(k)
		if err != nil {
			return nil, err
		}
		kid, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		a.keys = append(a.keys, verifyKey{kid: kid, key: k})
		if !slices.Contains(a.algs, alg) {
			a.algs = append(a.algs, alg)
		}
	}
	return a, nil
}

// AuthenticateToken implements authn.TokenAuthenticator.AuthenticateToken.
//
// A token that is not a JWT, or names an issuer not ours, gives ok=false and
// no error. One of ours is checked for signature, issuer, audience, expiry
// and not-before, then for the existence (same UID, not being deleted for
// longer than the leeway) of its service account and bound pod, secret or
// node.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authn.Response, bool, error) {
	if strings.Count(token, ".") != 2 {
		return nil, false, nil
	}
	tok, err := jwt.ParseSigned(token, anyAlgorithm)
	if err != nil {
		return nil, false, nil
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || !slices.Contains(a.issuers, unverified.Issuer) {
		return nil, false, nil
	}

	if alg := jose.SignatureAlgorithm(tok.Headers[0].Algorithm); !slices.Contains(a.algs, alg) {
		return nil, false, fmt.Errorf("service account token signature is invalid: unexpected signing algorithm %q", alg)
	}
	var (
		public  jwt.Claims
		private privateClaims
	)
	if err := a.verify(tok, &public, &private); err != nil {
		return nil, false, err
	}
	if !slices.Contains(a.issuers, public.Issuer) {
		return nil, false, fmt.Errorf("token issuer %q is invalid", public.Issuer)
	}

	requested, ok := authn.AudiencesFrom(ctx)
	if !ok || len(requested) == 0 {
		requested = a.auds
	}
	tokenAuds := []string(public.Audience)
	auds := authn.IntersectAudiences(tokenAuds, requested)
	if len(auds) == 0 {
		return nil, false, fmt.Errorf("token audiences %q is invalid for the target audiences %q", tokenAuds, requested)
	}

	now := a.now()
	switch err := public.ValidateWithLeeway(jwt.Expected{Time: now}, leeway); {
	case err == nil:
	case errors.Is(err, jwt.ErrExpired):
		return nil, false, errors.New("service account token has expired")
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, false, errors.New("service account token is not valid yet")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, false, errors.New("service account token is issued in the future")
	default:
		return nil, false, fmt.Errorf("service account token claims could not be validated: %w", err)
	}
	if public.Expiry == nil {
		return nil, false, errors.New("service account token has no expiry")
	}

	user, err := a.validateBound(now, &public, &private.Kubernetes)
	if err != nil {
		return nil, false, err
	}
	return &authn.Response{User: user, Audiences: auds}, true, nil
}

// verify checks tok's signature, trying first the key its "kid" names, and
// decodes its claims.
func (a *Authenticator) verify(tok *jwt.JSONWebToken, public *jwt.Claims, private *privateClaims) error {
	kid := ""
	if len(tok.Headers) > 0 {
		kid = tok.Headers[0].KeyID
	}
	var errs []error
	try := func(k verifyKey) bool {
		err := tok.Claims(k.key, public, private)
		if err == nil {
			return true
		}
		errs = append(errs, err)
		return false
	}
	for _, k := range a.keys {
		if k.kid == kid && try(k) {
			return nil
		}
	}
	for _, k := range a.keys {
		if k.kid != kid && try(k) {
			return nil
		}
	}
	return fmt.Errorf("service account token signature is invalid: %w", errors.Join(errs...))
}

// errInvalidated is Kubernetes' deliberately vague answer when a bound
// object is gone.
var errInvalidated = errors.New("service account token has been invalidated")

// validateBound checks the objects the token names against the Getter and
// returns the token's user.
func (a *Authenticator) validateBound(now time.Time, public *jwt.Claims, k *kubernetesClaim) (*authn.User, error) {
	ns, saName := k.Namespace, k.ServiceAccount.Name
	if ns == "" || saName == "" || k.ServiceAccount.UID == "" {
		return nil, errors.New("service account token lacks the kubernetes.io namespace and serviceaccount claims")
	}
	if public.Subject != authn.ServiceAccountUsername(ns, saName) {
		return nil, fmt.Errorf("service account token subject %q does not match its kubernetes.io claims", public.Subject)
	}
	deletedBefore := now.Add(-leeway)
	gone := func(ts *metaTime) bool { return ts != nil && ts.Before(deletedBefore) }

	sa, err := a.getter.GetServiceAccount(ns, saName)
	if err != nil {
		return nil, fmt.Errorf("service account %s/%s has been deleted", ns, saName)
	}
	if string(sa.UID) != k.ServiceAccount.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.ServiceAccount.UID)
	}
	if gone(deletionTime(sa.DeletionTimestamp)) {
		return nil, fmt.Errorf("service account %s/%s has been deleted", ns, saName)
	}

	if r := k.Secret; r != nil {
		s, err := a.getter.GetSecret(ns, r.Name)
		if err != nil {
			return nil, errInvalidated
		}
		if string(s.UID) != r.UID {
			return nil, fmt.Errorf("secret UID (%s) does not match service account secret ref claim (%s)", s.UID, r.UID)
		}
		if gone(deletionTime(s.DeletionTimestamp)) {
			return nil, errInvalidated
		}
	}

	u := &authn.User{
		Name:   authn.ServiceAccountUsername(ns, saName),
		UID:    k.ServiceAccount.UID,
		Groups: authn.ServiceAccountGroups(ns),
	}
	extra := map[string][]string{}
	if r := k.Pod; r != nil {
		p, err := a.getter.GetPod(ns, r.Name)
		if err != nil {
			return nil, errInvalidated
		}
		if string(p.UID) != r.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match service account pod ref claim (%s)", p.UID, r.UID)
		}
		if gone(deletionTime(p.DeletionTimestamp)) {
			return nil, errInvalidated
		}
		extra[authn.PodNameKey] = []string{r.Name}
		extra[authn.PodUIDKey] = []string{r.UID}
	}
	if r := k.Node; r != nil {
		if k.Pod == nil {
			// A token bound to the node itself: the node must still exist.
			n, err := a.getter.GetNode(r.Name)
			if err != nil {
				return nil, errInvalidated
			}
			if string(n.UID) != r.UID {
				return nil, fmt.Errorf("node UID (%s) does not match service account node ref claim (%s)", n.UID, r.UID)
			}
			if gone(deletionTime(n.DeletionTimestamp)) {
				return nil, errInvalidated
			}
		}
		extra[authn.NodeNameKey] = []string{r.Name}
		if r.UID != "" {
			extra[authn.NodeUIDKey] = []string{r.UID}
		}
	}
	if public.ID != "" {
		extra[authn.CredentialIDKey] = []string{"JTI=" + public.ID}
	}
	if len(extra) > 0 {
		u.Extra = extra
	}
	return u, nil
}
