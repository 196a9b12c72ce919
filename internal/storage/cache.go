package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/btree"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// CacheConfig configures the watch cache of one resource.
type CacheConfig struct {
	// Prefix is the etcd prefix of the resource, ending in "/".
	Prefix string
	// NewObj returns an empty object of the resource's type.
	NewObj func() runtime.Object
	// Attrs returns an object's labels and selectable fields.
	Attrs AttrFunc
	// Window is how many recent events are kept so that a watch can start
	// from a recent revision without etcd; 0 means 4096.
	Window int
	// ProgressInterval is how often the cache asks etcd how far its watch
	// has come; the answer becomes a Bookmark for watchers. 0 means 5s.
	ProgressInterval time.Duration
	// CatchUpTimeout bounds how long a read waits for the cache to reach
	// a revision before failing with ErrTooLarge; 0 means 3s.
	CatchUpTimeout time.Duration
}

// Cache is the watch cache of one resource: every object of the resource
// in memory, kept current by one etcd watch, and a window of recent events.
//
// The owner calls Start once, then Stop, which waits for the cache's
// goroutines. All other methods are safe for concurrent use.
type Cache struct {
	cfg   CacheConfig
	store *Store
	log   *slog.Logger

	stopCtx context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup

	mu sync.Mutex
	// +checklocks:mu
	items *btree.BTreeG[*Entry]
	// rev: the cache reflects every change up to this revision.
	// +checklocks:mu
	rev int64
	// revCh is closed (and replaced) whenever rev advances.
	// +checklocks:mu
	revCh chan struct{}
	// window holds the last events, oldest first, as a ring.
	// +checklocks:mu
	window []change
	// +checklocks:mu
	windowStart, windowLen int
	// windowFrom: the window holds every change after this revision.
	// +checklocks:mu
	windowFrom int64
	// +checklocks:mu
	watchers map[*cacheWatcher]struct{}
	// snapshots keep the state at a revision for a while, for the
	// continue pages of a paginated list.
	// +checklocks:mu
	snapshots []snapshot
	// progressAsked is when the unanswered progress request was made;
	// zero if none is.
	// +checklocks:mu
	progressAsked time.Time
	// ready is closed after the first full list.
	ready chan struct{}
	// watchCtx carries the metadata naming this cache's etcd watch
	// stream, so progress requests reach it.
	watchCtx context.Context
}

type snapshot struct {
	rev   int64
	items *btree.BTreeG[*Entry]
	at    time.Time
}

func lessEntry(a, b *Entry) bool { return a.Key < b.Key }

// NewCache returns a cache over store; call Start to fill it.
func NewCache(cfg CacheConfig, store *Store, log *slog.Logger) *Cache {
	if cfg.Window == 0 {
		cfg.Window = 4096
	}
	if cfg.ProgressInterval == 0 {
		cfg.ProgressInterval = 5 * time.Second
	}
	if cfg.CatchUpTimeout == 0 {
		cfg.CatchUpTimeout = 3 * time.Second
	}
	return &Cache{
		cfg:      cfg,
		store:    store,
		log:      log.With("prefix", cfg.Prefix),
		items:    btree.NewG(32, lessEntry),
		revCh:    make(chan struct{}),
		window:   make([]change, cfg.Window),
		watchers: map[*cacheWatcher]struct{}{},
		ready:    make(chan struct{}),
	}
}

// Start begins filling the cache in the background. Reads wait until the
// first list is loaded.
func (c *Cache) Start(ctx context.Context) {
	c.stopCtx, c.stop = context.WithCancel(ctx)
	c.watchCtx = metadata.AppendToOutgoingContext(clientv3.WithRequireLeader(c.stopCtx), "podvisor-watch-cache", c.cfg.Prefix)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run()
	}()
}

// Stop ends the cache's watch and every watcher, and waits.
func (c *Cache) Stop() {
	c.stop()
	c.wg.Wait()
	c.mu.Lock()
	for w := range c.watchers {
		c.dropLocked(w)
	}
	c.mu.Unlock()
}

// Ready returns a channel closed once the cache holds the resource.
func (c *Cache) Ready() <-chan struct{} { return c.ready }

