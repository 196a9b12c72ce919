package stream

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultPort is the kubelet's HTTPS port.
const DefaultPort = 10250

// Config holds the server's settings (values only).
type Config struct {
	// NodeName is this node's name (for authorization and stats).
	NodeName string
	// Address is where ListenAndServe listens, e.g. ":10250".
	Address string
	// Certificate returns the serving certificate (the agent may rotate
	// it); required by ListenAndServe and Serve.
	Certificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// ClientCAs verifies client certificates (the cluster CA).
	ClientCAs *x509.CertPool
	// PrivilegedUsers may do anything without a review; nil means
	// {DefaultAPIServerClient}.
	PrivilegedUsers []string
	// StreamIdleTimeout closes an exec/attach/port-forward connection
	// idle that long; 0 is 4 hours (the kubelet's default).
	StreamIdleTimeout time.Duration
	// StreamCreationTimeout bounds how long a client may take to create
	// its streams after the upgrade; 0 is 30 seconds.
	StreamCreationTimeout time.Duration
	// StatsInterval is how often CPU usage is sampled for usageNanoCores;
	// 0 is 10 seconds.
	StatsInterval time.Duration
	// RootDir is the kubelet's data dir: its file system is the node's
	// "fs" in stats. ImageFSDir holds the images and snapshots (the
	// "runtime imageFs"). Either may be "".
	RootDir, ImageFSDir string
}

// Deps are the server's collaborators.
type Deps struct {
	// Pods and Runtime are required.
	Pods    Pods
	Runtime Runtime
	// Network gives pods' network counters; nil leaves them out of stats.
	Network Network
	// Reviewer authenticates bearer tokens and authorizes users other
	// than the privileged ones; nil denies them.
	Reviewer Reviewer
	Logger   *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Dial opens a TCP connection to port inside the network namespace
	// at netns ("" is the host's); nil is DialNetNS.
	Dial func(ctx context.Context, netns string, port int32) (net.Conn, error)
}

// Server is the kubelet's HTTPS server. Create it with New, then run it
// with ListenAndServe or Serve (or mount Handler in a test server).
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	stats   *sampler
	metrics *serverMetrics

	// streams counts running exec/attach/port-forward sessions, which
	// outlive http.Server.Shutdown (their connections are hijacked).
	streams sync.WaitGroup
}

// New returns a Server.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Pods == nil || deps.Runtime == nil || deps.Logger == nil {
		return nil, errors.New("stream server: Pods, Runtime and Logger are required")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("stream server: NodeName is required")
	}
	if cfg.PrivilegedUsers == nil {
		cfg.PrivilegedUsers = []string{DefaultAPIServerClient}
	}
	if cfg.StreamIdleTimeout == 0 {
		cfg.StreamIdleTimeout = 4 * time.Hour
	}
	if cfg.StreamCreationTimeout == 0 {
		cfg.StreamCreationTimeout = 30 * time.Second
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = 10 * time.Second
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Dial == nil {
		deps.Dial = DialNetNS
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, now: deps.Now}
	s.stats = newSampler(s)
	s.metrics = newServerMetrics(s)
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveLogs)
	m.HandleFunc("/exec/{namespace}/{pod}/{container}", s.serveExec)
	m.HandleFunc("/exec/{namespace}/{pod}/{uid}/{container}", s.serveExec)
	m.HandleFunc("/attach/{namespace}/{pod}/{container}", s.serveAttach)
	m.HandleFunc("/attach/{namespace}/{pod}/{uid}/{container}", s.serveAttach)
	m.HandleFunc("/portForward/{namespace}/{pod}", s.servePortForward)
	m.HandleFunc("/portForward/{namespace}/{pod}/{uid}", s.servePortForward)
	m.HandleFunc("GET /stats/summary", s.serveSummary)
	m.HandleFunc("GET /metrics", s.metrics.serveMetrics)
	m.HandleFunc("GET /metrics/resource", s.metrics.serveResource)
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	m.HandleFunc("GET /pods", s.servePods)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure,
			Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound, Message: "no such path: " + r.URL.Path}})
	})
	s.mux = m
}

// Handler returns the server's handler: authentication, authorization,
// then the paths. Requests without a verified client certificate or a
// bearer token get 401.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rw := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() { s.metrics.observe(r, rw.code, s.now().Sub(start)) }()
		u, ok, err := s.authenticate(r)
		if err != nil {
			s.log.Warn("authenticating kubelet request", "path", r.URL.Path, "err", err)
			writeError(rw, apierrors.NewInternalError(fmt.Errorf("authenticating: %w", err)))
			return
		}
		if !ok {
			writeError(rw, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		allowed, reason, err := s.authorize(r, u)
		if err != nil {
			s.log.Warn("authorizing kubelet request", "path", r.URL.Path, "user", u.Name, "err", err)
			writeError(rw, apierrors.NewInternalError(fmt.Errorf("authorizing: %w", err)))
			return
		}
		if !allowed {
			attrs, _ := attributes(s.cfg.NodeName, r)
			msg := forbiddenMessage(u, attrs)
			if reason != "" {
				msg += ": " + reason
			}
			writeError(rw, &apierrors.StatusError{ErrStatus: metav1.Status{
				Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: msg,
			}})
			return
		}
		s.mux.ServeHTTP(rw, r)
	})
}

// ListenAndServe listens on Config.Address and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("kubelet server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// TLSConfig is the server's TLS configuration: its certificate, and
// client certificates verified against Config.ClientCAs when given.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: s.cfg.Certificate,
		ClientCAs:      s.cfg.ClientCAs,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"}, // upgrades need HTTP/1.1
	}
}

// Serve serves TLS on ln until ctx ends; it then stops accepting, ends
// every stream session and returns once they are gone. It also runs the
// stats sampler.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.cfg.Certificate == nil {
		ln.Close()
		return errors.New("kubelet server: no serving certificate")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.stats.run(ctx, s.cfg.StatsInterval)
	}()
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	s.log.Info("kubelet server listening", "address", ln.Addr().String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	hs.Shutdown(sctx)
	scancel()
	if err == nil {
		<-errc
	}
	wg.Wait()
	s.streams.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// statusRecorder remembers the status code for metrics; it passes
// flushes and hijacks through.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	r.code = http.StatusSwitchingProtocols
	return h.Hijack()
}

// writeError writes err as a Kubernetes Status.
func writeError(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	st.Kind, st.APIVersion = "Status", "v1"
	b, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(int(st.Code))
	w.Write(b)
}

func apierrorsBadRequest(msg string) error { return apierrors.NewBadRequest(msg) }

// statusError is a Status with an HTTP code and message.
func statusError(code int, msg string) error {
	reason := metav1.StatusReasonUnknown
	switch code {
	case http.StatusBadRequest:
		reason = metav1.StatusReasonBadRequest
	case http.StatusForbidden:
		reason = metav1.StatusReasonForbidden
	case http.StatusNotFound:
		reason = metav1.StatusReasonNotFound
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg}}
}
