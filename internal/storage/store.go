package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Codec turns objects into etcd values and back.
//
// Encode and Decode are called concurrently. Encode must be deterministic
// (equal objects give equal bytes): GuaranteedUpdate skips writes that
// change nothing by comparing bytes.
type Codec interface {
	Encode(obj runtime.Object) ([]byte, error)
	Decode(data []byte, into runtime.Object) error
}

// Config configures a Store.
type Config struct {
	// Codec encodes objects for etcd.
	Codec Codec
	// SerializableReads makes reads skip etcd's read-index round (a
	// linearizable read). Only safe with a single etcd member that is the
	// one this process writes through: then every acknowledged write is
	// already applied on the member that serves the read.
	SerializableReads bool
}

// Store reads and writes objects in etcd. It is safe for concurrent use.
type Store struct {
	client       *clientv3.Client
	codec        Codec
	serializable bool
	log          *slog.Logger
}

// New returns a Store over client.
func New(cfg Config, client *clientv3.Client, log *slog.Logger) *Store {
	return &Store{client: client, codec: cfg.Codec, serializable: cfg.SerializableReads, log: log}
}

// Client returns the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.client }

// Key returns the etcd key of an object. group is "" for the core group;
// namespace is "" for cluster-scoped objects; name "" gives the prefix of a
// namespace's (or the whole resource's) objects, ending in "/".
func Key(group, resource, namespace, name string) string {
	var b strings.Builder
	b.WriteString("/registry/")
	if group == "" {
		group = "core"
	}
	b.WriteString(group)
	b.WriteByte('/')
	b.WriteString(resource)
	b.WriteByte('/')
	if namespace != "" {
		b.WriteString(namespace)
		b.WriteByte('/')
	}
	b.WriteString(name)
	return b.String()
}

// SideKey is an extra key written in the same transaction as an object, e.g.
// the record that a cluster IP is allocated to a Service.
type SideKey struct {
	Key string
	// Value is written; nil deletes the key.
	Value []byte
	// MustBeAbsent makes the transaction fail with ErrSideKeyTaken if the
	// key exists.
	MustBeAbsent bool
}

// Preconditions must hold on the stored object for an update or delete.
type Preconditions struct {
	UID             *types.UID
	ResourceVersion *string
}

// Check returns an error wrapping ErrConflict if p does not hold on obj;
// a nil p always holds.
func (p *Preconditions) Check(key string, obj runtime.Object) error {
	if p == nil {
		return nil
	}
	a, err := meta.Accessor(obj)
	if err != nil {
		return fmt.Errorf("checking preconditions of %s: %w", key, err)
	}
	if p.UID != nil && *p.UID != a.GetUID() {
		return newErr(ErrConflict, key, fmt.Sprintf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, a.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != a.GetResourceVersion() {
		return newErr(ErrConflict, key, fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, a.GetResourceVersion()))
	}
	return nil
}

// SetResourceVersion sets obj's resourceVersion to rev (0 clears it).
func SetResourceVersion(obj runtime.Object, rev int64) error {
	a, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if rev == 0 {
		a.SetResourceVersion("")
	} else {
		a.SetResourceVersion(strconv.FormatInt(rev, 10))
	}
	return nil
}

// ResourceVersion returns obj's resourceVersion as a revision; 0 if unset.
func ResourceVersion(obj runtime.Object) (int64, error) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return 0, err
	}
	return ParseResourceVersion(a.GetResourceVersion())
}

// ParseResourceVersion parses a resourceVersion string; "" is 0. A value
// that is not a non-negative integer wraps ErrInvalid.
func ParseResourceVersion(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, &Error{Err: ErrInvalid, Key: "resourceVersion", Msg: fmt.Sprintf("invalid resource version %q", rv)}
	}
	return n, nil
}

// encode encodes obj for etcd without its resourceVersion (the revision
// is the truth) and restores it afterwards.
func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	a, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := a.GetResourceVersion()
	a.SetResourceVersion("")
	data, err := s.codec.Encode(obj)
	a.SetResourceVersion(rv)
	return data, err
}

func (s *Store) decode(key string, data []byte, rev int64, into runtime.Object) error {
	if err := s.codec.Decode(data, into); err != nil {
		return fmt.Errorf("decoding %s: %w", key, err)
	}
	return SetResourceVersion(into, rev)
}

func (s *Store) readOpts(opts ...clientv3.OpOption) []clientv3.OpOption {
	if s.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	return opts
}

// wrapEtcd maps etcd errors onto the sentinels.
func wrapEtcd(key string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, rpctypes.ErrCompacted) || errors.Is(err, rpctypes.ErrGRPCCompacted) {
		return newErr(ErrGone, key, err.Error())
	}
	if errors.Is(err, rpctypes.ErrFutureRev) || errors.Is(err, rpctypes.ErrGRPCFutureRev) {
		return newErr(ErrTooLarge, key, err.Error())
	}
	return fmt.Errorf("etcd request on %s: %w", key, err)
}

