package storage

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// KV is a key as etcd holds it.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// ReadPrefixes reads every key under each prefix, all at one revision (the
// current one), which it returns: a consistent snapshot of several
// resources, for repairs that compare them.
func (s *Store) ReadPrefixes(ctx context.Context, prefixes ...string) (rev int64, out [][]KV, err error) {
	out = make([][]KV, len(prefixes))
	for i, p := range prefixes {
		opts := []clientv3.OpOption{clientv3.WithPrefix()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, p, s.readOpts(opts...)...)
		if err != nil {
			return 0, nil, wrapEtcd(p, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out[i] = append(out[i], KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision})
		}
	}
	return rev, out, nil
}

// PutKeyIf writes value at key if the key's modification revision is
// still modRev (0: the key must be absent) and, when condKey is not "",
// condKey's is still condRev. It reports whether it wrote.
func (s *Store) PutKeyIf(ctx context.Context, key string, value []byte, modRev int64, condKey string, condRev int64) (bool, error) {
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", modRev)}
	if condKey != "" {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(condKey), "=", condRev))
	}
	resp, err := s.client.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(value))).Commit()
	if err != nil {
		return false, wrapEtcd(key, err)
	}
	return resp.Succeeded, nil
}

// DeleteKeyIf deletes key if its modification revision is still modRev.
// It reports whether it deleted.
func (s *Store) DeleteKeyIf(ctx context.Context, key string, modRev int64) (bool, error) {
	resp, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", modRev)).
		Then(clientv3.OpDelete(key)).Commit()
	if err != nil {
		return false, wrapEtcd(key, err)
	}
	return resp.Succeeded, nil
}
