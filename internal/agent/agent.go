package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/localpath"
	"github.com/podvisor/podvisor/internal/kubelet/noderoute"
	"github.com/podvisor/podvisor/internal/kubelet/podnet"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/kubelet/stream"
	"github.com/podvisor/podvisor/internal/nodejoin"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// Config is the agent's configuration (`podvisor agent` flags).
type Config struct {
	// Server is the API server URL and Token the join token; both are
	// unused when Deps.RESTConfig is given.
	Server, Token string
	// NodeName defaults to the host name.
	NodeName string
	// DataDir holds the agent's state (see the package doc); RunDir its
	// runtime state on a tmpfs (default /run/podvisor).
	DataDir, RunDir string
	// PodCIDR is used until the node controller assigns one.
	PodCIDR string
	// ClusterCIDR holds every node's pods (not masqueraded); default
	// 10.42.0.0/16.
	ClusterCIDR string
	// PodManifestPath (static pods; default <DataDir>/manifests) and
	// ManifestURL.
	PodManifestPath, ManifestURL string
	// InsecureRegistries are pulled from over plain HTTP.
	InsecureRegistries []string
	// DefaultRuntime is the runtime handler of pods without a runtime
	// class: "runc" (default) or "visor".
	DefaultRuntime string
	// RuncPath and VisorPath locate the runtimes ("" looks in PATH and,
	// for visor, next to this binary); visor is configured only when
	// found.
	RuncPath, VisorPath string
	// NodeIP is the node's address (default: the default route's).
	NodeIP string
	// ClusterDNS and ClusterDomain go into pods' resolv.conf.
	ClusterDNS    []string
	ClusterDomain string
	// BridgeName, VethPrefix and CgroupRoot name the node's network and
	// cgroup objects (defaults pv0, pv, /podvisor); tests make them
	// unique.
	BridgeName, VethPrefix, CgroupRoot string
	// ShimPath and ShimArgs start the per-container shim. The default
	// is podvisor-shim (ShimBinary) next to this binary, else in PATH,
	// else this binary's `shim` sub-command (slow: a warning says so).
	ShimPath string
	ShimArgs []string
	// Labels are added to the Node.
	Labels map[string]string
	// KubeletAddress is where the kubelet's HTTPS server (logs, exec,
	// attach, port-forward, stats) listens, host:port; default
	// DefaultKubeletAddress. Port 0 picks a free port; the Node
	// publishes the port in status.daemonEndpoints either way.
	KubeletAddress string
	// RouteProtocol marks the routes to other nodes' pod CIDRs this
	// agent makes from its Node's podvisor.io/routes annotation (the
	// agent deletes stale routes of this protocol only): 0 is
	// noderoute.Protocol; negative leaves the host's routes alone (tests
	// running several agents on one host).
	RouteProtocol int
	// StatsInterval is how often the kubelet's server samples container
	// CPU usage (usageNanoCores in /stats/summary and the metrics API);
	// 0 is stream.Config's default, 10 seconds.
	StatsInterval time.Duration
	// Kubelet carries kubelet settings not covered above (periods,
	// capacity); its node, paths and runtime fields are set from this
	// Config.
	Kubelet kubelet.Config
}

// Deps are the agent's collaborators.
type Deps struct {
	Log *slog.Logger
	// RESTConfig, when set, is how to reach the API server as this node
	// (the agent `podvisor server` runs in-process, with a node client
	// certificate it issued); no join happens.
	RESTConfig *rest.Config
	// Credentials are the in-process agent's credential files (its
	// kubelet serving certificate), reported by Credentials.
	Credentials nodejoin.Credentials
	// Trace is passed to the kubelet (kubelet.Deps.Trace; benchmarks).
	Trace func(uid types.UID, step string)
}

// Agent is a running node agent.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	rc    *rest.Config
	creds nodejoin.Credentials
	trace func(types.UID, string)

	client  kubernetes.Interface
	store   *image.Store
	rt      *oci.Runtime
	kubelet *kubelet.Kubelet
	streams *stream.Server
	routes  *noderoute.Manager
	volumes *localpath.Cleaner
	ln      net.Listener
	nets    podNetworks
	started chan struct{}
}