func sideOps(side []SideKey) (cmps []clientv3.Cmp, ops []clientv3.Op, checks []clientv3.Op) {
	for _, sk := range side {
		if sk.MustBeAbsent {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(sk.Key), "=", 0))
			checks = append(checks, clientv3.OpGet(sk.Key, clientv3.WithCountOnly()))
		}
		if sk.Value == nil {
			ops = append(ops, clientv3.OpDelete(sk.Key))
		} else {
			ops = append(ops, clientv3.OpPut(sk.Key, string(sk.Value)))
		}
	}
	return cmps, ops, checks
}

// takenSideKey returns the first side key found present in the Else
// responses of a failed transaction, whose first response is about the
// object's own key.
func takenSideKey(side []SideKey, resps []*etcdserverpb.ResponseOp) string {
	i := 1
	for _, sk := range side {
		if !sk.MustBeAbsent {
			continue
		}
		if i < len(resps) && resps[i].GetResponseRange().GetCount() > 0 {
			return sk.Key
		}
		i++
	}
	return ""
}

// Create stores obj under key if the key is absent, together with the side
// keys. On success obj's resourceVersion is set to the new revision.
// Errors: ErrExists, ErrSideKeyTaken.
func (s *Store) Create(ctx context.Context, key string, obj runtime.Object, side ...SideKey) (int64, error) {
	data, err := s.encode(obj)
	if err != nil {
		return 0, fmt.Errorf("encoding %s: %w", key, err)
	}
	scmps, sops, schecks := sideOps(side)
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, scmps...)
	ops := append([]clientv3.Op{clientv3.OpPut(key, string(data))}, sops...)
	txn := s.client.Txn(ctx).If(cmps...).Then(ops...)
	if len(schecks) > 0 {
		txn = txn.Else(append([]clientv3.Op{clientv3.OpGet(key, clientv3.WithCountOnly())}, schecks...)...)
	}
	resp, err := txn.Commit()
	if err != nil {
		return 0, wrapEtcd(key, err)
	}
	if !resp.Succeeded {
		if len(schecks) > 0 && resp.Responses[0].GetResponseRange().GetCount() == 0 {
			return 0, newErr(ErrSideKeyTaken, takenSideKey(side, resp.Responses), "")
		}
		return 0, newErr(ErrExists, key, "")
	}
	rev := resp.Header.Revision
	return rev, SetResourceVersion(obj, rev)
}

// Get reads the object at key into into, with its resourceVersion set.
// Errors: ErrNotFound.
func (s *Store) Get(ctx context.Context, key string, into runtime.Object) error {
	resp, err := s.client.Get(ctx, key, s.readOpts()...)
	if err != nil {
		return wrapEtcd(key, err)
	}
	if len(resp.Kvs) == 0 {
		return newErr(ErrNotFound, key, "")
	}
	kv := resp.Kvs[0]
	return s.decode(key, kv.Value, kv.ModRevision, into)
}

// CurrentRevision returns etcd's current revision: every write
// acknowledged before the call has a revision at most this.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "/registry/", s.readOpts(clientv3.WithCountOnly(), clientv3.WithLimit(1))...)
	if err != nil {
		return 0, wrapEtcd("/registry/", err)
	}
	return resp.Header.Revision, nil
}

// UpdateFunc computes the next state of an object from its current state
// (a copy the function may change). It returns the new object and the side
// keys to write with it; returning an error aborts the update with it.
type UpdateFunc func(cur runtime.Object) (next runtime.Object, side []SideKey, err error)

