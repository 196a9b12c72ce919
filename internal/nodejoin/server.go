package nodejoin

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// CertValidity is how long issued node certificates last.
const CertValidity = 365 * 24 * time.Hour

// Handler serves the join endpoints. Mount it in front of the API server
// for the paths PathCA and PathCredentials.
type Handler struct {
	// CACert and CAKey sign node certificates; CAPEM is sent to agents.
	CACert *x509.Certificate
	CAKey  crypto.Signer
	CAPEM  []byte
	// Client reads bootstrap-token Secrets and creates TokenReviews (an
	// admin loopback client of the API server).
	Client kubernetes.Interface
	Log    *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Handles reports whether h serves path.
func Handles(path string) bool { return path == PathCA || path == PathCredentials }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == PathCA && r.Method == http.MethodGet:
		h.serveCA(w, r)
	case r.URL.Path == PathCredentials && r.Method == http.MethodPost:
		h.serveCredentials(w, r)
	case Handles(r.URL.Path):
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// tokenSecret returns the secret of bootstrap token id if the token is
// usable (exists, right type, not expired, usable for authentication).
func (h *Handler) tokenSecret(ctx context.Context, id string) (string, bool) {
	if len(id) != 6 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
		return "", false
	}
	s, err := h.Client.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+id, metav1.GetOptions{})
	if err != nil || s.Type != "bootstrap.kubernetes.io/token" || s.DeletionTimestamp != nil {
		return "", false
	}
	if string(s.Data["usage-bootstrap-authentication"]) != "true" || string(s.Data["token-id"]) != id {
		return "", false
	}
	if exp, ok := s.Data["expiration"]; ok {
		t, err := time.Parse(time.RFC3339, string(exp))
		if err != nil || !h.now().Before(t) {
			return "", false
		}
	}
	return string(s.Data["token-secret"]), true
}

func (h *Handler) serveCA(w http.ResponseWriter, r *http.Request) {
	secret, ok := h.tokenSecret(r.Context(), r.URL.Query().Get("token-id"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown or expired join token")
		return
	}
	writeJSON(w, CAResponse{CA: string(h.CAPEM), Signature: Sign(secret, h.CAPEM)})
}

// identity authenticates the request: a verified node client
// certificate, or a bearer token checked through TokenReview. It returns
// the node the caller is (or "" for an unbound join token, which may join
// any name).
func (h *Handler) identity(r *http.Request) (node string, err error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		c := r.TLS.VerifiedChains[0][0]
		if name, ok := strings.CutPrefix(c.Subject.CommonName, NodeUserPrefix); ok && slices.Contains(c.Subject.Organization, NodesGroup) {
			return name, nil
		}
		return "", errors.New("the client certificate is not a node's")
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return "", errors.New("a join token (bearer) or a node client certificate is required")
	}
	tr, err := h.Client.AuthenticationV1().TokenReviews().Create(r.Context(), &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("reviewing the token: %w", err)
	}
	if !tr.Status.Authenticated {
		return "", errors.New("invalid join token")
	}
	u := tr.Status.User
	if name, ok := strings.CutPrefix(u.Username, NodeUserPrefix); ok && slices.Contains(u.Groups, NodesGroup) {
		return name, nil
	}
	if slices.Contains(u.Groups, BootstrappersGroup) {
		return "", nil
	}
	return "", fmt.Errorf("user %q may not join nodes", u.Username)
}

func (h *Handler) serveCredentials(w http.ResponseWriter, r *http.Request) {
	node, err := h.identity(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	var req CredentialsRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "decoding request: "+err.Error())
		return
	}
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("node name %q: %s", req.NodeName, strings.Join(errs, "; ")))
		return
	}
	if node != "" && node != req.NodeName {
		writeError(w, http.StatusForbidden, fmt.Sprintf("this token or certificate is node %q's, not %q's", node, req.NodeName))
		return
	}
	client, err := h.sign(req.ClientCSR, req.NodeName, false)
	if err != nil {
		writeError(w, http.StatusBadRequest, "client certificate request: "+err.Error())
		return
	}
	serving, err := h.sign(req.ServingCSR, req.NodeName, true)
	if err != nil {
		writeError(w, http.StatusBadRequest, "serving certificate request: "+err.Error())
		return
	}
	if h.Log != nil {
		h.Log.Info("issued node credentials", "node", req.NodeName)
	}
	writeJSON(w, CredentialsResponse{CA: string(h.CAPEM), ClientCert: string(client), ServingCert: string(serving)})
}

// sign issues a certificate for a CSR: always CN system:node:<node> and O
// system:nodes whatever the request says; a serving certificate keeps the
// request's DNS names and IP addresses.
func (h *Handler) sign(csrPEM, node string, serving bool) ([]byte, error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("bad signature: %w", err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := h.now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: NodeUserPrefix + node, Organization: []string{NodesGroup}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(CertValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if serving {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = csr.DNSNames, csr.IPAddresses
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, h.CACert, csr.PublicKey, h.CAKey)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
