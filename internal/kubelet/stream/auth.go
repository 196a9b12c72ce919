package stream

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// User is an authenticated client of the server.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// Groups every authenticated user has, and the one that may do anything.
const (
	GroupAuthenticated = "system:authenticated"
	GroupMasters       = "system:masters"
)

// DefaultAPIServerClient is the common name of the API server's kubelet
// client certificate (internal/pki issues it).
const DefaultAPIServerClient = "podvisor-apiserver-kubelet-client"

// Reviewer answers the questions the server cannot answer alone: whose a
// bearer token is, and whether a user may do something to the node. The
// API-backed implementation is NewAPIReviewer. Methods are called
// concurrently.
type Reviewer interface {
	// AuthenticateToken returns the token's user, or ok=false for a token
	// the API server does not accept. err is for failing to ask.
	AuthenticateToken(ctx context.Context, token string) (u User, ok bool, err error)
	// Authorize reports whether u may do attrs (a node subresource).
	Authorize(ctx context.Context, u User, attrs authorizationv1.ResourceAttributes) (allowed bool, reason string, err error)
}

// authenticate finds the request's user: a verified client certificate
// first, then a bearer token. ok=false means anonymous.
func (s *Server) authenticate(r *http.Request) (User, bool, error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		c := r.TLS.VerifiedChains[0][0]
		if c.Subject.CommonName == "" {
			return User{}, false, nil
		}
		groups := append(slices.Clone(c.Subject.Organization), GroupAuthenticated)
		return User{Name: c.Subject.CommonName, Groups: groups}, true, nil
	}
	h := r.Header.Get("Authorization")
	token, found := strings.CutPrefix(h, "Bearer ")
	token = strings.TrimSpace(token)
	if !found || token == "" || s.deps.Reviewer == nil {
		return User{}, false, nil
	}
	u, ok, err := s.deps.Reviewer.AuthenticateToken(r.Context(), token)
	if err != nil || !ok {
		return User{}, false, err
	}
	if !slices.Contains(u.Groups, GroupAuthenticated) {
		u.Groups = append(u.Groups, GroupAuthenticated)
	}
	return u, true, nil
}

// attributes maps a request to the node subresource and verb Kubernetes'
// kubelet authorizes it as. fallback is nodes/proxy for the fine-grained
// subresources that fall back to it (pods, healthz), "" otherwise.
func attributes(nodeName string, r *http.Request) (attrs authorizationv1.ResourceAttributes, fallback string) {
	verb := "get"
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	}
	p := r.URL.Path
	sub := "proxy"
	switch {
	case under(p, "/stats"):
		sub = "stats"
	case under(p, "/metrics"):
		sub = "metrics"
	case under(p, "/logs"):
		// The node's log files; /containerLogs is nodes/proxy, as in
		// Kubernetes (pods/log users come through the API server's
		// privileged client).
		sub = "log"
	case under(p, "/pods"):
		sub, fallback = "pods", "proxy"
	case under(p, "/healthz"):
		sub, fallback = "healthz", "proxy"
	case under(p, "/exec"), under(p, "/attach"), under(p, "/portForward"), under(p, "/run"):
		// A WebSocket upgrade is a GET, but it runs commands: it needs
		// create, as Kubernetes requires since the nodes/proxy GET
		// loophole was closed.
		verb = "create"
	}
	return authorizationv1.ResourceAttributes{Verb: verb, Resource: "nodes", Subresource: sub, Name: nodeName}, fallback
}

func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// authorize reports whether u may make request r; reason is for the 403.
func (s *Server) authorize(r *http.Request, u User) (bool, string, error) {
	if slices.Contains(s.cfg.PrivilegedUsers, u.Name) || slices.Contains(u.Groups, GroupMasters) {
		return true, "", nil
	}
	attrs, fallback := attributes(s.cfg.NodeName, r)
	if s.deps.Reviewer == nil {
		return false, "no authorizer is configured for users other than the API server", nil
	}
	ok, reason, err := s.deps.Reviewer.Authorize(r.Context(), u, attrs)
	if err != nil || ok || fallback == "" {
		return ok, reason, err
	}
	attrs.Subresource = fallback
	return s.deps.Reviewer.Authorize(r.Context(), u, attrs)
}

