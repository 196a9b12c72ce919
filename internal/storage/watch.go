package storage

import (
	"context"
	"fmt"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Event is one watch event.
type Event struct {
	// Type is Added, Modified, Deleted, Bookmark or Error.
	Type watch.EventType
	// Entry is the object for Added, Modified and Deleted. A Deleted
	// entry is the object's last state with the deletion's revision.
	Entry *Entry
	// Rev is the event's revision (a Bookmark's: every event up to it has
	// been delivered).
	Rev int64
	// Err is set for Error events; it wraps ErrGone when the watch started
	// from a compacted revision.
	Err error
	// InitialEventsEnd marks the Bookmark that ends a watch's initial
	// events (sendInitialEvents).
	InitialEventsEnd bool
}

// Watcher is a running watch.
//
// Events delivers events in revision order and is closed when the watch
// ends: after Stop, when its context ends, after an Error event, or when the
// store ends the watch (a slow consumer; the client then watches again from
// the last revision it saw). Stop may be called more than once, from any
// goroutine.
type Watcher interface {
	Events() <-chan Event
	Stop()
}

// WatchOptions say what a watch delivers.
type WatchOptions struct {
	// Rev: deliver the changes after this revision.
	Rev int64
	// Recursive watches every key under the prefix, not just the key.
	Recursive bool
	// Predicate filters events. An object that stops matching is
	// delivered as Deleted, one that starts matching as Added.
	Predicate Predicate
	// Bookmarks asks for Bookmark events.
	Bookmarks bool
}

// change is one key change as the etcd watch reports it.
type change struct {
	rev     int64
	cur     *Entry // nil for a deletion
	prev    *Entry // nil for a creation
	deleted bool
}

// filter turns a change into the event a watch with predicate p sees, if
// any.
func filter(p Predicate, c change, deletedEntry func(*Entry, int64) *Entry) (Event, bool) {
	prevOK := c.prev != nil && p.MatchesEntry(c.prev)
	if c.deleted {
		if !prevOK {
			return Event{}, false
		}
		return Event{Type: watch.Deleted, Entry: deletedEntry(c.prev, c.rev), Rev: c.rev}, true
	}
	curOK := p.MatchesEntry(c.cur)
	switch {
	case curOK && prevOK:
		return Event{Type: watch.Modified, Entry: c.cur, Rev: c.rev}, true
	case curOK:
		return Event{Type: watch.Added, Entry: c.cur, Rev: c.rev}, true
	case prevOK:
		return Event{Type: watch.Deleted, Entry: c.cur, Rev: c.rev}, true
	}
	return Event{}, false
}

// deletedEntry returns a copy of e as the Deleted event shows it: the last
// state with the revision of the deletion.
func deletedEntry(e *Entry, rev int64) *Entry {
	obj := e.Obj.DeepCopyObject()
	_ = SetResourceVersion(obj, rev)
	return &Entry{Key: e.Key, Obj: obj, Rev: rev, Labels: e.Labels, Fields: e.Fields}
}

// etcdWatcher is a Watcher fed by an etcd watch.
type etcdWatcher struct {
	out    chan Event
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (w *etcdWatcher) Events() <-chan Event { return w.out }

func (w *etcdWatcher) Stop() {
	w.cancel()
	w.wg.Wait()
}

// Watch watches key (or every key under it, if opts.Recursive) in etcd from
// the revision after opts.Rev. A compacted revision gives an Error event
// wrapping ErrGone.
func (s *Store) Watch(ctx context.Context, key string, opts WatchOptions, newObj func() runtime.Object, attrs AttrFunc) (Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	w := &etcdWatcher{out: make(chan Event, 100), cancel: cancel}
	wopts := []clientv3.OpOption{clientv3.WithPrevKV(), clientv3.WithRev(opts.Rev + 1)}
	if opts.Recursive {
		wopts = append(wopts, clientv3.WithPrefix())
	}
	if opts.Bookmarks {
		wopts = append(wopts, clientv3.WithProgressNotify())
	}
	wch := s.client.Watch(clientv3.WithRequireLeader(ctx), key, wopts...)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer close(w.out)
		send := func(ev Event) bool {
			select {
			case w.out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if resp.CompactRevision != 0 {
					err = newErr(ErrGone, key, fmt.Sprintf("too old resource version: %d (%d)", opts.Rev, resp.CompactRevision))
				} else {
					err = wrapEtcd(key, err)
				}
				send(Event{Type: watch.Error, Err: err})
				return
			}
			if resp.IsProgressNotify() {
				if opts.Bookmarks && !send(Event{Type: watch.Bookmark, Rev: resp.Header.Revision}) {
					return
				}
				continue
			}
			for _, ev := range resp.Events {
				c, err := s.toChange(ev, newObj, attrs)
				if err != nil {
					send(Event{Type: watch.Error, Err: err})
					return
				}
				if fe, ok := filter(opts.Predicate, c, deletedEntry); ok {
					if !send(fe) {
						return
					}
				}
			}
		}
	}()
	return w, nil
}

func (s *Store) toChange(ev *clientv3.Event, newObj func() runtime.Object, attrs AttrFunc) (change, error) {
	key := string(ev.Kv.Key)
	c := change{rev: ev.Kv.ModRevision, deleted: ev.Type == mvccpb.DELETE}
	if ev.PrevKv != nil {
		obj := newObj()
		if err := s.decode(key, ev.PrevKv.Value, ev.PrevKv.ModRevision, obj); err != nil {
			return c, err
		}
		e, err := NewEntry(key, obj, ev.PrevKv.ModRevision, attrs)
		if err != nil {
			return c, fmt.Errorf("attributes of %s: %w", key, err)
		}
		c.prev = e
	}
	if !c.deleted {
		obj := newObj()
		if err := s.decode(key, ev.Kv.Value, ev.Kv.ModRevision, obj); err != nil {
			return c, err
		}
		e, err := NewEntry(key, obj, ev.Kv.ModRevision, attrs)
		if err != nil {
			return c, fmt.Errorf("attributes of %s: %w", key, err)
		}
		c.cur = e
	}
	return c, nil
}
