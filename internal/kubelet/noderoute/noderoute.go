// Package noderoute makes the host's routes to other nodes' pod CIDRs
// exactly what the Route controller published for this node in the Node
// annotation podvisor.io/routes (internal/controller/route, and
// docs/infra-controllers.md): it adds the missing ones, replaces those
// whose gateway changed and deletes the stale ones, over netlink.
//
// Only routes it made are ever replaced or deleted: they carry the route
// protocol Protocol (or the one the Table was made with). A route to a destination the host already reaches
// another way (a connected route, someone else's route) is left alone and
// logged, and so is a route whose gateway is one of this host's own
// addresses (another node on this very host: its pods are on a local
// bridge already).
//
// Only the agent wiring, tests and benchmarks import it.
package noderoute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/podvisor/podvisor/internal/controller/route"
)

// Protocol is the route protocol (rtm_protocol) of the routes this
// package makes; "ip route" shows it as "proto 112".
const Protocol = 112

// Route is one route: traffic to Dst goes via Gateway.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
}

func (r Route) String() string { return r.Dst.String() + " via " + r.Gateway.String() }

// ErrExists is returned by Table.Add when a route to the destination
// exists already.
var ErrExists = errors.New("a route to the destination exists")

// Table is the host's routing table as Sync needs it. NetlinkTable is
// the real one. Methods are called from one goroutine at a time.
type Table interface {
	// Owned lists the routes carrying Protocol.
	Owned() ([]Route, error)
	// Add adds r with Protocol; ErrExists (wrapped) if the table already
	// has a route to r.Dst with the same metric.
	Add(r Route) error
	// Replace changes the gateway of our route to r.Dst.
	Replace(r Route) error
	// Delete removes our route r.
	Delete(r Route) error
	// Local reports whether a is an address of this host.
	Local(a netip.Addr) bool
}

// Plan compares the routes wanted with the ones we own: what to add,
// what to replace (same destination, new gateway) and what to delete.
// Wanted routes through one of our own addresses (local) and invalid
// entries are skipped, with a reason each.
func Plan(want []route.Route, owned []Route, local func(netip.Addr) bool) (add, replace, del []Route, skipped []string) {
	w := map[netip.Prefix]netip.Addr{}
	for _, r := range want {
		dst, err := netip.ParsePrefix(r.Destination)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("node %s: destination %q: %v", r.Node, r.Destination, err))
			continue
		}
		gw, err := netip.ParseAddr(r.Gateway)
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("node %s: gateway %q: %v", r.Node, r.Gateway, err))
			continue
		}
		dst = dst.Masked()
		if dst.Addr().Is4() != gw.Is4() {
			skipped = append(skipped, fmt.Sprintf("node %s: %s via %s mixes address families", r.Node, dst, gw))
			continue
		}
		if local != nil && local(gw) {
			skipped = append(skipped, fmt.Sprintf("node %s: gateway %s is this host (its pods are local)", r.Node, gw))
			continue
		}
		w[dst] = gw
	}
	have := map[netip.Prefix]netip.Addr{}
	for _, r := range owned {
		if _, dup := have[r.Dst]; dup {
			del = append(del, r)
			continue
		}
		have[r.Dst] = r.Gateway
		gw, ok := w[r.Dst]
		switch {
		case !ok:
			del = append(del, r)
		case gw != r.Gateway:
			replace = append(replace, Route{Dst: r.Dst, Gateway: gw})
		}
	}
	for dst, gw := range w {
		if _, ok := have[dst]; !ok {
			add = append(add, Route{Dst: dst, Gateway: gw})
		}
	}
	for _, l := range [][]Route{add, replace, del} {
		sort.Slice(l, func(i, j int) bool { return l[i].String() < l[j].String() })
	}
	return add, replace, del, skipped
}

