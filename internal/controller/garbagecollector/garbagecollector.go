// Package garbagecollector is the garbage collector: it deletes objects
// whose owners (metadata.ownerReferences) are gone, and carries out the
// three deletion propagation policies the API server records as
// finalizers:
//
//   - background (default): the owner is deleted at once; the collector
//     then deletes its dependents (their owners are all gone);
//   - foreground (finalizer foregroundDeletion): the owner stays, with a
//     deletionTimestamp, until its dependents with blockOwnerDeletion are
//     gone; the collector deletes them (themselves in the foreground when
//     they have dependents), then removes the finalizer;
//   - orphan (finalizer orphan): the collector removes the owner's
//     reference from each dependent, then the finalizer.
//
// It watches every resource discovery lists with list, watch and delete
// (but events) through metadata-only informers on the manager's shared
// metadata informer factory, keeps a graph of owners and dependents built
// by one goroutine from their events, and re-reads discovery periodically
// to watch new resources. Before deleting anything it reads the object and
// its owners from the API server (never trusting a cache), with deletion
// preconditions on uid and resourceVersion.
//
// Only the controller manager imports it.
package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/lru"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Config tunes the collector.
type Config struct {
	// Workers delete (and orphan) concurrently (default 20).
	Workers int
	// DiscoveryPeriod is how often discovery is re-read for new resources
	// (default 30s).
	DiscoveryPeriod time.Duration
	// SyncTimeout bounds the wait for a resource's informer to list
	// before the collector starts anyway (default 1m).
	SyncTimeout time.Duration
}

// Deps are the collector's collaborators.
type Deps struct {
	// Metadata reads, patches and deletes any resource.
	Metadata metadata.Interface
	// Informers is the shared metadata informer factory.
	Informers metadatainformer.SharedInformerFactory
	// Discovery lists the served resources (cached; the collector
	// invalidates it each period).
	Discovery discovery.CachedDiscoveryInterface
	// Log is required.
	Log *slog.Logger
	// Mapper maps kinds to resources; nil means one built on Discovery
	// (and reset when discovery changes).
	Mapper meta.RESTMapper
}

// ignored are resources never collected (as Kubernetes: events).
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// Controller is the garbage collector.
type Controller struct {
	cfg    Config
	md     metadata.Interface
	mdInf  metadatainformer.SharedInformerFactory
	disc   discovery.CachedDiscoveryInterface
	mapper meta.RESTMapper
	reset  func()
	log    *slog.Logger

	graph   *graph
	q       queues
	changes workqueue.TypedInterface[*event]
	deleteQ *reconcile.Controller
	orphanQ *reconcile.Controller
	// absent remembers owners (by uid) known not to exist, so the pods of
	// a deleted ReplicaSet do not each read it again.
	absent *lru.Cache

	monMu sync.Mutex
	// +checklocks:monMu
	monitors map[schema.GroupVersionResource]*monitor
}

// monitor is the informer handler of one resource.
type monitor struct {
	kind     schema.GroupVersionKind
	informer cache.SharedIndexInformer
	reg      cache.ResourceEventHandlerRegistration
}

// New returns the collector. It does no I/O: Run discovers resources.
func New(cfg Config, deps Deps) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 20
	}
	if cfg.DiscoveryPeriod <= 0 {
		cfg.DiscoveryPeriod = 30 * time.Second
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = time.Minute
	}
	if deps.Metadata == nil || deps.Informers == nil || deps.Discovery == nil || deps.Log == nil {
		return nil, errors.New("garbage collector: Metadata, Informers, Discovery and Log are required")
	}
	gc := &Controller{
		cfg: cfg, md: deps.Metadata, mdInf: deps.Informers, disc: deps.Discovery,
		mapper:   deps.Mapper,
		reset:    func() {},
		log:      deps.Log,
		graph:    newGraph(),
		changes:  workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[*event]{Name: "garbagecollector_graph_changes"}),
		absent:   lru.New(4096),
		monitors: map[schema.GroupVersionResource]*monitor{},
	}
	gc.q = gcQueues{gc}
	if gc.mapper == nil {
		m := restmapper.NewDeferredDiscoveryRESTMapper(deps.Discovery)
		gc.mapper, gc.reset = m, m.Reset
	}
	gc.deleteQ = reconcile.New("garbagecollector_attempt_to_delete", gc.attemptToDelete, reconcile.Options{Workers: cfg.Workers, Logger: deps.Log})
	gc.orphanQ = reconcile.New("garbagecollector_attempt_to_orphan", gc.attemptToOrphan, reconcile.Options{Workers: max(cfg.Workers/4, 1), Logger: deps.Log})
	return gc, nil
}

// queues implementation: the graph builder enqueues by uid.
type gcQueues struct{ gc *Controller }

func (q gcQueues) attemptToDelete(uid types.UID) { q.gc.deleteQ.Enqueue(string(uid)) }
func (q gcQueues) attemptToOrphan(uid types.UID) { q.gc.orphanQ.Enqueue(string(uid)) }

