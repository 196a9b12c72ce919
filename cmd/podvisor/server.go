package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvisor/podvisor/internal/server"
)

func newServerCommand() *cobra.Command {
	var cfg server.Config
	var etcdServers, logLevel, clusterDNS string
	var allocateNodeCIDRs bool
	var notReadySeconds, unreachableSeconds int64
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: embedded etcd (or --etcd-servers) and the API server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			if err := checkAgentFlags(&cfg.Agent); err != nil {
				return err
			}
			cfg.Agent.ClusterDNS = splitList(clusterDNS)
			cfg.ControllerManager.DisableNodeCIDRAllocation = !allocateNodeCIDRs
			// --cluster-cidr (an agent flag) is also where the node
			// controller allocates node pod CIDRs from.
			cfg.ControllerManager.ClusterCIDR = cfg.Agent.ClusterCIDR
			for _, s := range strings.Split(etcdServers, ",") {
				if s = strings.TrimSpace(s); s != "" {
					cfg.EtcdServers = append(cfg.EtcdServers, s)
				}
			}
			cfg.DefaultNotReadyTolerationSeconds, cfg.DefaultUnreachableTolerationSeconds = &notReadySeconds, &unreachableSeconds
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
	f.BoolVar(&cfg.DisableScheduler, "disable-scheduler", false, "do not run the scheduler in this process")
	f.StringVar(&cfg.SchedulerName, "scheduler-name", server.DefaultSchedulerName, "spec.schedulerName of the pods this server's scheduler binds (others are left alone)")
	f.StringVar(&cfg.AdvertiseAddress, "advertise-address", "", "address nodes and pods reach the API server on (default: the host's first address)")
	f.DurationVar(&cfg.CompactionInterval, "etcd-compaction-interval", 0, "how often etcd history is compacted (default 5m)")
	cm := &cfg.ControllerManager
	f.BoolVar(&cfg.DisableControllerManager, "disable-controller-manager", false, "do not run the controller manager in this process")
	f.StringSliceVar(&cm.Controllers, "controllers", []string{"*"}, "controllers to run: '*' for all on by default, 'name' to add one, '-name' to remove one")
	f.DurationVar(&cm.NodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "how long a node may miss Lease renewals before it is marked Unknown")
	f.IntVar(&cm.NodeCIDRMaskSize, "node-cidr-mask-size", 24, "prefix length of each node's pod CIDR")
	f.BoolVar(&allocateNodeCIDRs, "allocate-node-cidrs", true, "allocate each node a pod CIDR from --cluster-cidr")
	f.Float64Var(&cm.NodeEvictionRate, "node-eviction-rate", 0.1, "nodes per second whose pods may be evicted when nodes fail")
	f.StringVar(&cm.LoadBalancerIPPool, "loadbalancer-ip-pool", "", "addresses for LoadBalancer Services: comma-separated CIDRs, ranges a-b and addresses")
	f.StringVar(&cm.LocalPathRoot, "local-path-root", "/var/lib/podvisor/storage", "directory on nodes for podvisor.io/local-path volumes")
	f.Int64Var(&notReadySeconds, "default-not-ready-toleration-seconds", 300, "seconds pods tolerate the node.kubernetes.io/not-ready:NoExecute taint unless they say otherwise")
	f.Int64Var(&unreachableSeconds, "default-unreachable-toleration-seconds", 300, "seconds pods tolerate the node.kubernetes.io/unreachable:NoExecute taint unless they say otherwise")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addAgentFlags(f, &cfg.Agent, &clusterDNS)
	return cmd
}