// run lists and watches until stopped, starting over on watch errors.
func (c *Cache) run() {
	backoff := 100 * time.Millisecond
	for c.stopCtx.Err() == nil {
		err := c.listAndWatch()
		if c.stopCtx.Err() != nil {
			return
		}
		c.log.Info("watch cache restarting", "err", err)
		select {
		case <-time.After(backoff):
		case <-c.stopCtx.Done():
			return
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
}

func (c *Cache) listAndWatch() error {
	items := btree.NewG(32, lessEntry)
	var rev int64
	cont := ""
	for {
		res, err := c.store.List(c.stopCtx, c.cfg.Prefix, ListOptions{Rev: rev, Limit: 5000, Continue: cont}, c.cfg.NewObj, c.cfg.Attrs)
		if err != nil {
			return fmt.Errorf("listing %s: %w", c.cfg.Prefix, err)
		}
		rev = res.Rev
		for _, e := range res.Items {
			items.ReplaceOrInsert(e)
		}
		if res.Continue == "" {
			break
		}
		cont, rev = res.Continue, 0
	}
	c.mu.Lock()
	c.items = items
	c.windowStart, c.windowLen, c.windowFrom = 0, 0, rev
	c.snapshots = nil
	for w := range c.watchers {
		// Their position in the old history means nothing now: they
		// watch again from the revision they saw last.
		c.dropLocked(w)
	}
	c.setRevLocked(rev)
	c.mu.Unlock()
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}

	ctx, cancel := context.WithCancel(c.watchCtx)
	defer cancel()
	wch := c.store.client.Watch(ctx, c.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(),
		clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
	tick := time.NewTicker(c.cfg.ProgressInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stopCtx.Done():
			return nil
		case <-tick.C:
			c.requestProgress()
		case resp, ok := <-wch:
			if !ok {
				return errors.New("etcd watch closed")
			}
			if err := resp.Err(); err != nil {
				return fmt.Errorf("etcd watch: %w", err)
			}
			if resp.IsProgressNotify() {
				c.progress(resp.Header.Revision)
				continue
			}
			changes := make([]change, 0, len(resp.Events))
			for _, ev := range resp.Events {
				ch, err := c.store.toChange(ev, c.cfg.NewObj, c.cfg.Attrs)
				if err != nil {
					// A value we cannot decode: skip it rather than
					// wedge the whole resource, and say so.
					c.log.Error("watch cache skipping undecodable object", "key", string(ev.Kv.Key), "err", err)
					continue
				}
				changes = append(changes, ch)
			}
			c.apply(changes, resp.Header.Revision)
		}
	}
}

func (c *Cache) requestProgress() {
	c.mu.Lock()
	if !c.progressAsked.IsZero() && time.Since(c.progressAsked) < 10*time.Millisecond {
		c.mu.Unlock()
		return
	}
	c.progressAsked = time.Now()
	c.mu.Unlock()
	if err := c.store.client.RequestProgress(c.watchCtx); err != nil {
		c.mu.Lock()
		c.progressAsked = time.Time{}
		c.mu.Unlock()
	}
}

// progress records that every change up to rev has been seen, and tells
// the watchers that want bookmarks.
func (c *Cache) progress(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.progressAsked = time.Time{}
	if rev < c.rev {
		return
	}
	if rev > c.rev {
		c.setRevLocked(rev)
	}
	for w := range c.watchers {
		if w.opts.Bookmarks {
			w.offer(Event{Type: watch.Bookmark, Rev: rev})
		}
	}
}

func (c *Cache) setRevLocked(rev int64) {
	c.rev = rev
	close(c.revCh)
	c.revCh = make(chan struct{})
}

// apply applies a batch of changes from the watch.
func (c *Cache) apply(changes []change, headerRev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		if ch.deleted {
			c.items.Delete(&Entry{Key: ch.prev.Key})
		} else {
			c.items.ReplaceOrInsert(ch.cur)
		}
		// Append to the ring.
		if c.windowLen == len(c.window) {
			c.windowFrom = c.window[c.windowStart].rev
			c.window[c.windowStart] = change{}
			c.windowStart = (c.windowStart + 1) % len(c.window)
			c.windowLen--
		}
		c.window[(c.windowStart+c.windowLen)%len(c.window)] = ch
		c.windowLen++
		for w := range c.watchers {
			if !w.wants(ch) {
				continue
			}
			if ev, ok := filter(w.opts.Predicate, ch, deletedEntry); ok {
				if !w.offer(ev) {
					c.log.Debug("watch cache dropping slow watcher")
					c.dropLocked(w)
				}
			}
		}
	}
	rev := headerRev
	if n := len(changes); n > 0 && changes[n-1].rev > rev {
		rev = changes[n-1].rev
	}
	if rev > c.rev {
		c.setRevLocked(rev)
	}
}

