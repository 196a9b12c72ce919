package agent

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podvisor/podvisor/internal/pki"
)

func TestServingCertReload(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.EnsureCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"), "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	crt, key := filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key")
	issue := func(cn string) {
		t.Helper()
		os.Remove(crt)
		if err := pki.EnsureCert(ca, crt, key, pki.CertSpec{CommonName: cn, DNSNames: []string{"n1"}, Server: true}); err != nil {
			t.Fatal(err)
		}
	}
	issue("first")
	sc, err := newServingCert(crt, key)
	if err != nil {
		t.Fatalf("newServingCert: %v", err)
	}
	cn := func() string {
		t.Helper()
		c, err := sc.get(nil)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		return c.Leaf.Subject.CommonName
	}
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{name: "loaded", change: func() {}, want: "first"},
		{name: "renewed file is picked up", change: func() {
			issue("second")
			later := time.Now().Add(time.Minute) // a distinct mtime whatever the clock's resolution
			os.Chtimes(crt, later, later)
		}, want: "second"},
		{name: "half-written renewal keeps the last good one", change: func() {
			os.WriteFile(crt, []byte("garbage"), 0o600)
			later := time.Now().Add(2 * time.Minute)
			os.Chtimes(crt, later, later)
		}, want: "second"},
		{name: "missing file keeps the last good one", change: func() { os.Remove(crt) }, want: "second"},
	}
	for _, s := range steps {
		s.change()
		if got := cn(); got != s.want {
			t.Errorf("%s: certificate CN %q, want %q", s.name, got, s.want)
		}
	}
	if _, err := newServingCert("", ""); err == nil {
		t.Errorf("newServingCert without files: no error")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := Config{Server: "https://127.0.0.1:6443", NodeName: "n1", ShimPath: "/bin/true"}
	tests := []struct {
		name string
		mut  func(*Config)
		want string // in the error; "" means no error
	}{
		{name: "defaults", mut: func(*Config) {}},
		{name: "kubelet address without port", mut: func(c *Config) { c.KubeletAddress = "127.0.0.1" }, want: "--kubelet-address"},
		{name: "route protocol too big", mut: func(c *Config) { c.RouteProtocol = 256 }, want: "route protocol"},
		{name: "routes off", mut: func(c *Config) { c.RouteProtocol = -1 }},
		{name: "stats interval", mut: func(c *Config) { c.StatsInterval = 2 * time.Second }},
		{name: "negative stats interval", mut: func(c *Config) { c.StatsInterval = -time.Second }, want: "stats interval"},
		{name: "plain http server", mut: func(c *Config) { c.Server = "http://x" }, want: "https://"},
		{name: "bad node IP", mut: func(c *Config) { c.NodeIP = "nope" }, want: "--node-ip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mut(&cfg)
			_, err := New(cfg, Deps{Log: log})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New: %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New: %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
