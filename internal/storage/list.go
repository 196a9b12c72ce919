package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
)

// ListOptions say which objects a List returns.
type ListOptions struct {
	// Rev reads the objects as of this revision; 0 reads the latest.
	Rev int64
	// Limit caps the number of items returned; 0 means no limit.
	Limit int64
	// Continue resumes a list where a previous page ended (the token that
	// page returned). It fixes the revision; Rev must then be 0.
	Continue string
	// Predicate filters the items.
	Predicate Predicate
}

// ListResult is one page of a list.
type ListResult struct {
	Items []*Entry
	// Rev is the revision the list reflects.
	Rev int64
	// Continue is set when more items may follow.
	Continue string
	// RemainingItemCount estimates the items after this page when no
	// predicate was given; nil otherwise.
	RemainingItemCount *int64
}

// continueToken is the opaque continue value; it has the same shape as
// Kubernetes' so tools that peek at it see what they expect.
type continueToken struct {
	APIVersion string `json:"v"`
	Rev        int64  `json:"rv"`
	// Start is the key to resume from, relative to the list's prefix.
	Start string `json:"start"`
}

// EncodeContinue returns the token that resumes a list under prefix at
// revision rev from the key after lastKey.
func EncodeContinue(prefix, lastKey string, rev int64) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", Rev: rev, Start: strings.TrimPrefix(lastKey, prefix) + "\x00"})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeContinue returns the key to resume from and the revision of a
// continue token for a list under prefix. Errors wrap ErrInvalid.
func DecodeContinue(prefix, token string) (start string, rev int64, err error) {
	data, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", 0, newErr(ErrInvalid, prefix, "continue key is not valid: "+err.Error())
	}
	var t continueToken
	if err := json.Unmarshal(data, &t); err != nil {
		return "", 0, newErr(ErrInvalid, prefix, "continue key is not valid: "+err.Error())
	}
	if t.APIVersion != "meta.k8s.io/v1" {
		return "", 0, newErr(ErrInvalid, prefix, fmt.Sprintf("continue key is not valid: server does not recognize this encoding (%q)", t.APIVersion))
	}
	if t.Rev <= 0 {
		return "", 0, newErr(ErrInvalid, prefix, "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
	}
	if strings.Contains(t.Start, "..") || strings.HasPrefix(t.Start, "/") {
		return "", 0, newErr(ErrInvalid, prefix, "continue key is not valid: bad start key")
	}
	return prefix + t.Start, t.Rev, nil
}

// prefixEnd returns the smallest key greater than every key with prefix.
func prefixEnd(prefix string) string {
	return clientv3.GetPrefixRangeEnd(prefix)
}

// List reads objects under prefix from etcd. A continue token from a
// compacted revision gives ErrGone.
// Errors: ErrGone, ErrInvalid, ErrTooLarge.
func (s *Store) List(ctx context.Context, prefix string, opts ListOptions, newObj func() runtime.Object, attrs AttrFunc) (*ListResult, error) {
	start, rev := prefix, opts.Rev
	if opts.Continue != "" {
		if opts.Rev != 0 {
			return nil, newErr(ErrInvalid, prefix, "specifying resource version is not allowed when using continue")
		}
		var err error
		start, rev, err = DecodeContinue(prefix, opts.Continue)
		if err != nil {
			return nil, err
		}
	}
	end := prefixEnd(prefix)
	res := &ListResult{}
	// Fetch pages of at least Limit keys until Limit matching items are
	// found or the prefix is exhausted.
	batch := opts.Limit
	if batch > 0 && batch < 100 && !opts.Predicate.Empty() {
		batch = 100
	}
	for {
		ropts := []clientv3.OpOption{clientv3.WithRange(end)}
		if rev > 0 {
			ropts = append(ropts, clientv3.WithRev(rev))
		}
		if batch > 0 {
			ropts = append(ropts, clientv3.WithLimit(batch+1))
		}
		resp, err := s.client.Get(ctx, start, s.readOpts(ropts...)...)
		if err != nil {
			return nil, wrapEtcd(prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		kvs := resp.Kvs
		more := batch > 0 && int64(len(kvs)) > batch
		if more {
			kvs = kvs[:batch]
		}
		for i, kv := range kvs {
			obj := newObj()
			if err := s.decode(string(kv.Key), kv.Value, kv.ModRevision, obj); err != nil {
				return nil, err
			}
			e, err := NewEntry(string(kv.Key), obj, kv.ModRevision, attrs)
			if err != nil {
				return nil, err
			}
			if !opts.Predicate.MatchesEntry(e) {
				continue
			}
			res.Items = append(res.Items, e)
			if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit && (more || i < len(kvs)-1) {
				res.Rev = rev
				res.Continue = EncodeContinue(prefix, string(kv.Key), rev)
				if opts.Predicate.Empty() {
					n := resp.Count - int64(i) - 1
					res.RemainingItemCount = &n
				}
				return res, nil
			}
		}
		if !more {
			res.Rev = rev
			return res, nil
		}
		start = string(kvs[len(kvs)-1].Key) + "\x00"
	}
}
