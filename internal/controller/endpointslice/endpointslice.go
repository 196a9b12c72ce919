// Package endpointslice is the EndpointSlice controller: for every Service
// with a selector it keeps discovery.k8s.io/v1 EndpointSlices listing the
// selected pods, at most MaxEndpointsPerSlice endpoints per slice, one
// address type and one resolved port set per slice, with the conditions
// ready, serving and terminating, the pod's node name and, for headless
// services, its hostname. Slices carry the labels kubernetes.io/service-name
// and endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io
// and are owned by their Service.
//
// Updates churn little: an endpoint stays in the slice that has it, a
// changed endpoint rewrites only its slice, new endpoints fill slices that
// are being rewritten anyway before an untouched slice or a new one is
// used, and slices that become empty are deleted. A Service with no
// endpoints keeps one empty placeholder slice, as Kubernetes does.
//
// For Services without a selector the controller is Kubernetes'
// EndpointSlice mirroring controller instead: it copies their
// hand-written Endpoints into slices managed by
// endpointslicemirroring-controller.k8s.io, unless the Endpoints carry
// endpointslice.kubernetes.io/skip-mirror=true (as the API server labels
// the `kubernetes` Service's, whose slice is its own to write). Only the
// controller manager imports this package.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/endpoints"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Label values Kubernetes defines for EndpointSlices.
const (
	// ControllerName is the managed-by label's value for our slices.
	ControllerName = "endpointslice-controller.k8s.io"
	// MirrorControllerName is the managed-by label's value for slices
	// mirrored from the Endpoints of Services without selector.
	MirrorControllerName = "endpointslicemirroring-controller.k8s.io"
	// DefaultMaxEndpointsPerSlice is Kubernetes' default
	// --max-endpoints-per-slice.
	DefaultMaxEndpointsPerSlice = 100
)

// Config configures the controller.
type Config struct {
	// MaxEndpointsPerSlice caps each slice (0: 100; the API allows 1000).
	MaxEndpointsPerSlice int
	// Workers reconciling services at once (0: 5).
	Workers int
}

// Controller keeps EndpointSlices in step with Services and pods.
type Controller struct {
	max      int
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	slices   discoverylisters.EndpointSliceLister
	// endpoints are mirrored for Services without selector.
	endpoints corelisters.EndpointsLister
	recorder  record.EventRecorder
	log       *slog.Logger
	ctl       *reconcile.Controller
	tracker   *tracker
}

// New builds the controller and registers its informers (services, pods,
// endpointslices) on d.Informers.
func New(cfg Config, d reconcile.Deps) (*Controller, error) {
	if cfg.MaxEndpointsPerSlice == 0 {
		cfg.MaxEndpointsPerSlice = DefaultMaxEndpointsPerSlice
	}
	if cfg.MaxEndpointsPerSlice < 1 || cfg.MaxEndpointsPerSlice > 1000 {
		return nil, fmt.Errorf("max endpoints per slice %d: must be between 1 and 1000", cfg.MaxEndpointsPerSlice)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	c := &Controller{
		max:       cfg.MaxEndpointsPerSlice,
		client:    d.Client,
		services:  d.Informers.Core().V1().Services().Lister(),
		pods:      d.Informers.Core().V1().Pods().Lister(),
		slices:    d.Informers.Discovery().V1().EndpointSlices().Lister(),
		endpoints: d.Informers.Core().V1().Endpoints().Lister(),
		recorder:  d.Recorder,
		log:       d.Log,
		tracker:   newTracker(d.Clock),
	}
	c.ctl = reconcile.New("endpointslice", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := d.Informers.Core().V1().Services().Informer().AddEventHandler(c.ctl.Handler()); err != nil {
		return nil, fmt.Errorf("watching services: %w", err)
	}
	if _, err := d.Informers.Core().V1().Pods().Informer().AddEventHandler(endpoints.PodHandler(c.services, c.ctl.Enqueue, d.Log)); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	onSlice := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelServiceName] == "" ||
			s.Labels[discoveryv1.LabelManagedBy] != ControllerName && s.Labels[discoveryv1.LabelManagedBy] != MirrorControllerName {
			return
		}
		c.ctl.Enqueue(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
	}
	if _, err := d.Informers.Discovery().V1().EndpointSlices().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onSlice,
		UpdateFunc: func(_, obj any) { onSlice(obj) },
		DeleteFunc: onSlice,
	}); err != nil {
		return nil, fmt.Errorf("watching endpointslices: %w", err)
	}
	// Hand-written Endpoints of selector-less Services are mirrored.
	if _, err := d.Informers.Core().V1().Endpoints().Informer().AddEventHandler(c.ctl.Handler()); err != nil {
		return nil, fmt.Errorf("watching endpoints: %w", err)
	}
	return c, nil
}