func (c *Config) setDefaults() error {
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w", err)
		}
		c.NodeName = strings.ToLower(h)
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/podvisor/agent"
	}
	if c.RunDir == "" {
		c.RunDir = "/run/podvisor"
	}
	if c.ClusterCIDR == "" {
		c.ClusterCIDR = "10.42.0.0/16"
	}
	if c.PodManifestPath == "" {
		c.PodManifestPath = filepath.Join(c.DataDir, "manifests")
	}
	if c.DefaultRuntime == "" {
		c.DefaultRuntime = "runc"
	}
	if c.BridgeName == "" {
		c.BridgeName = "pv0"
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/podvisor"
	}
	if c.KubeletAddress == "" {
		c.KubeletAddress = DefaultKubeletAddress
	}
	return nil
}

// setShim fills in the shim when the config names none (see findShim); it
// warns when only the slow fallback, `podvisor shim`, is there.
func (c *Config) setShim(log *slog.Logger) error {
	if c.ShimPath != "" {
		return nil
	}
	sc, err := defaultShim()
	if err != nil {
		return fmt.Errorf("finding this binary for the shim: %w", err)
	}
	c.ShimPath, c.ShimArgs = sc.path, sc.args
	if sc.fallback {
		log.Warn("shim binary not found next to this binary nor in PATH; containers start through `podvisor shim`, which is slow (~150 ms CPU and ~75 MB peak memory per container start): install it",
			"binary", ShimBinary, "shim", sc.path)
	}
	return nil
}

// New checks cfg and returns an agent; Run starts it.
func New(cfg Config, deps Deps) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if deps.RESTConfig == nil && (cfg.Server == "" || !strings.HasPrefix(cfg.Server, "https://")) {
		return nil, fmt.Errorf("agent: --server %q: want the API server's https:// URL", cfg.Server)
	}
	if _, _, err := net.SplitHostPort(cfg.KubeletAddress); err != nil {
		return nil, fmt.Errorf("agent: --kubelet-address %q: %w", cfg.KubeletAddress, err)
	}
	if cfg.RouteProtocol > 255 {
		return nil, fmt.Errorf("agent: route protocol %d: want 0-255", cfg.RouteProtocol)
	}
	if cfg.StatsInterval < 0 {
		return nil, fmt.Errorf("agent: stats interval %v: want a positive duration (0 is the default)", cfg.StatsInterval)
	}
	if cfg.NodeIP != "" && net.ParseIP(cfg.NodeIP) == nil {
		return nil, fmt.Errorf("agent: --node-ip %q is not an IP address", cfg.NodeIP)
	}
	for _, c := range []string{cfg.PodCIDR, cfg.ClusterCIDR} {
		if c == "" {
			continue
		}
		if _, err := netip.ParsePrefix(c); err != nil {
			return nil, fmt.Errorf("agent: CIDR %q: %w", c, err)
		}
	}
	for _, d := range cfg.ClusterDNS {
		if net.ParseIP(d) == nil {
			return nil, fmt.Errorf("agent: --cluster-dns %q is not an IP address", d)
		}
	}
	log := deps.Log
	if log == nil {
		return nil, errors.New("agent: Deps.Log is required")
	}
	if err := cfg.setShim(log); err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: log, rc: deps.RESTConfig, creds: deps.Credentials, trace: deps.Trace, started: make(chan struct{})}, nil
}

