package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/podvisor/podvisor/internal/server"
)

func newServerCommand() *cobra.Command {
	var cfg server.Config
	var etcdServers, logLevel, clusterDNS string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: embedded etcd (or --etcd-servers) and the API server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg.Agent.ClusterDNS = splitList(clusterDNS)
			for _, s := range strings.Split(etcdServers, ",") {
				if s = strings.TrimSpace(s); s != "" {
					cfg.EtcdServers = append(cfg.EtcdServers, s)
				}
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.Run(ctx, cfg, server.Deps{Log: log})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir, "directory for etcd data, certificates and admin.kubeconfig")
	f.IntVar(&cfg.Port, "https-listen-port", 6443, "HTTPS port of the API server")
	f.StringVar(&cfg.BindAddress, "bind-address", "0.0.0.0", "address the API server listens on")
	f.StringSliceVar(&cfg.TLSSANs, "tls-san", nil, "extra host name or IP for the serving certificate (repeatable)")
	f.StringVar(&etcdServers, "etcd-servers", "", "comma-separated client URLs of an external etcd cluster (default: run an embedded member)")
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.43.0.0/16", "range of Service cluster IPs")
	f.StringVar(&cfg.NodePortRange, "service-node-port-range", "30000-32767", "range of Service node ports")
	f.StringVar(&cfg.TokenFile, "token-file", "", "static bearer tokens, CSV: token,user,uid,\"group1,group2\"")
	f.BoolVar(&cfg.DisableAgent, "disable-agent", false, "do not run a node agent in this process")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "address nodes and pods reach the API server on (default: the host's first address)")
	f.DurationVar(&cfg.CompactionInterval, "etcd-compaction-interval", 0, "how often etcd history is compacted (default 5m)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addAgentFlags(f, &cfg.Agent, &clusterDNS)
	return cmd
}