// Run reconciles until ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) { c.ctl.Run(ctx) }

// errStale says the slice cache has not yet caught up with our own writes.
var errStale = errors.New("endpointslice cache does not yet reflect this controller's writes")

// Reconcile implements reconcile.Func for the Service named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	all, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	if err != nil {
		return fmt.Errorf("listing endpointslices of %s: %w", key, err)
	}
	var ours, mirror []*discoveryv1.EndpointSlice
	for _, s := range all {
		switch s.Labels[discoveryv1.LabelManagedBy] {
		case ControllerName:
			ours = append(ours, s)
		case MirrorControllerName:
			mirror = append(mirror, s)
		}
	}
	if !c.tracker.satisfied(key, append(append([]*discoveryv1.EndpointSlice{}, ours...), mirror...)) {
		return fmt.Errorf("service %s: %w", key, errStale)
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Owner references would let the garbage collector do this; we
		// do not wait for it.
		for _, s := range append(ours, mirror...) {
			if err := c.delete(ctx, key, s); err != nil {
				return err
			}
		}
		c.tracker.forget(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting service %s: %w", key, err)
	}
	var p Changes
	if svc.Spec.Selector == nil {
		// Mirror the hand-written Endpoints; slices from a former
		// selector go.
		ep, err := c.endpoints.Endpoints(ns).Get(name)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("getting endpoints %s: %w", key, err)
		}
		if err != nil {
			ep = nil
		}
		p = Mirror(svc, ep, mirror, c.max)
		p.Delete = append(p.Delete, ours...)
	} else {
		pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
		if err != nil {
			return fmt.Errorf("listing pods of %s: %w", key, err)
		}
		p = Plan(svc, pods, ours, c.max)
		p.Delete = append(p.Delete, mirror...)
	}
	for _, s := range p.Create {
		base := svc.Name
		if len(base) > 57 {
			base = base[:57]
		}
		var created *discoveryv1.EndpointSlice
		for try := 0; ; try++ {
			s.Name = base + "-" + utilrand.String(5)
			created, err = c.client.DiscoveryV1().EndpointSlices(ns).Create(ctx, s, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) && try < 3 {
				continue
			}
			break
		}
		if err != nil {
			if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "terminat") {
				return nil // the namespace is going away
			}
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for Service %s: %v", key, err)
			return fmt.Errorf("creating endpointslice for %s: %w", key, err)
		}
		c.tracker.created(key, created.Name)
	}
	for _, s := range p.Update {
		if _, err := c.client.DiscoveryV1().EndpointSlices(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for Service %s: %v", key, err)
			}
			return fmt.Errorf("updating endpointslice %s/%s: %w", ns, s.Name, err)
		}
	}
	for _, s := range p.Delete {
		if err := c.delete(ctx, key, s); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) delete(ctx context.Context, key string, s *discoveryv1.EndpointSlice) error {
	err := c.client.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting endpointslice %s/%s: %w", s.Namespace, s.Name, err)
	}
	c.tracker.deleted(key, s.Name)
	return nil
}

// Changes are the writes that bring a Service's slices to the desired
// state.
type Changes struct {
	// Create are new slices, without a name (the caller generates one).
	Create []*discoveryv1.EndpointSlice
	// Update are modified copies of existing slices.
	Update []*discoveryv1.EndpointSlice
	// Delete are existing slices to delete.
	Delete []*discoveryv1.EndpointSlice
}

// group is the set of endpoints that share an address type and ports.
type group struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	eps         map[string]discoveryv1.Endpoint // by address
}