// forbiddenMessage is Kubernetes' kubelet wording.
func forbiddenMessage(u User, attrs authorizationv1.ResourceAttributes) string {
	return fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource=(%s))", u.Name, attrs.Verb, attrs.Resource, attrs.Subresource)
}

// APIReviewer is the Reviewer that asks the API server (TokenReview,
// SubjectAccessReview) and caches the answers: allowed for 5 minutes,
// denied for 30 seconds, tokens for 2 minutes, as the kubelet does.
type APIReviewer struct {
	client kubernetes.Interface
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached // +checklocks:mu
}

type cached struct {
	until   time.Time
	allowed bool
	reason  string
	user    User
}

// Cache lifetimes.
const (
	allowTTL   = 5 * time.Minute
	denyTTL    = 30 * time.Second
	tokenTTL   = 2 * time.Minute
	cacheLimit = 4096
)

var _ Reviewer = (*APIReviewer)(nil)

// NewAPIReviewer returns a Reviewer backed by client; now is the clock
// (nil is time.Now).
func NewAPIReviewer(client kubernetes.Interface, now func() time.Time) *APIReviewer {
	if now == nil {
		now = time.Now
	}
	return &APIReviewer{client: client, now: now, cache: map[string]cached{}}
}

func (a *APIReviewer) lookup(key string) (cached, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.cache[key]
	if !ok || a.now().After(c.until) {
		return cached{}, false
	}
	return c, true
}

func (a *APIReviewer) store(key string, c cached) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.cache) >= cacheLimit {
		now := a.now()
		for k, v := range a.cache {
			if now.After(v.until) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= cacheLimit {
			clear(a.cache)
		}
	}
	a.cache[key] = c
}

// AuthenticateToken implements Reviewer.AuthenticateToken.
func (a *APIReviewer) AuthenticateToken(ctx context.Context, token string) (User, bool, error) {
	key := "token\x00" + token
	if c, ok := a.lookup(key); ok {
		return c.user, c.allowed, nil
	}
	tr, err := a.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token},
	}, metav1.CreateOptions{})
	if err != nil {
		return User{}, false, fmt.Errorf("token review: %w", err)
	}
	u := User{}
	if tr.Status.Authenticated {
		ui := tr.Status.User
		u = User{Name: ui.Username, UID: ui.UID, Groups: ui.Groups}
		if len(ui.Extra) > 0 {
			u.Extra = map[string][]string{}
			for k, v := range ui.Extra {
				u.Extra[k] = v
			}
		}
	}
	a.store(key, cached{until: a.now().Add(tokenTTL), allowed: tr.Status.Authenticated, user: u})
	return u, tr.Status.Authenticated, nil
}

// Authorize implements Reviewer.Authorize.
func (a *APIReviewer) Authorize(ctx context.Context, u User, attrs authorizationv1.ResourceAttributes) (bool, string, error) {
	key := strings.Join([]string{"sar", u.Name, u.UID, strings.Join(u.Groups, ","), fmt.Sprint(u.Extra),
		attrs.Verb, attrs.Resource, attrs.Subresource, attrs.Name}, "\x00")
	if c, ok := a.lookup(key); ok {
		return c.allowed, c.reason, nil
	}
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = v
	}
	ra := attrs
	sar, err := a.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Name, UID: u.UID, Groups: u.Groups, Extra: extra, ResourceAttributes: &ra,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("subject access review: %w", err)
	}
	ttl := denyTTL
	if sar.Status.Allowed {
		ttl = allowTTL
	}
	a.store(key, cached{until: a.now().Add(ttl), allowed: sar.Status.Allowed, reason: sar.Status.Reason})
	return sar.Status.Allowed, sar.Status.Reason, nil
}