// waitFor waits until the cache reflects revision rev.
func (c *Cache) waitFor(ctx context.Context, rev int64) error {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	var (
		timeout <-chan time.Time
		ask     <-chan time.Time
	)
	for {
		c.mu.Lock()
		if c.rev >= rev {
			c.mu.Unlock()
			return nil
		}
		ch := c.revCh
		c.mu.Unlock()
		if timeout == nil {
			// Nothing may change in this resource for a while: ask
			// etcd to confirm how far the watch has come, and ask
			// again while waiting, since an answer to a request made
			// before rev was written may not cover it.
			c.requestProgress()
			t := time.NewTimer(c.cfg.CatchUpTimeout)
			defer t.Stop()
			timeout = t.C
			tk := time.NewTicker(25 * time.Millisecond)
			defer tk.Stop()
			ask = tk.C
		}
		select {
		case <-ch:
		case <-ask:
			c.requestProgress()
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return newErr(ErrTooLarge, c.cfg.Prefix, fmt.Sprintf("Too large resource version: %d, current: %d", rev, c.Rev()))
		}
	}
}

// Rev returns the revision the cache reflects.
func (c *Cache) Rev() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rev
}

// ReadOptions say how fresh a cached read must be.
type ReadOptions struct {
	// Consistent: at least as fresh as etcd at the time of the call, so
	// the read reflects every write acknowledged before it.
	Consistent bool
	// MinRev: at least this revision (ignored if Consistent).
	MinRev int64
}

func (c *Cache) prepare(ctx context.Context, ro ReadOptions) error {
	rev := ro.MinRev
	if ro.Consistent {
		var err error
		if rev, err = c.store.CurrentRevision(ctx); err != nil {
			return err
		}
	}
	return c.waitFor(ctx, rev)
}

// Get returns the cached entry at key. Errors: ErrNotFound, ErrTooLarge.
func (c *Cache) Get(ctx context.Context, key string, ro ReadOptions) (*Entry, error) {
	if err := c.prepare(ctx, ro); err != nil {
		if ro.Consistent && errors.Is(err, ErrTooLarge) {
			// The cache lags (a stalled watch, an overloaded machine):
			// answer from etcd rather than fail.
			obj := c.cfg.NewObj()
			if err := c.store.Get(ctx, key, obj); err != nil {
				return nil, err
			}
			rev, _ := ResourceVersion(obj)
			return NewEntry(key, obj, rev, c.cfg.Attrs)
		}
		return nil, err
	}
	c.mu.Lock()
	e, ok := c.items.Get(&Entry{Key: key})
	c.mu.Unlock()
	if !ok {
		return nil, newErr(ErrNotFound, key, "")
	}
	return e, nil
}

// Count returns how many objects are under prefix.
func (c *Cache) Count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	c.items.AscendRange(&Entry{Key: prefix}, &Entry{Key: prefixEnd(prefix)}, func(*Entry) bool { n++; return true })
	return n
}

