package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/version"
)

// serveNonResource serves everything that is not a resource: version,
// health, metrics, discovery and the extra handlers (OpenAPI).
func (s *Server) serveNonResource(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	switch r.URL.Path {
	case "/version", "/version/":
		s.serveVersion(w, r)
		return
	case "/healthz", "/livez":
		s.serveHealth(w, r, false)
		return
	case "/readyz":
		s.serveHealth(w, r, true)
		return
	case "/metrics":
		s.metrics.handler().ServeHTTP(w, r)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if s.serveDiscovery(w, r) {
			return
		}
		if strings.HasPrefix(r.URL.Path, "/openapi/") {
			s.openapi.ServeHTTP(w, r)
			return
		}
	}
	for prefix, h := range s.deps.Extra {
		if r.URL.Path == prefix || strings.HasPrefix(r.URL.Path, strings.TrimSuffix(prefix, "/")+"/") {
			h.ServeHTTP(w, r)
			return
		}
	}
	s.writeError(w, r, errNoResource())
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	info := version.Info{
		Major: KubeMajor, Minor: KubeMinor, EmulationMajor: KubeMajor, EmulationMinor: KubeMinor,
		MinCompatibilityMajor: KubeMajor, MinCompatibilityMinor: "36",
		GitVersion: GitVersion, GitCommit: "", GitTreeState: "clean", BuildDate: "",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	data, _ := json.MarshalIndent(info, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// serveHealth answers /healthz, /livez and /readyz. ?verbose lists the
// checks as Kubernetes does.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, readiness bool) {
	type check struct {
		name string
		err  error
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := []check{{name: "ping"}}
	if s.deps.Healthy != nil {
		checks = append(checks, check{name: "etcd", err: s.deps.Healthy(ctx)})
	}
	if readiness {
		c := check{name: "informer-sync"}
		select {
		case <-s.ready:
		default:
			c.err = fmt.Errorf("not started")
		}
		checks = append(checks, c)
	}
	failed := false
	var b strings.Builder
	for _, c := range checks {
		if c.err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.name)
			s.log.Info("health check failed", "check", c.name, "err", c.err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		b.WriteString(strings.TrimPrefix(r.URL.Path, "/") + " check failed\n")
		fmt.Fprint(w, b.String())
		return
	}
	w.WriteHeader(http.StatusOK)
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		b.WriteString(strings.TrimPrefix(r.URL.Path, "/") + " check passed\n")
		fmt.Fprint(w, b.String())
		return
	}
	fmt.Fprint(w, "ok")
}
