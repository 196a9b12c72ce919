package reconcile

import (
	"sync"
	"time"
)

// Expectations remember, per controller key, how many creations and
// deletions the controller has asked for but its informers have not yet
// observed. A controller that has outstanding expectations must not act on
// its (stale) cache: it would create or delete twice. Expectations expire
// after a timeout so a lost watch event cannot wedge a controller forever.
//
// The pattern: before creating n objects, ExpectCreations(key, n); the
// informer's add handler calls CreationObserved(key); Reconcile starts with
// `if !exp.Satisfied(key) { return nil }` (the observing handler requeues
// the key). Safe for concurrent use.
type Expectations struct {
	timeout time.Duration
	now     func() time.Time

	mu sync.Mutex
	// +checklocks:mu
	byKey map[string]*expectation
}

type expectation struct {
	adds, dels int
	// delUIDs are deletions tracked by object UID (ExpectDeletionsOf):
	// only the deletion of one of these objects satisfies them, so a
	// deletion made by someone else is not mistaken for ours.
	delUIDs map[string]bool
	at      time.Time
}

// NewExpectations returns expectations that expire after timeout (5 minutes
// is Kubernetes' choice). now is the clock; nil means time.Now.
func NewExpectations(timeout time.Duration, now func() time.Time) *Expectations {
	if now == nil {
		now = time.Now
	}
	return &Expectations{timeout: timeout, now: now, byKey: map[string]*expectation{}}
}

// ExpectCreations records that n creations for key are in flight, replacing
// earlier expectations of key.
func (e *Expectations) ExpectCreations(key string, n int) { e.set(key, n, 0) }

// ExpectDeletions records that n deletions for key are in flight, replacing
// earlier expectations of key.
func (e *Expectations) ExpectDeletions(key string, n int) { e.set(key, 0, n) }

func (e *Expectations) set(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byKey[key] = &expectation{adds: adds, dels: dels, at: e.now()}
}

// ExpectDeletionsOf records that the objects with these UIDs are being
// deleted for key, replacing earlier expectations of key. Only
// DeletionObservedOf with one of these UIDs lowers them.
func (e *Expectations) ExpectDeletionsOf(key string, uids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]bool, len(uids))
	for _, u := range uids {
		m[u] = true
	}
	e.byKey[key] = &expectation{delUIDs: m, at: e.now()}
}

// Expect records that n creations and the deletions of the objects with
// uids are in flight for key together, replacing earlier expectations.
func (e *Expectations) Expect(key string, n int, uids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := make(map[string]bool, len(uids))
	for _, u := range uids {
		m[u] = true
	}
	e.byKey[key] = &expectation{adds: n, delUIDs: m, at: e.now()}
}

// DeletionObservedOf records that the object with uid is gone (or going:
// it has a deletionTimestamp) or that its deletion request failed. A uid
// that key does not expect is ignored.
func (e *Expectations) DeletionObservedOf(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		delete(x.delUIDs, uid)
	}
}

// CreationObserved lowers key's expected creations by one; also call it
// when a creation request failed, since no event will come for it.
func (e *Expectations) CreationObserved(key string) { e.lower(key, 1, 0) }

// DeletionObserved lowers key's expected deletions by one; also call it
// when a deletion request failed.
func (e *Expectations) DeletionObserved(key string) { e.lower(key, 0, 1) }

func (e *Expectations) lower(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.byKey[key]; ok {
		x.adds -= adds
		x.dels -= dels
	}
}

// Satisfied reports whether key has no outstanding expectations (none
// recorded, all observed, or expired).
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.byKey[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && x.dels <= 0 && len(x.delUIDs) == 0 || e.now().Sub(x.at) > e.timeout {
		delete(e.byKey, key)
		return true
	}
	return false
}

// Forget drops key's expectations, e.g. when its object is deleted.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.byKey, key)
}
