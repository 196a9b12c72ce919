// Package servertest starts a real podvisor server for a test: in-process
// (Start) on 127.0.0.1 port 0 with its data in the test's temp dir, or as a
// separate bin/podvisor process (StartProcess) for tests that kill it or
// drive it with kubectl. Only tests and benchmarks import it.
package servertest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
)

// Server is a server started for a test.
type Server struct {
	*server.Server
	Config     server.Config
	DataDir    string
	Kubeconfig string
	// RESTConfig is the admin's client configuration.
	RESTConfig *rest.Config
	Client     kubernetes.Interface
}

// Start starts a server in-process; cfg's zero fields get test defaults
// (a temp data dir, 127.0.0.1:0). It is stopped when the test ends. The
// in-process agent is disabled unless cfg.Agent.NodeName is set (a test
// that wants it must give it unique names: bridge, cgroup root, dirs),
// and so is the controller manager unless cfg.ControllerManager.Controllers
// names the controllers to run (tests that drive controllers themselves
// must not race the server's own). Likewise the scheduler is disabled
// unless cfg.SchedulerName is set (server.DefaultSchedulerName for the
// default one), so that tests that leave pods unbound keep them so.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	if cfg.Agent.NodeName == "" {
		cfg.DisableAgent = true
	}
	if cfg.SchedulerName == "" {
		cfg.DisableScheduler = true
	}
	if len(cfg.ControllerManager.Controllers) == 0 {
		cfg.DisableControllerManager = true
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.BindAddress == "" {
		cfg.BindAddress = "127.0.0.1"
	}
	if cfg.AdvertiseAddress == "" {
		cfg.AdvertiseAddress = "127.0.0.1"
	}
	s, err := server.Start(context.Background(), cfg, server.Deps{Log: etcdtest.Logger(t)})
	if err != nil {
		t.Fatalf("starting podvisor server: %v", err)
	}
	ts := &Server{Server: s, Config: cfg, DataDir: cfg.DataDir, Kubeconfig: server.KubeconfigPath(cfg.DataDir)}
	t.Cleanup(s.Stop)
	ts.RESTConfig, ts.Client = Clients(t, ts.Kubeconfig)
	return ts
}

// Clients returns a REST config and clientset for a kubeconfig.
func Clients(t testing.TB, kubeconfig string) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("loading kubeconfig %s: %v", kubeconfig, err)
	}
	rc.QPS, rc.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("building clientset: %v", err)
	}
	return rc, cs
}

// Binary returns the path of bin/podvisor: $PODVISOR_BIN_DIR/podvisor,
// or ../../bin/podvisor from the repository root. Missing is fatal.
func Binary(t testing.TB) string {
	t.Helper()
	return binary(t, "podvisor")
}

// ShimBinary returns the path of bin/podvisor-shim, the per-container
// shim (cmd/podvisor-shim), found as Binary finds podvisor. Missing is
// fatal.
func ShimBinary(t testing.TB) string {
	t.Helper()
	return binary(t, "podvisor-shim")
}

func binary(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("PODVISOR_BIN_DIR")
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatalf("finding the repository root: %v", err)
		}
		dir = filepath.Join(root, "bin")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s binary not found at %s (run `make build` or set PODVISOR_BIN_DIR): %v", name, p, err)
	}
	return p
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is a server running as a separate bin/podvisor process.
type Process struct {
	Cmd        *exec.Cmd
	DataDir    string
	Port       int
	Kubeconfig string
	mu         sync.Mutex
	out        bytes.Buffer
	done       chan struct{}
}

// StartProcess starts `podvisor server` on dataDir and a free port with
// extra flags and waits until it answers /readyz. It is killed when the
// test ends. The agent is disabled unless extra says --disable-agent=false;
// the scheduler runs unless extra says --disable-scheduler.
func StartProcess(t testing.TB, dataDir string, port int, extra ...string) *Process {
	t.Helper()
	bin := Binary(t)
	if port == 0 {
		port = FreePort(t)
	}
	args := append([]string{"server", "--data-dir", dataDir, "--https-listen-port", fmt.Sprint(port),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--disable-agent"}, extra...)
	p := &Process{DataDir: dataDir, Port: port, Kubeconfig: server.KubeconfigPath(dataDir), done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Stdout, p.Cmd.Stderr = p, p
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.Kill() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("podvisor server exited early:\n%s", p.Output())
		default:
		}
		if _, err := os.Stat(p.Kubeconfig); err == nil && p.ready() {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("podvisor server not ready within 90s:\n%s", p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *Process) ready() bool {
	rc, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		return false
	}
	if !strings.Contains(rc.Host, fmt.Sprint(p.Port)) {
		return false // an old kubeconfig from a previous run
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil
}

// Write collects the process's output.
func (p *Process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output returns what the process printed.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Kill kills the process with SIGKILL and waits for it.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Kill()
	<-p.done
}

// Logger returns a logger for a test.
func Logger(t testing.TB) *slog.Logger { return etcdtest.Logger(t) }
