package storage

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// compactKey coordinates compaction between API servers sharing one etcd:
// its version counts compactions, so only one server compacts per round.
const compactKey = "compact_rev_key"

// RunCompactor compacts etcd's history every interval, keeping at least
// the last interval of it: each round compacts to the revision seen at the
// previous round. Watches and continue tokens older than that get 410.
// It returns when ctx ends.
func RunCompactor(ctx context.Context, client *clientv3.Client, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var version, prevRev int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Record this round (CAS on the key's version) and learn the
		// current revision; whoever wins compacts to the previous one.
		resp, err := client.Txn(ctx).
			If(clientv3.Compare(clientv3.Version(compactKey), "=", version)).
			Then(clientv3.OpPut(compactKey, strconv.FormatInt(prevRev, 10))).
			Else(clientv3.OpGet(compactKey)).Commit()
		if err != nil {
			log.Info("compaction round failed", "err", err)
			continue
		}
		cur := resp.Header.Revision
		if !resp.Succeeded {
			if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
				version = kvs[0].Version
			}
			prevRev = cur
			continue
		}
		version++
		if prevRev > 0 {
			if _, err := client.Compact(ctx, prevRev); err != nil {
				log.Debug("compacting", "rev", prevRev, "err", err)
			} else {
				log.Debug("compacted", "rev", prevRev)
			}
		}
		prevRev = cur
	}
}
