// Package embedded runs a single etcd member inside the podvisor server
// process (go.etcd.io/etcd/server/v3/embed), with its data under a directory
// of the server's data dir, and hands out an in-process client that talks to
// it by function calls instead of gRPC over a socket. Only internal/server and
// tests import it.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"

	"github.com/podvisor/podvisor/internal/storage/etcdlog"
)

// Config says where and how the member runs.
type Config struct {
	// Dir holds the member's data (WAL, snapshots, bbolt database).
	Dir string
	// ClientURL is where the member listens for etcd clients, e.g.
	// "http://127.0.0.1:2379". Empty means 127.0.0.1 on a free port: the
	// server itself uses the in-process client, so the port only serves
	// tools such as etcdctl and tests.
	ClientURL string
	// PeerURL is where the member listens for raft peers; empty means
	// 127.0.0.1 on a free port (a single member never dials it).
	PeerURL string
	// QuotaBytes caps the backend database; 0 means 2 GiB.
	QuotaBytes int64
	// StartTimeout bounds how long Start waits for the member to be ready;
	// 0 means one minute.
	StartTimeout time.Duration
}

// Etcd is a running member.
type Etcd struct {
	e      *embed.Etcd
	client *clientv3.Client
}

// Start starts the member and waits until it serves requests.
//
// The member is tuned for one node on one disk: snapshots every 5000
// writes with 1000 entries kept for catch-up (this bounds the raft log held
// in memory, which dominates etcd's memory), a 2 GiB quota, the map freelist, and no compaction of its own
// (the API server's compactor decides what history to keep, so the same code
// runs against an external cluster). Every write is fsynced before it is
// acknowledged, as etcd always does.
func Start(cfg Config, log *slog.Logger) (*Etcd, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating etcd dir: %w", err)
	}
	ec := embed.NewConfig()
	ec.Name = "podvisor"
	ec.Dir = cfg.Dir
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(etcdlog.New(log))
	ec.LogLevel = "warn"
	ec.SnapshotCount = 5000
	ec.SnapshotCatchUpEntries = 1000
	ec.QuotaBackendBytes = cfg.QuotaBytes
	if ec.QuotaBackendBytes == 0 {
		ec.QuotaBackendBytes = 2 << 30
	}
	ec.BackendFreelistType = "map"
	ec.MaxRequestBytes = 4 << 20 // a 3 MiB object plus its envelope
	ec.WatchProgressNotifyInterval = 5 * time.Second
	ec.AutoCompactionRetention = "0"
	ec.MaxSnapFiles = 2
	ec.MaxWalFiles = 2

	clientURL, peerURL := cfg.ClientURL, cfg.PeerURL
	if clientURL == "" {
		clientURL = "http://127.0.0.1:0"
	}
	if peerURL == "" {
		peerURL = "http://127.0.0.1:0"
	}
	cu, err := url.Parse(clientURL)
	if err != nil {
		return nil, fmt.Errorf("parsing etcd client URL %q: %w", clientURL, err)
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return nil, fmt.Errorf("parsing etcd peer URL %q: %w", peerURL, err)
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("starting etcd: %w", err)
	}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("starting etcd: %w", err)
	case <-time.After(timeout):
		e.Server.Stop()
		e.Close()
		return nil, errors.New("starting etcd: not ready within " + timeout.String())
	}
	return &Etcd{e: e, client: v3client.New(e.Server)}, nil
}

// Client returns the in-process client. It stays valid until Close.
func (e *Etcd) Client() *clientv3.Client { return e.client }

// ClientURLs returns the URLs the member serves etcd clients on, with the
// real ports when they were chosen by the system.
func (e *Etcd) ClientURLs() []string {
	var out []string
	for _, l := range e.e.Clients {
		out = append(out, "http://"+l.Addr().String())
	}
	return out
}

// Err reports a fatal error of the running member.
func (e *Etcd) Err() <-chan error { return e.e.Err() }

// Close stops the member, letting in-flight requests finish.
func (e *Etcd) Close() {
	e.client.Close()
	e.e.Close()
}

// Ping checks that the member answers a read; /readyz uses it.
func (e *Etcd) Ping(ctx context.Context) error {
	_, err := e.client.Get(ctx, "/podvisor-ping", clientv3.WithSerializable(), clientv3.WithCountOnly())
	return err
}