// handlers finds the runtime binaries.
func (a *Agent) handlers() (map[string]oci.Handler, string, error) {
	hs := map[string]oci.Handler{}
	runc := a.cfg.RuncPath
	if runc == "" {
		p, err := exec.LookPath("runc")
		if err == nil {
			runc = p
		}
	}
	version := ""
	if runc != "" {
		hs["runc"] = oci.Handler{Binary: runc, Root: filepath.Join(a.cfg.RunDir, "runc")}
		if out, err := exec.Command(runc, "--version").Output(); err == nil {
			first := strings.SplitN(string(out), "\n", 2)[0]
			version = "runc://" + strings.TrimSpace(strings.TrimPrefix(first, "runc version"))
		}
	}
	visor := a.cfg.VisorPath
	if visor == "" {
		if exe, err := os.Executable(); err == nil {
			if p := filepath.Join(filepath.Dir(exe), "visor"); isExecutable(p) {
				visor = p
			}
		}
		if visor == "" {
			if p, err := exec.LookPath("visor"); err == nil {
				visor = p
			}
		}
	}
	if visor != "" && isExecutable(visor) {
		hs["visor"] = oci.Handler{Binary: visor, Root: filepath.Join(a.cfg.RunDir, "visor")}
	}
	if _, ok := hs[a.cfg.DefaultRuntime]; !ok {
		return nil, "", fmt.Errorf("default runtime %q: its binary was not found (install runc, or give --default-runtime)", a.cfg.DefaultRuntime)
	}
	if a.cfg.DefaultRuntime != "runc" {
		version = a.cfg.DefaultRuntime + "://" + strings.TrimPrefix(version, "runc://")
	}
	return hs, version, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// restConfig returns how to reach the API server, joining first if
// needed.
func (a *Agent) restConfig(ctx context.Context) (*rest.Config, error) {
	if a.rc != nil {
		return rest.CopyConfig(a.rc), nil
	}
	var ips []net.IP
	if a.cfg.NodeIP != "" {
		ips = append(ips, net.ParseIP(a.cfg.NodeIP))
	}
	ips = append(ips, net.ParseIP("127.0.0.1"))
	dns := []string{a.cfg.NodeName, "localhost"}
	if h, err := os.Hostname(); err == nil && strings.ToLower(h) != a.cfg.NodeName {
		dns = append(dns, strings.ToLower(h))
	}
	creds, err := nodejoin.Ensure(ctx, nodejoin.JoinOptions{
		Server: a.cfg.Server, Token: a.cfg.Token, NodeName: a.cfg.NodeName,
		Dir: filepath.Join(a.cfg.DataDir, "pki"), DNSNames: dns, IPs: ips,
	})
	if err != nil {
		return nil, fmt.Errorf("joining the cluster: %w", err)
	}
	a.creds = creds
	return &rest.Config{
		Host: a.cfg.Server,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: creds.CA, CertFile: creds.ClientCert, KeyFile: creds.ClientKey,
		},
	}, nil
}

// Run starts the agent and runs it until ctx ends. Containers keep
// running when it returns.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.start(ctx); err != nil {
		if a.ln != nil {
			a.ln.Close()
		}
		return err
	}
	close(a.started)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	var side sync.WaitGroup
	defer side.Wait()
	side.Add(2)
	go func() {
		defer side.Done()
		if a.routes != nil {
			a.routes.Run(ctx)
		}
	}()
	go func() {
		defer side.Done()
		a.volumes.Run(ctx)
	}()
	go func() {
		err := a.streams.Serve(ctx, a.ln)
		if err != nil {
			err = fmt.Errorf("kubelet server: %w", err)
		}
		errs <- err
	}()
	go func() { errs <- a.kubelet.Run(ctx) }()
	// Either ending ends the other: an agent without its server (or
	// without its kubelet) is no agent.
	err := <-errs
	cancel()
	if err2 := <-errs; err == nil {
		err = err2
	}
	return err
}