// Sync makes t's routes (those with Protocol) the ones wanted. It goes on
// past a failing route and returns the errors joined.
func Sync(t Table, want []route.Route, log *slog.Logger) error {
	owned, err := t.Owned()
	if err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	add, replace, del, skipped := Plan(want, owned, t.Local)
	for _, s := range skipped {
		log.Debug("node route skipped", "reason", s)
	}
	var errs []error
	for _, r := range del {
		if err := t.Delete(r); err != nil {
			errs = append(errs, fmt.Errorf("deleting route %s: %w", r, err))
			continue
		}
		log.Info("node route deleted", "route", r.String())
	}
	for _, r := range replace {
		if err := t.Replace(r); err != nil {
			errs = append(errs, fmt.Errorf("replacing route %s: %w", r, err))
			continue
		}
		log.Info("node route replaced", "route", r.String())
	}
	for _, r := range add {
		err := t.Add(r)
		if errors.Is(err, ErrExists) {
			// Someone else's route (e.g. the bridge of a node on this
			// host): not ours to replace.
			log.Warn("node route not added: the host has a route to its destination already", "route", r.String())
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("adding route %s: %w", r, err))
			continue
		}
		log.Info("node route added", "route", r.String())
	}
	return errors.Join(errs...)
}

// Config holds the manager's settings.
type Config struct {
	// NodeName is this node.
	NodeName string
	// ResyncPeriod re-applies the routes (someone may have removed
	// them); 0 is one minute. RetryPeriod follows a failed sync; 0 is
	// 5 seconds.
	ResyncPeriod, RetryPeriod time.Duration
}

// Deps are the manager's collaborators.
type Deps struct {
	Client kubernetes.Interface
	Table  Table
	Log    *slog.Logger
}

// Manager keeps the host's node routes in step with this node's Node.
type Manager struct {
	cfg  Config
	deps Deps
}

// New returns a Manager.
func New(cfg Config, deps Deps) (*Manager, error) {
	if cfg.NodeName == "" || deps.Client == nil || deps.Table == nil || deps.Log == nil {
		return nil, errors.New("noderoute: NodeName, Client, Table and Log are required")
	}
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = time.Minute
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = 5 * time.Second
	}
	return &Manager{cfg: cfg, deps: deps}, nil
}

// Run watches this node's Node and syncs the routes on every change of
// its annotation, periodically, and after failures, until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	f := informers.NewSharedInformerFactoryWithOptions(m.deps.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "metadata.name=" + m.cfg.NodeName
	}))
	inf := f.Core().V1().Nodes().Informer()
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { poke() },
		UpdateFunc: func(o, n any) {
			on, ok1 := o.(*corev1.Node)
			nn, ok2 := n.(*corev1.Node)
			if !ok1 || !ok2 || on.Annotations[route.RoutesAnnotation] != nn.Annotations[route.RoutesAnnotation] {
				poke()
			}
		},
	})
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return
	}
	lister := f.Core().V1().Nodes().Lister()
	timer := time.NewTimer(m.cfg.ResyncPeriod)
	defer timer.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-timer.C:
		}
		next := m.cfg.ResyncPeriod
		n, err := lister.Get(m.cfg.NodeName)
		if err == nil {
			err = m.sync(n.Annotations[route.RoutesAnnotation], &last)
		}
		if err != nil {
			m.deps.Log.Warn("syncing node routes", "node", m.cfg.NodeName, "err", err)
			next = m.cfg.RetryPeriod
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// sync applies an annotation value; a missing annotation means no
// routes (only once the controller published none do we remove ours,
// which an absent annotation on a fresh Node also says).
func (m *Manager) sync(value string, last *string) error {
	var want []route.Route
	if value != "" {
		var err error
		if want, err = route.ParseRoutes(value); err != nil {
			return err
		}
	}
	if value != *last {
		m.deps.Log.Info("node routes", "node", m.cfg.NodeName, "routes", len(want))
		*last = value
	}
	return Sync(m.deps.Table, want, m.deps.Log)
}
