package apiserver

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authn/bootstrap"
	"github.com/podvisor/podvisor/internal/apiserver/authn/clientcert"
	"github.com/podvisor/podvisor/internal/apiserver/authn/serviceaccount"
	"github.com/podvisor/podvisor/internal/apiserver/authn/tokenfile"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/authz/node"
	"github.com/podvisor/podvisor/internal/apiserver/authz/rbac"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/storage"
)

// AuthConfig says how requests are authenticated and tokens issued.
type AuthConfig struct {
	// ClientCAs verify client certificates (the cluster CA).
	ClientCAs *x509.CertPool
	// ServiceAccountKey signs service-account tokens.
	ServiceAccountKey crypto.Signer
	// Issuer is the "iss" of service-account tokens and the default API
	// audience; empty means https://kubernetes.default.svc.cluster.local.
	Issuer string
	// TokenFile is an optional static token file.
	TokenFile string
}

// auth holds the authentication and authorization pieces, built once.
type auth struct {
	authenticator authn.Authenticator
	tokens        authn.TokenAuthenticator
	audiences     []string
	authorizer    authz.Authorizer
	rules         authz.RuleResolver
	escalation    *rbac.Escalation
	issuer        *serviceaccount.Issuer
	policy        *rbac.Policy
	graph         *node.Graph
}

// buildAuth builds authenticators and authorizers as docs/auth.md
// describes; the RBAC policy and node graph are fed from the watch caches
// once the server starts.
func (s *Server) buildAuth(cfg AuthConfig) (*auth, error) {
	if cfg.ClientCAs == nil || cfg.ServiceAccountKey == nil {
		return nil, fmt.Errorf("apiserver: Auth.ClientCAs and Auth.ServiceAccountKey are required")
	}
	a := &auth{}
	cc, err := clientcert.New(clientcert.Config{CAs: cfg.ClientCAs})
	if err != nil {
		return nil, fmt.Errorf("client certificate authenticator: %w", err)
	}
	name := cfg.Issuer
	if name == "" {
		name = "https://kubernetes.default.svc.cluster.local"
	}
	a.issuer, err = serviceaccount.NewIssuer(serviceaccount.IssuerConfig{Issuer: name, Key: cfg.ServiceAccountKey})
	if err != nil {
		return nil, fmt.Errorf("service-account token issuer: %w", err)
	}
	a.audiences = []string{a.issuer.Name()}
	sa, err := serviceaccount.NewAuthenticator(serviceaccount.AuthenticatorConfig{
		Issuers: a.audiences, Keys: []crypto.PublicKey{a.issuer.PublicKey()}, APIAudiences: a.audiences,
		Getter: cacheGetter{s},
	})
	if err != nil {
		return nil, fmt.Errorf("service-account authenticator: %w", err)
	}
	var tokens authn.TokenUnion
	if cfg.TokenFile != "" {
		tf, err := tokenfile.Load(cfg.TokenFile, s.log)
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		tokens = append(tokens, tf)
	}
	tokens = append(tokens, authn.NewCachedTokens(sa, 10*time.Second, 4096, nil), bootstrap.New(bootstrap.Config{Secrets: cacheGetter{s}}))
	a.tokens = tokens
	a.authenticator = authn.NewUnion(cc, &authn.Bearer{Tokens: tokens})

	a.policy, a.graph = rbac.NewPolicy(), node.NewGraph()
	rbacAz, nodeAz := rbac.New(a.policy), node.New(a.graph)
	a.authorizer = authz.NewChain(nodeAz, rbacAz)
	a.rules = authz.RuleResolvers{nodeAz, rbacAz}
	a.escalation = &rbac.Escalation{Authorizer: a.authorizer, RBAC: rbacAz}
	return a, nil
}

// cacheGetter looks objects up in the watch caches without waiting, for
// the token authenticators.
type cacheGetter struct{ s *Server }

func (g cacheGetter) get(resource, namespace, name string) (any, error) {
	res := g.s.byGR[schema.GroupResource{Resource: resource}]
	e, err := res.store.Cache().Get(context.Background(), res.store.Key(namespace, name), storage.ReadOptions{})
	if err != nil {
		return nil, rest.ToStatus(err, res.info.GroupResource(), name)
	}
	return e.Obj, nil
}

// GetServiceAccount implements serviceaccount.Getter.
func (g cacheGetter) GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error) {
	o, err := g.get("serviceaccounts", namespace, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.ServiceAccount), nil
}

// GetPod implements serviceaccount.Getter.
func (g cacheGetter) GetPod(namespace, name string) (*corev1.Pod, error) {
	o, err := g.get("pods", namespace, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Pod), nil
}

// GetSecret implements serviceaccount.Getter and bootstrap.SecretLister.
func (g cacheGetter) GetSecret(namespace, name string) (*corev1.Secret, error) {
	o, err := g.get("secrets", namespace, name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Secret), nil
}

// GetNode implements serviceaccount.Getter.
func (g cacheGetter) GetNode(name string) (*corev1.Node, error) {
	o, err := g.get("nodes", "", name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Node), nil
}
