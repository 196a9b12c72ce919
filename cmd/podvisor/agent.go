package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/podvisor/podvisor/internal/agent"
	"github.com/podvisor/podvisor/internal/kubelet/noderoute"
)

// addAgentFlags binds the node agent's flags (shared by `podvisor agent`
// and the agent `podvisor server` runs).
func addAgentFlags(f *pflag.FlagSet, cfg *agent.Config, clusterDNS *string) {
	f.StringVar(&cfg.NodeName, "node-name", "", "this node's name (default: the host name)")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "this node's address (default: the address of the default route)")
	f.StringVar(&cfg.PodCIDR, "pod-cidr", cfg.PodCIDR, "pod address range of this node, used until the node controller assigns one")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", "", "every node's pod range: not masqueraded, and (server) where node pod CIDRs are allocated from (default 10.42.0.0/16)")
	f.StringVar(&cfg.PodManifestPath, "pod-manifest-path", "", "directory of static pod manifests (default <data-dir>/manifests)")
	f.StringVar(&cfg.ManifestURL, "manifest-url", "", "URL polled for static pod manifests")
	f.StringSliceVar(&cfg.InsecureRegistries, "insecure-registry", nil, "registry host[:port] pulled from over plain HTTP (repeatable)")
	f.StringVar(&cfg.DefaultRuntime, "default-runtime", "runc", "runtime handler of pods without a RuntimeClass: runc or visor")
	f.StringVar(clusterDNS, "cluster-dns", "", "comma-separated cluster DNS server addresses for pods' resolv.conf")
	f.StringVar(&cfg.RunDir, "run-dir", "", "runtime state on a tmpfs: pod sandboxes, runc state (default /run/podvisor)")
	f.StringVar(&cfg.BridgeName, "bridge-name", "", "the node's pod bridge (default pv0)")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", "", "cgroup under which pods are placed (default /podvisor)")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", "cluster.local", "the cluster's DNS domain")
	f.StringVar(&cfg.KubeletAddress, "kubelet-address", agent.DefaultKubeletAddress, "host:port of the kubelet's HTTPS server (logs, exec, port-forward, stats); port 0 picks a free one")
	f.IntVar(&cfg.RouteProtocol, "route-protocol", noderoute.Protocol,
		"routing protocol number (5-255) marking the routes this agent makes to other nodes' pod CIDRs (it deletes stale routes of this protocol only); -1 disables node routes")
	f.DurationVar(&cfg.StatsInterval, "stats-interval", defaultStatsInterval,
		"how often container CPU usage is sampled for usageNanoCores (/stats/summary, metrics API, kubectl top); at least 1s")
}

// defaultStatsInterval is --stats-interval's default; minStatsInterval
// its least value.
const (
	defaultStatsInterval = 10 * time.Second
	minStatsInterval     = time.Second
)

// checkAgentFlags checks the agent flags whose range the agent does not
// check itself, with messages naming the flag.
func checkAgentFlags(cfg *agent.Config) error {
	switch p := cfg.RouteProtocol; {
	case p == -1:
	case p < -1 || p > 255:
		return fmt.Errorf("--route-protocol %d: want a routing protocol number 5-255, or -1 to disable node routes", p)
	case p <= 4:
		return fmt.Errorf("--route-protocol %d: 0-4 are the kernel's and administrators' (unspec, redirect, kernel, boot, static) and the agent deletes stale routes of its protocol: want 5-255, or -1 to disable node routes", p)
	}
	if cfg.StatsInterval < minStatsInterval {
		return fmt.Errorf("--stats-interval %v: want at least %v", cfg.StatsInterval, minStatsInterval)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newLogger returns the process's logger at level and routes client-go's
// klog output through it, so a server or agent logs in one format.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	klog.SetSlogLogger(log)
	return log, nil
}

func newAgentCommand() *cobra.Command {
	var cfg agent.Config
	var clusterDNS, logLevel string
	cmd := &cobra.Command{
		Use:   "agent --server URL --token TOKEN",
		Short: "Run a node agent (kubelet) that joins a cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			if err := checkAgentFlags(&cfg); err != nil {
				return err
			}
			cfg.ClusterDNS = splitList(clusterDNS)
			if cfg.Token == "" {
				cfg.Token = os.Getenv("PODVISOR_TOKEN")
			}
			a, err := agent.New(cfg, agent.Deps{Log: log})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "the API server's URL, https://host:port")
	f.StringVar(&cfg.Token, "token", "", "join token from `podvisor token create` (or $PODVISOR_TOKEN); not needed once joined")
	f.StringVar(&cfg.DataDir, "data-dir", defaultAgentDataDir, "agent data directory")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addAgentFlags(f, &cfg, &clusterDNS)
	return cmd
}