// start builds everything up to a kubelet ready to Run.
func (a *Agent) start(ctx context.Context) error {
	cfg := a.cfg
	for _, d := range []string{cfg.DataDir, cfg.RunDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	rc, err := a.restConfig(ctx)
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "podvisor-agent/" + kubelet.Version + " (" + cfg.NodeName + ")"
	a.rc = rc
	if a.client, err = kubernetes.NewForConfig(rc); err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	a.store, err = image.New(image.Config{Root: image.RootIn(cfg.DataDir), InsecureRegistries: cfg.InsecureRegistries}, image.Deps{Logger: a.log})
	if err != nil {
		return err
	}
	if ims, err := a.store.ImportDir(ctx, image.ArchiveDirIn(cfg.DataDir)); err != nil {
		a.log.Warn("importing image archives", "dir", image.ArchiveDirIn(cfg.DataDir), "err", err)
	} else if len(ims) > 0 {
		a.log.Info("imported image archives", "images", len(ims))
	}
	sbm, err := podsandbox.New(podsandbox.Config{Dir: filepath.Join(cfg.RunDir, "pods"), CgroupRoot: cfg.CgroupRoot})
	if err != nil {
		return err
	}
	hs, version, err := a.handlers()
	if err != nil {
		return err
	}
	a.rt, err = oci.New(oci.Config{
		StateDir: filepath.Join(cfg.DataDir, "runtime"), Handlers: hs, DefaultHandler: cfg.DefaultRuntime,
		ShimPath: cfg.ShimPath, ShimArgs: cfg.ShimArgs,
	}, oci.Deps{Logger: a.log})
	if err != nil {
		return err
	}
	clusterCIDR, _ := netip.ParsePrefix(cfg.ClusterCIDR)
	newNet := func(podCIDR netip.Prefix) (kubelet.Network, error) {
		cc := clusterCIDR
		if !cc.Contains(podCIDR.Addr()) {
			cc = podCIDR
		}
		n, err := podnet.New(podnet.Config{
			BridgeName: cfg.BridgeName, PodCIDR: podCIDR, ClusterCIDR: cc,
			StateDir: filepath.Join(cfg.DataDir, "net"), VethPrefix: cfg.VethPrefix,
		}, podnet.Deps{Logger: a.log})
		if err != nil {
			return nil, err
		}
		a.nets.set(n)
		return kubelet.NewPodNetwork(n), nil
	}
	names := make([]string, 0, len(hs))
	for n := range hs {
		names = append(names, n)
	}
	var port int
	if a.ln, port, err = listenKubelet(cfg.KubeletAddress); err != nil {
		return err
	}
	kc := cfg.Kubelet
	kc.Port = port
	if kc.Hostname == "" {
		// The kubernetes.io/hostname label: volumes' node affinity (local
		// PVs) names nodes by it, so it is the node's name, unique per
		// node even when several agents share a host (tests).
		kc.Hostname = cfg.NodeName
	}
	kc.NodeName, kc.NodeIP, kc.DataDir, kc.PodCIDR = cfg.NodeName, cfg.NodeIP, cfg.DataDir, cfg.PodCIDR
	kc.ClusterDNS, kc.ClusterDomain = cfg.ClusterDNS, cfg.ClusterDomain
	kc.PodManifestPath, kc.ManifestURL = cfg.PodManifestPath, cfg.ManifestURL
	kc.RuntimeHandlers, kc.DefaultRuntimeHandler, kc.RuntimeVersion = names, cfg.DefaultRuntime, version
	kc.SeccompDir = filepath.Join(cfg.DataDir, "seccomp")
	if kc.Labels == nil {
		kc.Labels = map[string]string{}
	}
	for k, v := range cfg.Labels {
		kc.Labels[k] = v
	}
	a.kubelet, err = kubelet.New(kc, kubelet.Deps{
		Client: a.client, Runtime: a.rt, Images: a.store, Sandboxes: sbm, NewNetwork: newNet, Log: a.log, Trace: a.trace,
	})
	if err != nil {
		return err
	}
	if err := a.newStreamServer(); err != nil {
		return err
	}
	if a.volumes, err = localpath.New(localpath.Config{NodeName: cfg.NodeName, Hostname: kc.Hostname},
		localpath.Deps{Client: a.client, Log: a.log.With("component", "localpath")}); err != nil {
		return err
	}
	if cfg.RouteProtocol >= 0 {
		if a.routes, err = noderoute.New(noderoute.Config{NodeName: cfg.NodeName}, noderoute.Deps{
			Client: a.client, Table: noderoute.NewNetlinkTable(nil, cfg.RouteProtocol), Log: a.log.With("component", "noderoute"),
		}); err != nil {
			return err
		}
	}
	a.log.Info("agent started", "node", cfg.NodeName, "runtimes", names, "default", cfg.DefaultRuntime, "dataDir", cfg.DataDir)
	return nil
}

// Kubelet returns the kubelet (a PodLookup for the streaming server);
// nil before Run started it.
func (a *Agent) Kubelet() *kubelet.Kubelet { return a.kubelet }

// Runtime returns the container runtime; nil before Run.
func (a *Agent) Runtime() *oci.Runtime { return a.rt }

// Credentials returns the node's credential files (empty for an
// in-process agent).
func (a *Agent) Credentials() nodejoin.Credentials { return a.creds }

// NodeName is the node this agent runs.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// Started is closed once Run has built the kubelet and runtime (the
// accessors above are usable from then on).
func (a *Agent) Started() <-chan struct{} { return a.started }

// newStreamServer builds the kubelet's HTTPS server over the kubelet's
// pods and the runtime, serving the join's kubelet certificate and
// checking client certificates against the cluster CA.
func (a *Agent) newStreamServer() error {
	cert, err := newServingCert(a.creds.ServingCert, a.creds.ServingKey)
	if err != nil {
		return err
	}
	pool, err := clientCAs(a.creds.CA)
	if err != nil {
		return err
	}
	a.streams, err = stream.New(stream.Config{
		NodeName: a.cfg.NodeName, Address: a.cfg.KubeletAddress, Certificate: cert.get, ClientCAs: pool,
		RootDir: a.cfg.DataDir, ImageFSDir: image.RootIn(a.cfg.DataDir), StatsInterval: a.cfg.StatsInterval,
	}, stream.Deps{
		Pods: a.kubelet, Runtime: a.rt, Network: &a.nets,
		Reviewer: stream.NewAPIReviewer(a.client, nil), Logger: a.log.With("component", "kubelet-server"),
	})
	return err
}
