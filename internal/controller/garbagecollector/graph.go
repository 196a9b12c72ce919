package garbagecollector

import (
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// objectRef identifies an object: an owner reference plus the namespace
// (the dependent's namespace for owners named by ownerReferences, "" for
// cluster-scoped objects).
type objectRef struct {
	APIVersion, Kind, Namespace, Name string
	UID                               types.UID
}

func (r objectRef) String() string {
	return fmt.Sprintf("%s/%s %s/%s (uid %s)", r.APIVersion, r.Kind, r.Namespace, r.Name, r.UID)
}

// node is one object in the ownership graph.
type node struct {
	id objectRef
	// owners are the object's ownerReferences as last observed.
	owners []metav1.OwnerReference
	// dependents are the nodes that name this one as an owner.
	dependents map[*node]bool
	// virtual: the node was made from an ownerReference, the object itself
	// has not been observed (it may not exist).
	virtual bool
	// beingDeleted: the object has a deletionTimestamp.
	beingDeleted bool
	// deletingDependents: being deleted with the foregroundDeletion
	// finalizer: it waits for its blocking dependents.
	deletingDependents bool
	// orphaning: being deleted with the orphan finalizer.
	orphaning bool
}

// snapshot is a copy of a node for a worker to act on without the lock.
type snapshot struct {
	id                 objectRef
	owners             []metav1.OwnerReference
	virtual            bool
	beingDeleted       bool
	deletingDependents bool
	orphaning          bool
	dependents         []dependent
}

// dependent is one dependent of a snapshot's node.
type dependent struct {
	id                 objectRef
	deletingDependents bool
	// blocking: its ownerReference to the snapshot's node has
	// blockOwnerDeletion=true.
	blocking bool
}

// graph is the ownership graph. Only the graph builder (one goroutine)
// changes it; workers read snapshots.
type graph struct {
	mu sync.RWMutex
	// +checklocks:mu
	byUID map[types.UID]*node
}

func newGraph() *graph { return &graph{byUID: map[types.UID]*node{}} }

func (g *graph) snapshot(uid types.UID) (snapshot, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n, ok := g.byUID[uid]
	if !ok {
		return snapshot{}, false
	}
	s := snapshot{
		id: n.id, owners: append([]metav1.OwnerReference(nil), n.owners...), virtual: n.virtual,
		beingDeleted: n.beingDeleted, deletingDependents: n.deletingDependents, orphaning: n.orphaning,
	}
	for d := range n.dependents {
		dep := dependent{id: d.id, deletingDependents: d.deletingDependents}
		for _, o := range d.owners {
			if o.UID == n.id.UID && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
				dep.blocking = true
			}
		}
		s.dependents = append(s.dependents, dep)
	}
	return s, true
}

// len returns the number of nodes (for tests and logs).
func (g *graph) len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.byUID)
}

// eventType is what happened to an object.
type eventType int

const (
	addOrUpdate eventType = iota
	deleted
)

// event is one observed change, or a virtual deletion injected by a
// worker that found an object gone.
type event struct {
	typ eventType
	// id identifies the object (its kind from the informer's resource).
	id objectRef
	// meta is the object's metadata for addOrUpdate.
	meta metav1.Object
}

// queues is where the graph builder sends work.
type queues interface {
	attemptToDelete(uid types.UID)
	attemptToOrphan(uid types.UID)
}

// apply changes the graph for ev and enqueues what must be looked at.
func (g *graph) apply(ev *event, q queues) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch ev.typ {
	case deleted:
		g.remove(ev.id.UID, q)
	case addOrUpdate:
		g.upsert(ev, q)
	}
}

// +checklocks:g.mu
func (g *graph) remove(uid types.UID, q queues) {
	n, ok := g.byUID[uid]
	if !ok {
		return
	}
	delete(g.byUID, uid)
	for _, o := range n.owners {
		owner, ok := g.byUID[o.UID]
		if !ok {
			continue
		}
		delete(owner.dependents, n)
		// An owner waiting for its dependents may be free now.
		if owner.deletingDependents {
			q.attemptToDelete(owner.id.UID)
		}
	}
	// Its dependents lost an owner: they may be garbage.
	for d := range n.dependents {
		q.attemptToDelete(d.id.UID)
	}
}