// GuaranteedUpdate reads the object at key, applies try and writes the
// result if the object did not change meanwhile, retrying with the fresh
// object until it succeeds. cached, if not nil, is a possibly stale copy
// used for the first attempt, saving a read. newObj returns an empty object
// of the stored type. If try returns an object equal to the current one
// nothing is written and the current object is returned.
// Errors: ErrNotFound, ErrConflict (preconditions), ErrSideKeyTaken, or
// whatever try returned.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, newObj func() runtime.Object, pre *Preconditions, try UpdateFunc, cached runtime.Object) (runtime.Object, error) {
	var (
		cur       runtime.Object
		curData   []byte
		curRev    int64
		fromCache bool
	)
	read := func() error {
		resp, err := s.client.Get(ctx, key, s.readOpts()...)
		if err != nil {
			return wrapEtcd(key, err)
		}
		if len(resp.Kvs) == 0 {
			return newErr(ErrNotFound, key, "")
		}
		return s.setCur(key, resp.Kvs[0].Value, resp.Kvs[0].ModRevision, newObj, &cur, &curData, &curRev)
	}
	if cached != nil {
		rev, err := ResourceVersion(cached)
		if err == nil && rev > 0 {
			cur, curRev, fromCache = cached, rev, true
		}
	}
	if !fromCache {
		if err := read(); err != nil {
			return nil, err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := pre.Check(key, cur); err != nil {
			if fromCache {
				fromCache = false
				if err := read(); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		next, side, err := try(cur.DeepCopyObject())
		if err != nil {
			if fromCache {
				fromCache = false
				if err := read(); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		data, err := s.encode(next)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", key, err)
		}
		if fromCache {
			curData, err = s.encode(cur)
			if err != nil {
				return nil, fmt.Errorf("encoding %s: %w", key, err)
			}
		}
		if bytes.Equal(data, curData) && len(side) == 0 {
			if fromCache {
				// The cache may be stale: confirm against etcd before
				// answering that nothing changed.
				fromCache = false
				if err := read(); err != nil {
					return nil, err
				}
				continue
			}
			return cur, nil
		}
		scmps, sops, schecks := sideOps(side)
		cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", curRev)}, scmps...)
		ops := append([]clientv3.Op{clientv3.OpPut(key, string(data))}, sops...)
		elses := append([]clientv3.Op{clientv3.OpGet(key)}, schecks...)
		resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(elses...).Commit()
		if err != nil {
			return nil, wrapEtcd(key, err)
		}
		if !resp.Succeeded {
			got := resp.Responses[0].GetResponseRange()
			if len(got.Kvs) == 0 {
				return nil, newErr(ErrNotFound, key, "")
			}
			if got.Kvs[0].ModRevision == curRev {
				return nil, newErr(ErrSideKeyTaken, takenSideKey(side, resp.Responses), "")
			}
			fromCache = false
			if err := s.setCur(key, got.Kvs[0].Value, got.Kvs[0].ModRevision, newObj, &cur, &curData, &curRev); err != nil {
				return nil, err
			}
			continue
		}
		if err := SetResourceVersion(next, resp.Header.Revision); err != nil {
			return nil, err
		}
		return next, nil
	}
}

func (s *Store) setCur(key string, data []byte, rev int64, newObj func() runtime.Object, cur *runtime.Object, curData *[]byte, curRev *int64) error {
	obj := newObj()
	if err := s.decode(key, data, rev, obj); err != nil {
		return err
	}
	*cur, *curData, *curRev = obj, data, rev
	return nil
}

// DeleteFunc checks that the current object may be deleted and returns the
// side keys to write with the deletion (e.g. releasing a cluster IP).
type DeleteFunc func(cur runtime.Object) (side []SideKey, err error)

// Delete removes the object at key if the preconditions and check hold on
// its current state, retrying if it changes meanwhile. It returns the
// deleted object as it was last stored. check may be nil.
// Errors: ErrNotFound, ErrConflict, or whatever check returned.
func (s *Store) Delete(ctx context.Context, key string, newObj func() runtime.Object, pre *Preconditions, check DeleteFunc, cached runtime.Object) (runtime.Object, error) {
	var (
		cur    runtime.Object
		curRev int64
	)
	read := func() error {
		resp, err := s.client.Get(ctx, key, s.readOpts()...)
		if err != nil {
			return wrapEtcd(key, err)
		}
		if len(resp.Kvs) == 0 {
			return newErr(ErrNotFound, key, "")
		}
		var ignored []byte
		return s.setCur(key, resp.Kvs[0].Value, resp.Kvs[0].ModRevision, newObj, &cur, &ignored, &curRev)
	}
	fromCache := false
	if cached != nil {
		if rev, err := ResourceVersion(cached); err == nil && rev > 0 {
			cur, curRev, fromCache = cached, rev, true
		}
	}
	if !fromCache {
		if err := read(); err != nil {
			return nil, err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := pre.Check(key, cur)
		var side []SideKey
		if err == nil && check != nil {
			side, err = check(cur)
		}
		if err != nil {
			if fromCache {
				fromCache = false
				if err := read(); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		_, sops, _ := sideOps(side)
		ops := append([]clientv3.Op{clientv3.OpDelete(key)}, sops...)
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", curRev)).
			Then(ops...).Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return nil, wrapEtcd(key, err)
		}
		if !resp.Succeeded {
			got := resp.Responses[0].GetResponseRange()
			if len(got.Kvs) == 0 {
				return nil, newErr(ErrNotFound, key, "")
			}
			fromCache = false
			var ignored []byte
			if err := s.setCur(key, got.Kvs[0].Value, got.Kvs[0].ModRevision, newObj, &cur, &ignored, &curRev); err != nil {
				return nil, err
			}
			continue
		}
		return cur, nil
	}
}

// GetSide reads side keys under prefix, returning their keys and values.
func (s *Store) GetSide(ctx context.Context, prefix string) (map[string][]byte, error) {
	resp, err := s.client.Get(ctx, prefix, s.readOpts(clientv3.WithPrefix())...)
	if err != nil {
		return nil, wrapEtcd(prefix, err)
	}
	out := make(map[string][]byte, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = kv.Value
	}
	return out, nil
}

// checkRevision returns ErrGone if etcd no longer holds revision rev (it
// was compacted).
func (s *Store) checkRevision(ctx context.Context, rev int64) error {
	_, err := s.client.Get(ctx, "/registry/", s.readOpts(clientv3.WithRev(rev), clientv3.WithCountOnly(), clientv3.WithLimit(1))...)
	return wrapEtcd("/registry/", err)
}
