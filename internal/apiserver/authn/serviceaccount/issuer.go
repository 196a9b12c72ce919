package serviceaccount

import (
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// Expiration limits, as Kubernetes applies them to TokenRequests.
const (
	// MinExpiration is the shortest lifetime a token may be issued for.
	MinExpiration = 10 * time.Minute
	// DefaultExpiration is the lifetime when a request names none.
	DefaultExpiration = time.Hour
)

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	// Issuer is the "iss" claim, e.g.
	// "https://kubernetes.default.svc.cluster.local".
	Issuer string
	// Key signs tokens: an *rsa.PrivateKey (RS256) or an *ecdsa.PrivateKey
	// on P-256 (ES256), e.g. from LoadOrGenerateKey.
	Key crypto.Signer
	// MaxExpiration caps requested lifetimes; 0 means no cap.
	MaxExpiration time.Duration
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// Issuer signs bound service-account tokens. It is safe for concurrent use.
type Issuer struct {
	issuer string
	signer jose.Signer
	pub    crypto.PublicKey
	alg    jose.SignatureAlgorithm
	kid    string
	max    time.Duration
	now    func() time.Time
}

// NewIssuer returns an Issuer for cfg.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("service-account issuer needs an issuer name")
	}
	if cfg.Key == nil {
		return nil, errors.New("service-account issuer needs a signing key")
	}
	alg, err := algorithm(cfg.Key.Public())
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(cfg.Key.Public())
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: cfg.Key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("creating token signer: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Issuer{issuer: cfg.Issuer, signer: signer, pub: cfg.Key.Public(), alg: alg, kid: kid, max: cfg.MaxExpiration, now: now}, nil
}

// PublicKey returns the public half of the signing key, for an
// Authenticator.
func (i *Issuer) PublicKey() crypto.PublicKey { return i.pub }

// Name returns the issuer ("iss").
func (i *Issuer) Name() string { return i.issuer }

// Request describes a token to issue.
type Request struct {
	// ServiceAccount is the subject; its Namespace, Name and UID are used.
	ServiceAccount *corev1.ServiceAccount
	// Audiences is the "aud" claim; must not be empty.
	Audiences []string
	// Expiration is the token lifetime: DefaultExpiration if 0; at least
	// MinExpiration; capped at the issuer's MaxExpiration.
	Expiration time.Duration
	// Pod, Secret and Node name the object the token is bound to: at most
	// one of Pod and Secret; Node alone binds to the node, Node with Pod
	// records the pod's node (as Kubernetes does), Node with Secret is
	// invalid. The token stops authenticating when the bound object is
	// deleted or replaced (a different UID).
	Pod    *corev1.Pod
	Secret *corev1.Secret
	Node   *corev1.Node
}

// Issue signs a token for req and returns it with its expiry time.
func (i *Issuer) Issue(req Request) (string, time.Time, error) {
	sa := req.ServiceAccount
	if sa == nil || sa.Namespace == "" || sa.Name == "" || sa.UID == "" {
		return "", time.Time{}, errors.New("token request needs a service account with namespace, name and uid")
	}
	if len(req.Audiences) == 0 {
		return "", time.Time{}, errors.New("token request needs at least one audience")
	}
	if req.Secret != nil && (req.Pod != nil || req.Node != nil) {
		return "", time.Time{}, errors.New("token can only be bound to one object type")
	}
	exp := req.Expiration
	if exp == 0 {
		exp = DefaultExpiration
	}
	if exp < MinExpiration {
		return "", time.Time{}, fmt.Errorf("token expiration %v is shorter than the minimum %v", exp, MinExpiration)
	}
	if i.max > 0 && exp > i.max {
		exp = i.max
	}
	now := i.now()
	expiry := now.Add(exp)
	jti, err := newUUID()
	if err != nil {
		return "", time.Time{}, err
	}
	pub := jwt.Claims{
		Issuer:    i.issuer,
		Subject:   authn.ServiceAccountUsername(sa.Namespace, sa.Name),
		Audience:  jwt.Audience(req.Audiences),
		Expiry:    jwt.NewNumericDate(expiry),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        jti,
	}
	priv := privateClaims{Kubernetes: kubernetesClaim{
		Namespace:      sa.Namespace,
		ServiceAccount: ref{Name: sa.Name, UID: string(sa.UID)},
	}}
	if p := req.Pod; p != nil {
		if p.Namespace != sa.Namespace {
			return "", time.Time{}, fmt.Errorf("pod %s/%s is not in the service account's namespace %s", p.Namespace, p.Name, sa.Namespace)
		}
		priv.Kubernetes.Pod = &ref{Name: p.Name, UID: string(p.UID)}
	}
	if s := req.Secret; s != nil {
		if s.Namespace != sa.Namespace {
			return "", time.Time{}, fmt.Errorf("secret %s/%s is not in the service account's namespace %s", s.Namespace, s.Name, sa.Namespace)
		}
		priv.Kubernetes.Secret = &ref{Name: s.Name, UID: string(s.UID)}
	}
	if n := req.Node; n != nil {
		priv.Kubernetes.Node = &ref{Name: n.Name, UID: string(n.UID)}
	}
	tok, err := jwt.Signed(i.signer).Claims(pub).Claims(priv).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing token: %w", err)
	}
	return tok, expiry, nil
}

// JWKS returns the JSON Web Key Set of the issuer's public key, as served at
// /openid/v1/jwks.
func (i *Issuer) JWKS() ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: i.pub, KeyID: i.kid, Algorithm: string(i.alg), Use: "sig"}}}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encoding JWKS: %w", err)
	}
	return b, nil
}

// newUUID returns a random (version 4) UUID string for "jti".
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating token id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