// List lists the objects under prefix. A list with a continue token whose
// revision the cache no longer holds is read from etcd at that revision,
// and so is a list asking for an exact revision (exact).
// Errors: ErrGone, ErrInvalid, ErrTooLarge.
func (c *Cache) List(ctx context.Context, prefix string, opts ListOptions, ro ReadOptions, exact bool) (*ListResult, error) {
	var (
		items *btree.BTreeG[*Entry]
		rev   int64
		start = prefix
	)
	switch {
	case opts.Continue != "":
		s, r, err := DecodeContinue(prefix, opts.Continue)
		if err != nil {
			return nil, err
		}
		start, rev = s, r
		items = c.snapshotAt(rev)
		if items == nil {
			return c.store.List(ctx, prefix, opts, c.cfg.NewObj, c.cfg.Attrs)
		}
		// The snapshot outlives etcd's history: answer as etcd would.
		if err := c.store.checkRevision(ctx, rev); err != nil {
			return nil, err
		}
	case exact:
		return c.store.List(ctx, prefix, opts, c.cfg.NewObj, c.cfg.Attrs)
	default:
		if err := c.prepare(ctx, ro); err != nil {
			if ro.Consistent && errors.Is(err, ErrTooLarge) {
				return c.store.List(ctx, prefix, opts, c.cfg.NewObj, c.cfg.Attrs)
			}
			return nil, err
		}
		c.mu.Lock()
		items, rev = c.items.Clone(), c.rev
		if opts.Limit > 0 {
			c.keepSnapshotLocked(rev, items)
		}
		c.mu.Unlock()
	}
	res := &ListResult{Rev: rev}
	end := &Entry{Key: prefixEnd(prefix)}
	var last *Entry
	more := false
	items.AscendRange(&Entry{Key: start}, end, func(e *Entry) bool {
		if opts.Limit > 0 && int64(len(res.Items)) == opts.Limit {
			more = true
			return false
		}
		if opts.Predicate.MatchesEntry(e) {
			res.Items = append(res.Items, e)
			last = e
		}
		return true
	})
	if more {
		res.Continue = EncodeContinue(prefix, last.Key, rev)
		if opts.Predicate.Empty() {
			n := int64(0)
			items.AscendRange(&Entry{Key: last.Key + "\x00"}, end, func(*Entry) bool { n++; return true })
			res.RemainingItemCount = &n
		}
	}
	return res, nil
}

const snapshotTTL = 75 * time.Second

func (c *Cache) keepSnapshotLocked(rev int64, items *btree.BTreeG[*Entry]) {
	now := time.Now()
	kept := c.snapshots[:0]
	for _, s := range c.snapshots {
		if now.Sub(s.at) < snapshotTTL && s.rev != rev {
			kept = append(kept, s)
		}
	}
	if len(kept) >= 8 {
		kept = kept[1:]
	}
	c.snapshots = append(kept, snapshot{rev: rev, items: items.Clone(), at: now})
}

func (c *Cache) snapshotAt(rev int64) *btree.BTreeG[*Entry] {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.snapshots {
		if s.rev == rev && time.Since(s.at) < snapshotTTL {
			return s.items.Clone()
		}
	}
	return nil
}

// CacheWatchOptions say what a cache watch delivers.
type CacheWatchOptions struct {
	WatchOptions
	// Initial sends the current objects as Added events first, from a
	// state at least as fresh as ReadOptions asks; Rev is then ignored.
	Initial bool
	ReadOptions
	// InitialEventsEnd sends a Bookmark marked InitialEventsEnd after
	// the initial events (sendInitialEvents).
	InitialEventsEnd bool
}