// Run discovers resources, builds the graph, and collects garbage until
// ctx is done.
func (gc *Controller) Run(ctx context.Context) {
	gc.log.Info("starting garbage collector")
	var wg sync.WaitGroup
	defer wg.Wait()
	defer gc.changes.ShutDown()

	wg.Add(1)
	go func() {
		defer wg.Done()
		gc.buildGraph()
	}()
	if err := gc.resync(ctx); err != nil {
		gc.log.Error("garbage collector discovery failed; retrying each period", "err", err)
	}
	gc.waitForSync(ctx)
	if ctx.Err() != nil {
		return
	}
	gc.log.Info("garbage collector caches synced", "resources", gc.monitorCount(), "objects", gc.graph.len())
	wg.Add(2)
	go func() { defer wg.Done(); gc.deleteQ.Run(ctx) }()
	go func() { defer wg.Done(); gc.orphanQ.Run(ctx) }()

	t := time.NewTicker(gc.cfg.DiscoveryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			gc.disc.Invalidate()
			if err := gc.resync(ctx); err != nil {
				gc.log.Debug("garbage collector rediscovery failed", "err", err)
			}
		}
	}
}

func (gc *Controller) monitorCount() int {
	gc.monMu.Lock()
	defer gc.monMu.Unlock()
	return len(gc.monitors)
}

// buildGraph applies graph changes one at a time until the queue shuts
// down.
func (gc *Controller) buildGraph() {
	for {
		ev, quit := gc.changes.Get()
		if quit {
			return
		}
		gc.graph.apply(ev, gc.q)
		gc.changes.Done(ev)
	}
}

// deletableResources returns the resources to watch.
func (gc *Controller) deletableResources() (map[schema.GroupVersionResource]bool, error) {
	lists, err := discovery.ServerPreferredResources(gc.disc)
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovering resources: %w", err)
	}
	// A partial failure (one group unavailable) still watches the rest.
	lists = discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"delete", "list", "watch"}}, lists)
	gvrs, gerr := discovery.GroupVersionResources(lists)
	if gerr != nil {
		return nil, fmt.Errorf("parsing discovery: %w", gerr)
	}
	out := map[schema.GroupVersionResource]bool{}
	for gvr := range gvrs {
		if !ignored[gvr.GroupResource()] {
			out[gvr] = true
		}
	}
	return out, err
}

// resync watches newly discovered resources and stops handling vanished
// ones.
func (gc *Controller) resync(ctx context.Context) error {
	want, err := gc.deletableResources()
	if want == nil {
		return err
	}
	gc.monMu.Lock()
	defer gc.monMu.Unlock()
	changed := false
	for gvr := range want {
		if _, ok := gc.monitors[gvr]; !ok {
			changed = true
		}
	}
	for gvr := range gc.monitors {
		if !want[gvr] {
			changed = true
		}
	}
	if !changed {
		return err
	}
	gc.reset()
	var added []string
	for gvr := range want {
		if _, ok := gc.monitors[gvr]; ok {
			continue
		}
		kind, kerr := gc.mapper.KindFor(gvr)
		if kerr != nil {
			gc.log.Debug("no kind for resource; not watching it", "resource", gvr.String(), "err", kerr)
			continue
		}
		inf := gc.mdInf.ForResource(gvr).Informer()
		m := &monitor{kind: kind, informer: inf}
		reg, herr := inf.AddEventHandler(gc.handler(kind))
		if herr != nil {
			gc.log.Error("watching resource", "resource", gvr.String(), "err", herr)
			continue
		}
		m.reg = reg
		gc.monitors[gvr] = m
		added = append(added, gvr.String())
	}
	for gvr, m := range gc.monitors {
		if !want[gvr] {
			_ = m.informer.RemoveEventHandler(m.reg)
			delete(gc.monitors, gvr)
			gc.log.Info("no longer watching resource", "resource", gvr.String())
		}
	}
	if len(added) > 0 {
		sort.Strings(added)
		gc.log.Debug("garbage collector watching resources", "added", added)
	}
	gc.mdInf.Start(ctx.Done())
	return err
}

func (gc *Controller) waitForSync(ctx context.Context) {
	gc.monMu.Lock()
	var synced []cache.InformerSynced
	for _, m := range gc.monitors {
		synced = append(synced, m.reg.HasSynced)
	}
	gc.monMu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, gc.cfg.SyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), synced...) && ctx.Err() == nil {
		gc.log.Error("some garbage collector informers did not sync in time; starting anyway", "timeout", gc.cfg.SyncTimeout)
	}
}

// handler turns informer events of one kind into graph changes.
func (gc *Controller) handler(kind schema.GroupVersionKind) cache.ResourceEventHandler {
	add := func(obj any) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		gc.changes.Add(&event{typ: addOrUpdate, id: refOf(kind, m), meta: m})
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    add,
		UpdateFunc: func(_, cur any) { add(cur) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			m, err := meta.Accessor(obj)
			if err != nil {
				return
			}
			gc.changes.Add(&event{typ: deleted, id: refOf(kind, m)})
		},
	}
}

func refOf(kind schema.GroupVersionKind, m metav1.Object) objectRef {
	return objectRef{
		APIVersion: kind.GroupVersion().String(), Kind: kind.Kind,
		Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID(),
	}
}
