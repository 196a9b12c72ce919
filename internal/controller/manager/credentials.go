package manager

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ControllerNamespace holds the controllers' service accounts.
const ControllerNamespace = "kube-system"

// ServiceAccountCredentials returns a Deps.ControllerConfig that makes
// each controller act as its own service account kube-system/<name>, as
// kube-controller-manager --use-service-account-credentials does: base
// (the manager's own identity, which may create service accounts and
// request their tokens) makes sure the account exists, then the
// controller's requests carry a token from the TokenRequest API, renewed
// when 80% of its one-hour lifetime has passed. The API server's bootstrap
// policy binds each account to its system:controller:<name> role.
func ServiceAccountCredentials(base *rest.Config, log *slog.Logger) func(serviceAccount string) (*rest.Config, error) {
	return func(name string) (*rest.Config, error) {
		cfg := rest.CopyConfig(base)
		cfg.UserAgent = "podvisor-controller-manager/credentials"
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("building the manager's client: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ensureServiceAccount(ctx, client, name); err != nil {
			return nil, err
		}
		src := &tokenSource{client: client, name: name, log: log}
		if _, err := src.token(ctx); err != nil {
			return nil, err
		}
		out := rest.AnonymousClientConfig(base)
		out.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return &bearer{src: src, next: rt} }
		return out, nil
	}
}

func ensureServiceAccount(ctx context.Context, client kubernetes.Interface, name string) error {
	_, err := client.CoreV1().ServiceAccounts(ControllerNamespace).Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading service account %s/%s: %w", ControllerNamespace, name, err)
	}
	_, err = client.CoreV1().ServiceAccounts(ControllerNamespace).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ControllerNamespace, Name: name},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating service account %s/%s: %w", ControllerNamespace, name, err)
	}
	return nil
}

// tokenSource keeps a service account's token fresh.
type tokenSource struct {
	client kubernetes.Interface
	name   string
	log    *slog.Logger

	mu sync.Mutex
	// +checklocks:mu
	tok string
	// +checklocks:mu
	renewAt time.Time
}

const tokenLifetime = time.Hour

func (s *tokenSource) token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != "" && time.Now().Before(s.renewAt) {
		return s.tok, nil
	}
	secs := int64(tokenLifetime / time.Second)
	tr, err := s.client.CoreV1().ServiceAccounts(ControllerNamespace).CreateToken(ctx, s.name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		if s.tok != "" && time.Now().Before(s.renewAt.Add(tokenLifetime/5)) {
			// Still valid for a while: keep using it, try again later.
			s.log.Warn("renewing controller token failed; using the current one", "serviceAccount", s.name, "err", err)
			return s.tok, nil
		}
		return "", fmt.Errorf("requesting a token for %s/%s: %w", ControllerNamespace, s.name, err)
	}
	issued := time.Now()
	life := tr.Status.ExpirationTimestamp.Sub(issued)
	if life <= 0 {
		life = tokenLifetime
	}
	s.tok = tr.Status.Token
	s.renewAt = issued.Add(life * 4 / 5)
	return s.tok, nil
}

// bearer adds the controller's token to each request.
type bearer struct {
	src  *tokenSource
	next http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.src.token(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return b.next.RoundTrip(r)
}