// +checklocks:g.mu
func (g *graph) upsert(ev *event, q queues) {
	m := ev.meta
	uid := ev.id.UID
	n, exists := g.byUID[uid]
	if !exists {
		n = &node{id: ev.id, dependents: map[*node]bool{}}
		g.byUID[uid] = n
	} else if n.virtual {
		// (Dependents observed before their owner were linked to this
		// virtual node and stay linked.)
		// The owner named by references is real after all. If the
		// references named it wrongly (another kind), its dependents must
		// be looked at again.
		n.virtual = false
		if n.id.Kind != ev.id.Kind || n.id.APIVersion != ev.id.APIVersion {
			for d := range n.dependents {
				q.attemptToDelete(d.id.UID)
			}
		}
		n.id = ev.id
	}
	n.id = ev.id

	newOwners := m.GetOwnerReferences()
	added, removed, changed := diffOwners(n.owners, newOwners)
	n.owners = append([]metav1.OwnerReference(nil), newOwners...)
	for _, o := range added {
		g.link(n, o, ev.id.Namespace, q)
	}
	for _, o := range removed {
		if owner, ok := g.byUID[o.UID]; ok {
			delete(owner.dependents, n)
			if owner.deletingDependents {
				q.attemptToDelete(owner.id.UID)
			}
		}
	}
	// A dependent that stopped blocking its owner may free it.
	for _, o := range changed {
		if owner, ok := g.byUID[o.UID]; ok && owner.deletingDependents {
			q.attemptToDelete(owner.id.UID)
		}
	}

	n.beingDeleted = m.GetDeletionTimestamp() != nil
	wasDeletingDependents := n.deletingDependents
	n.deletingDependents = n.beingDeleted && hasFinalizer(m, metav1.FinalizerDeleteDependents)
	n.orphaning = n.beingDeleted && hasFinalizer(m, metav1.FinalizerOrphanDependents)
	if n.orphaning {
		q.attemptToOrphan(uid)
	}
	if n.deletingDependents {
		// Foreground deletion: its dependents go first; it goes when the
		// blocking ones are gone.
		if !wasDeletingDependents {
			for d := range n.dependents {
				q.attemptToDelete(d.id.UID)
			}
		}
		q.attemptToDelete(uid)
	}
	// A new object is not looked at by itself: an owner not in the graph
	// became a virtual node, which a worker checks (its dependents are
	// looked at if it is gone); an owner in the graph is looked at when
	// it goes.
}

// link records n as a dependent of owner o, creating a virtual node for an
// owner not observed yet (and asking a worker to check that it exists).
// +checklocks:g.mu
func (g *graph) link(n *node, o metav1.OwnerReference, namespace string, q queues) {
	owner, ok := g.byUID[o.UID]
	if !ok {
		owner = &node{
			id:         objectRef{APIVersion: o.APIVersion, Kind: o.Kind, Namespace: namespace, Name: o.Name, UID: o.UID},
			dependents: map[*node]bool{},
			virtual:    true,
		}
		g.byUID[o.UID] = owner
		q.attemptToDelete(o.UID)
	}
	owner.dependents[n] = true
	if owner.deletingDependents {
		q.attemptToDelete(n.id.UID)
	}
}

// diffOwners compares owner references by UID: added, removed, and kept
// ones whose blockOwnerDeletion changed.
func diffOwners(old, cur []metav1.OwnerReference) (added, removed, changed []metav1.OwnerReference) {
	oldBy := map[types.UID]metav1.OwnerReference{}
	for _, o := range old {
		oldBy[o.UID] = o
	}
	curBy := map[types.UID]bool{}
	for _, c := range cur {
		curBy[c.UID] = true
		o, ok := oldBy[c.UID]
		if !ok {
			added = append(added, c)
			continue
		}
		if blocks(o) != blocks(c) {
			changed = append(changed, c)
		}
	}
	for _, o := range old {
		if !curBy[o.UID] {
			removed = append(removed, o)
		}
	}
	return added, removed, changed
}

func blocks(o metav1.OwnerReference) bool {
	return o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion
}

func hasFinalizer(m metav1.Object, f string) bool {
	for _, x := range m.GetFinalizers() {
		if x == f {
			return true
		}
	}
	return false
}
