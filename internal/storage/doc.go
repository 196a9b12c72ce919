// Package storage keeps API objects in etcd and serves them back fast.
//
// Store talks to etcd directly. Every object lives under one key,
// /registry/<group>/<resource>/<namespace>/<name> (the core group is written
// as "core", cluster-scoped objects have no namespace segment; the caller
// builds keys with Key). An object's resourceVersion is the etcd mod revision
// of its key: Create is a transaction on "key absent", updates and deletes
// are compare-and-swap on the mod revision, so a write that raced with
// another gets ErrConflict (the API's 409) unless it runs inside
// GuaranteedUpdate, which re-reads and retries. A write returns only after
// etcd committed and applied it.
//
// Cache is a watch cache for one resource: one etcd watch keeps an in-memory
// copy of every object of the resource and a window of recent events, from
// which it serves LIST, GET and WATCH without touching etcd. Objects handed
// out by the cache are shared: callers must deep-copy before changing them.
//
// Errors are the sentinels below, wrapped with context; test them with
// errors.Is. Only internal/apiserver, internal/server and tests import this
// package.
//
// Lock order: Cache.mu before cacheWatcher.mu.
package storage