// Watch watches key (or the keys under it, if Recursive). Without Initial
// it delivers the changes after opts.Rev: from the cache's window if it
// still holds them, otherwise from an etcd watch (ErrGone if compacted).
// Errors: ErrGone, ErrTooLarge.
func (c *Cache) Watch(ctx context.Context, key string, opts CacheWatchOptions) (Watcher, error) {
	if opts.Initial {
		if err := c.prepare(ctx, opts.ReadOptions); err != nil {
			return nil, err
		}
	} else if err := c.waitFor(ctx, opts.Rev); err != nil {
		return nil, err
	}
	w := &cacheWatcher{
		key:  key,
		opts: opts.WatchOptions,
		in:   make(chan Event, 1024),
		out:  make(chan Event),
	}
	c.mu.Lock()
	var initial *btree.BTreeG[*Entry]
	var replay []Event
	rev := c.rev
	if opts.Initial {
		initial = c.items.Clone()
	} else {
		if opts.Rev == 0 {
			opts.Rev = rev
		}
		if opts.Rev < rev {
			// Changes after opts.Rev must still be in etcd's history,
			// or the watch is refused as etcd would refuse it, even if
			// the window still holds them.
			c.mu.Unlock()
			if err := c.store.checkRevision(ctx, opts.Rev+1); err != nil {
				if errors.Is(err, ErrGone) {
					// As for an etcd watch: one Error event.
					return errorWatcher(err), nil
				}
				return nil, err
			}
			c.mu.Lock()
		}
		if opts.Rev < c.windowFrom {
			c.mu.Unlock()
			return c.store.Watch(ctx, key, opts.WatchOptions, c.cfg.NewObj, c.cfg.Attrs)
		}
		for i := 0; i < c.windowLen; i++ {
			ch := c.window[(c.windowStart+i)%len(c.window)]
			if ch.rev <= opts.Rev || !w.wants(ch) {
				continue
			}
			if ev, ok := filter(opts.Predicate, ch, deletedEntry); ok {
				replay = append(replay, ev)
			}
		}
	}
	c.watchers[w] = struct{}{}
	c.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.stopFn = func() {
		c.mu.Lock()
		c.dropLocked(w)
		c.mu.Unlock()
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer close(w.out)
		defer w.stopFn()
		send := func(ev Event) bool {
			select {
			case w.out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if initial != nil {
			ok := true
			end := &Entry{Key: key}
			if w.opts.Recursive {
				end = &Entry{Key: prefixEnd(key)}
			} else {
				end = &Entry{Key: key + "\x00"}
			}
			initial.AscendRange(&Entry{Key: key}, end, func(e *Entry) bool {
				if opts.Predicate.MatchesEntry(e) {
					ok = send(Event{Type: watch.Added, Entry: e, Rev: e.Rev})
				}
				return ok
			})
			if !ok {
				return
			}
			if opts.InitialEventsEnd && !send(Event{Type: watch.Bookmark, Rev: rev, InitialEventsEnd: true}) {
				return
			}
		}
		for _, ev := range replay {
			if !send(ev) {
				return
			}
		}
		for {
			select {
			case ev, ok := <-w.in:
				if !ok {
					return
				}
				if !send(ev) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return w, nil
}

// dropLocked unregisters w and closes its input; its goroutine then
// drains what is buffered and ends.
func (c *Cache) dropLocked(w *cacheWatcher) {
	if _, ok := c.watchers[w]; !ok {
		return
	}
	delete(c.watchers, w)
	close(w.in)
}

// cacheWatcher is one watch served from the cache.
type cacheWatcher struct {
	key  string
	opts WatchOptions
	// in is fed by the cache under Cache.mu; closed by dropLocked.
	in     chan Event
	out    chan Event
	cancel context.CancelFunc
	stopFn func()
	wg     sync.WaitGroup
}

// wants reports whether the change concerns the watched key(s).
func (w *cacheWatcher) wants(ch change) bool {
	k := ""
	if ch.cur != nil {
		k = ch.cur.Key
	} else {
		k = ch.prev.Key
	}
	if w.opts.Recursive {
		return strings.HasPrefix(k, w.key)
	}
	return k == w.key
}

// offer queues ev without blocking; false if the watcher is too far
// behind (bookmarks are then simply skipped).
func (w *cacheWatcher) offer(ev Event) bool {
	select {
	case w.in <- ev:
		return true
	default:
		return ev.Type == watch.Bookmark
	}
}

// Events implements Watcher.Events.
func (w *cacheWatcher) Events() <-chan Event { return w.out }

// Stop implements Watcher.Stop.
func (w *cacheWatcher) Stop() {
	w.cancel()
	w.wg.Wait()
}

// errorWatcher is a watch that delivers one Error event and ends.
func errorWatcher(err error) Watcher {
	ch := make(chan Event, 1)
	ch <- Event{Type: watch.Error, Err: err}
	close(ch)
	return chanWatcher(ch)
}

type chanWatcher chan Event

func (c chanWatcher) Events() <-chan Event { return c }
func (c chanWatcher) Stop()                {}