func groupKey(at discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	var b strings.Builder
	b.WriteString(string(at))
	for _, p := range ports {
		fmt.Fprintf(&b, "|%s/%d/%s", deref(p.Name), deref(p.Port), deref(p.Protocol))
	}
	return b.String()
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// desired computes the endpoints of svc over pods, grouped by address type
// and resolved port set. Terminating pods are included (with terminating
// true) so that proxies can drain them.
func desired(svc *corev1.Service, pods []*corev1.Pod) map[string]*group {
	families := map[discoveryv1.AddressType]bool{}
	for _, f := range svc.Spec.IPFamilies {
		if f == corev1.IPv6Protocol {
			families[discoveryv1.AddressTypeIPv6] = true
		} else {
			families[discoveryv1.AddressTypeIPv4] = true
		}
	}
	if len(families) == 0 {
		families[discoveryv1.AddressTypeIPv4] = true
		families[discoveryv1.AddressTypeIPv6] = true
	}
	out := map[string]*group{}
	publish := svc.Spec.PublishNotReadyAddresses
	for _, pod := range pods {
		if !endpoints.IncludePod(pod, true) {
			continue
		}
		var ports []discoveryv1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := endpoints.ResolvePort(pod, sp)
			if !ok {
				continue
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			n := sp.Name
			ports = append(ports, discoveryv1.EndpointPort{Name: &n, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue
		}
		sort.Slice(ports, func(i, j int) bool { return *ports[i].Name < *ports[j].Name })
		ready := endpoints.PodReady(pod)
		terminating := pod.DeletionTimestamp != nil
		for _, ip := range podIPs(pod) {
			at := discoveryv1.AddressTypeIPv4
			if ip.To4() == nil {
				at = discoveryv1.AddressTypeIPv6
			}
			if !families[at] {
				continue
			}
			ep := discoveryv1.Endpoint{
				Addresses: []string{ip.String()},
				Conditions: discoveryv1.EndpointConditions{
					Ready:       ptr(publish || ready && !terminating),
					Serving:     ptr(ready),
					Terminating: ptr(terminating),
				},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			}
			if h := endpoints.Hostname(pod, svc); h != "" {
				ep.Hostname = &h
			}
			if pod.Spec.NodeName != "" {
				ep.NodeName = ptr(pod.Spec.NodeName)
			}
			k := groupKey(at, ports)
			g := out[k]
			if g == nil {
				g = &group{addressType: at, ports: ports, eps: map[string]discoveryv1.Endpoint{}}
				out[k] = g
			}
			g.eps[ip.String()] = ep
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func podIPs(pod *corev1.Pod) []net.IP {
	var out []net.IP
	seen := map[string]bool{}
	add := func(s string) {
		if ip := net.ParseIP(s); ip != nil && !seen[ip.String()] {
			seen[ip.String()] = true
			out = append(out, ip)
		}
	}
	add(pod.Status.PodIP)
	for _, p := range pod.Status.PodIPs {
		add(p.IP)
	}
	return out
}

// Plan returns the writes that turn existing (the Service's slices as
// cached) into the desired slices of svc over pods, with at most max
// endpoints per slice, touching as few slices as it can.
func Plan(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice, max int) Changes {
	return plan(svc, desired(svc, pods), existing, max, sliceMeta(svc, ControllerName, nil), true)
}

// Mirror returns the writes that turn existing (slices this controller
// mirrored for svc) into a copy of ep, the hand-written Endpoints of a
// Service without selector, as Kubernetes' EndpointSlice mirroring
// controller does: each address becomes an endpoint (ready or not),
// grouped by address type and port set. Without Endpoints there is no
// slice; Endpoints labelled endpointslice.kubernetes.io/skip-mirror=true
// are left alone, their slices too (the API server writes both for the
// `kubernetes` Service).
func Mirror(svc *corev1.Service, ep *corev1.Endpoints, existing []*discoveryv1.EndpointSlice, max int) Changes {
	if ep != nil && ep.Labels[discoveryv1.LabelSkipMirror] == "true" {
		// Whoever wrote these Endpoints writes their slices too.
		return Changes{}
	}
	var want map[string]*group
	var epLabels map[string]string
	if ep != nil {
		want = mirrored(ep)
		epLabels = ep.Labels
	}
	return plan(svc, want, existing, max, sliceMeta(svc, MirrorControllerName, epLabels), false)
}

// plan is Plan and Mirror: the writes that turn existing into want.
func plan(svc *corev1.Service, want map[string]*group, existing []*discoveryv1.EndpointSlice, max int, meta metav1.ObjectMeta, keepPlaceholder bool) Changes {
	var ch Changes
	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if !ownedBy(s, svc) {
			ch.Delete = append(ch.Delete, s) // left by an earlier Service of this name
			continue
		}
		k := groupKey(s.AddressType, s.Ports)
		byGroup[k] = append(byGroup[k], s)
	}

	if len(want) == 0 && keepPlaceholder {
		return placeholder(svc, meta, byGroup, ch)
	}

	keys := make([]string, 0, len(byGroup)+len(want))
	for k := range byGroup {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := byGroup[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := want[k]
		slices := byGroup[k]
		sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
		if g == nil {
			ch.Delete = append(ch.Delete, slices...)
			continue
		}
		planGroup(g, slices, meta, svc, max, &ch)
	}
	return ch
}

// mirrored groups the addresses of a hand-written Endpoints object.
func mirrored(ep *corev1.Endpoints) map[string]*group {
	out := map[string]*group{}
	for _, ss := range ep.Subsets {
		var ports []discoveryv1.EndpointPort
		for _, p := range ss.Ports {
			name, port, proto := p.Name, p.Port, p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: p.AppProtocol})
		}
		sort.Slice(ports, func(i, j int) bool { return *ports[i].Name < *ports[j].Name })
		add := func(a corev1.EndpointAddress, ready bool) {
			ip := net.ParseIP(a.IP)
			if ip == nil {
				return
			}
			at := discoveryv1.AddressTypeIPv4
			if ip.To4() == nil {
				at = discoveryv1.AddressTypeIPv6
			}
			e := discoveryv1.Endpoint{
				Addresses:  []string{ip.String()},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready), Serving: ptr(ready), Terminating: ptr(false)},
				NodeName:   a.NodeName,
			}
			if a.Hostname != "" {
				e.Hostname = ptr(a.Hostname)
			}
			if a.TargetRef != nil {
				e.TargetRef = a.TargetRef.DeepCopy()
			}
			k := groupKey(at, ports)
			g := out[k]
			if g == nil {
				g = &group{addressType: at, ports: ports, eps: map[string]discoveryv1.Endpoint{}}
				out[k] = g
			}
			if _, dup := g.eps[ip.String()]; !dup || ready {
				g.eps[ip.String()] = e
			}
		}
		for _, a := range ss.NotReadyAddresses {
			add(a, false)
		}
		for _, a := range ss.Addresses {
			add(a, true)
		}
	}
	return out
}

// planGroup plans one address type and port set.
func planGroup(g *group, slices []*discoveryv1.EndpointSlice, meta metav1.ObjectMeta, svc *corev1.Service, max int, ch *Changes) {
	placed := map[string]bool{}
	type work struct {
		s       *discoveryv1.EndpointSlice
		eps     []discoveryv1.Endpoint
		changed bool
	}
	var ws []*work
	// Keep every endpoint in the slice that has it.
	for _, s := range slices {
		w := &work{s: s}
		for _, ep := range s.Endpoints {
			addr := ""
			if len(ep.Addresses) > 0 {
				addr = ep.Addresses[0]
			}
			want, ok := g.eps[addr]
			if !ok || placed[addr] {
				w.changed = true
				continue
			}
			placed[addr] = true
			if !apiequality.Semantic.DeepEqual(ep, want) {
				w.changed = true
			}
			w.eps = append(w.eps, want)
		}
		if len(w.eps) > max { // the limit was lowered: the overflow moves
			for _, ep := range w.eps[max:] {
				delete(placed, ep.Addresses[0])
			}
			w.eps, w.changed = w.eps[:max], true
		}
		if !labelsEqual(s.Labels, meta.Labels) {
			w.changed = true
		}
		ws = append(ws, w)
	}
	var rest []string
	for addr := range g.eps {
		if !placed[addr] {
			rest = append(rest, addr)
		}
	}
	sort.Strings(rest)
	// New endpoints go first into slices being rewritten anyway...
	for _, w := range ws {
		for w.changed && len(w.eps) < max && len(rest) > 0 {
			w.eps = append(w.eps, g.eps[rest[0]])
			rest = rest[1:]
		}
	}
	// ...then, if all that is left fits, into the fullest untouched slice
	// with room (one update instead of a new slice)...
	if len(rest) > 0 && len(rest) < max {
		var best *work
		for _, w := range ws {
			if !w.changed && len(w.eps)+len(rest) <= max && (best == nil || len(w.eps) > len(best.eps)) {
				best = w
			}
		}
		if best != nil {
			for _, addr := range rest {
				best.eps = append(best.eps, g.eps[addr])
			}
			best.changed, rest = true, nil
		}
	}
	for _, w := range ws {
		switch {
		case !w.changed:
		case len(w.eps) == 0:
			ch.Delete = append(ch.Delete, w.s)
		default:
			s := w.s.DeepCopy()
			s.Labels = meta.Labels
			s.OwnerReferences = meta.OwnerReferences
			s.Endpoints = w.eps
			sortEndpoints(s.Endpoints)
			ch.Update = append(ch.Update, s)
		}
	}
	// ...and the rest into new slices.
	for len(rest) > 0 {
		n := min(len(rest), max)
		s := &discoveryv1.EndpointSlice{ObjectMeta: *meta.DeepCopy(), AddressType: g.addressType, Ports: g.ports}
		for _, addr := range rest[:n] {
			s.Endpoints = append(s.Endpoints, g.eps[addr])
		}
		rest = rest[n:]
		ch.Create = append(ch.Create, s)
	}
}

// placeholder plans the single empty slice a Service with no endpoints
// keeps, reusing an existing empty one.
func placeholder(svc *corev1.Service, meta metav1.ObjectMeta, byGroup map[string][]*discoveryv1.EndpointSlice, ch Changes) Changes {
	at := discoveryv1.AddressTypeIPv4
	if len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		at = discoveryv1.AddressTypeIPv6
	}
	var all []*discoveryv1.EndpointSlice
	for _, ss := range byGroup {
		all = append(all, ss...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	kept := false
	for _, s := range all {
		if !kept && len(s.Endpoints) == 0 && len(s.Ports) == 0 && s.AddressType == at {
			kept = true
			if !labelsEqual(s.Labels, meta.Labels) {
				u := s.DeepCopy()
				u.Labels = meta.Labels
				ch.Update = append(ch.Update, u)
			}
			continue
		}
		ch.Delete = append(ch.Delete, s)
	}
	if !kept {
		ch.Create = append(ch.Create, &discoveryv1.EndpointSlice{ObjectMeta: meta, AddressType: at, Endpoints: []discoveryv1.Endpoint{}})
	}
	return ch
}

func sortEndpoints(eps []discoveryv1.Endpoint) {
	sort.SliceStable(eps, func(i, j int) bool { return eps[i].Addresses[0] < eps[j].Addresses[0] })
}

func labelsEqual(a, b map[string]string) bool { return labels.Equals(a, b) }

func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, o := range s.OwnerReferences {
		if o.Kind == "Service" && o.Name == svc.Name {
			return svc.UID == "" || o.UID == svc.UID
		}
	}
	return len(s.OwnerReferences) == 0
}

// sliceMeta is the metadata of svc's slices: the Service's labels (and
// for mirrored slices, the Endpoints' labels), ours, and a controller
// owner reference to the Service.
func sliceMeta(svc *corev1.Service, managedBy string, extra map[string]string) metav1.ObjectMeta {
	l := map[string]string{}
	for k, v := range svc.Labels {
		l[k] = v
	}
	for k, v := range extra {
		l[k] = v
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = managedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[endpoints.LabelHeadless] = ""
	} else {
		delete(l, endpoints.LabelHeadless)
	}
	return metav1.ObjectMeta{
		Namespace: svc.Namespace,
		Labels:    l,
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
			Controller: ptr(true), BlockOwnerDeletion: ptr(true),
		}},
	}
}

// tracker remembers, per Service, slices this controller created or
// deleted that the informer has not shown yet: acting on such a stale
// cache would create duplicates or resurrect endpoints. Entries expire
// after a minute so a lost event cannot wedge a Service.
type tracker struct {
	clock clock.PassiveClock

	mu sync.Mutex
	// +checklocks:mu
	bySvc map[string]*pending
}

type pending struct {
	created, deleted map[string]bool
	at               time.Time
}

func newTracker(c clock.PassiveClock) *tracker {
	return &tracker{clock: c, bySvc: map[string]*pending{}}
}

func (t *tracker) entry(key string) *pending {
	p := t.bySvc[key]
	if p == nil {
		p = &pending{created: map[string]bool{}, deleted: map[string]bool{}}
		t.bySvc[key] = p
	}
	p.at = t.clock.Now()
	return p
}

func (t *tracker) created(key, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entry(key).created[name] = true
}

func (t *tracker) deleted(key, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.entry(key)
	delete(p.created, name)
	p.deleted[name] = true
}

func (t *tracker) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.bySvc, key)
}

// satisfied reports whether cached shows every write recorded for key.
func (t *tracker) satisfied(key string, cached []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.bySvc[key]
	if p == nil {
		return true
	}
	if t.clock.Since(p.at) > time.Minute {
		delete(t.bySvc, key)
		return true
	}
	have := map[string]bool{}
	for _, s := range cached {
		have[s.Name] = true
	}
	for n := range p.created {
		if !have[n] {
			return false
		}
	}
	for n := range p.deleted {
		if have[n] {
			return false
		}
	}
	delete(t.bySvc, key)
	return true
}
