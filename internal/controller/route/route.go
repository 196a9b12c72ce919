// Package route is the Route controller: it keeps, on every Node, the
// list of routes the node needs to reach the pods of every other node:
// each other node's pod CIDR via that node's InternalIP. The list is
// stored as JSON in the Node annotation podvisor.io/routes (RoutesAnnotation),
// where the node agent, which may read its own Node, finds it and
// programs it with netlink; the agent replaces its routes in the pod
// CIDRs' range with exactly this list. Once a node's own pod CIDR is
// published to the others (it has a pod CIDR and an InternalIP), its
// NetworkUnavailable condition is set False with reason RouteCreated, as
// Kubernetes' route controller does after creating a cloud route.
//
// Why annotations and not a shared table: the node authorizer lets an
// agent read its own Node, not arbitrary ConfigMaps, and the per-node
// list changes only when the set of nodes, their pod CIDRs or addresses
// change; a burst of such changes is coalesced into one rewrite per node.
// The list grows with the cluster: at about 80 bytes a route, the 256 KiB
// annotation limit is reached near 3000 nodes. Only the controller
// manager imports this package.
package route

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// RoutesAnnotation holds a Node's routes, a JSON array of Route.
const RoutesAnnotation = "podvisor.io/routes"

// Route is one route a node installs: Destination via Gateway.
type Route struct {
	// Destination is another node's pod CIDR.
	Destination string `json:"destination"`
	// Gateway is that node's InternalIP.
	Gateway string `json:"gateway"`
	// Node names the other node.
	Node string `json:"node"`
}

// Config configures the controller.
type Config struct {
	// Workers reconciling nodes at once (0: 2).
	Workers int
}

// Controller keeps every Node's routes annotation and
// NetworkUnavailable condition.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	recorder record.EventRecorder
	clock    clock.PassiveClock
	log      *slog.Logger
	ctl      *reconcile.Controller
}

// New builds the controller and registers its node informer.
func New(cfg Config, d reconcile.Deps) (*Controller, error) {
	c := &Controller{
		client:   d.Client,
		nodes:    d.Informers.Core().V1().Nodes().Lister(),
		recorder: d.Recorder,
		clock:    d.Clock,
		log:      d.Log,
	}
	c.ctl = reconcile.New("route", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := d.Informers.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		DeleteFunc: func(any) { c.enqueueAll() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Node)
			n, ok2 := newObj.(*corev1.Node)
			if !ok1 || !ok2 {
				return
			}
			ot, oldOK := target(o)
			nt, newOK := target(n)
			if oldOK != newOK || ot != nt || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) {
				c.enqueueAll() // everyone's routes to this node change
				return
			}
			if o.Annotations[RoutesAnnotation] != n.Annotations[RoutesAnnotation] || networkCondition(o) != networkCondition(n) {
				c.ctl.Enqueue(n.Name)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watching nodes: %w", err)
	}
	return c, nil
}

// fanOutDelay coalesces bursts of node changes (many nodes joining and
// getting pod CIDRs) into one rewrite of every node's routes.
const fanOutDelay = time.Second

// enqueueAll schedules every node's routes for a rewrite, shortly: keys
// waiting in the queue are not added twice.
func (c *Controller) enqueueAll() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		c.ctl.EnqueueAfter(n.Name, fanOutDelay)
	}
}

// Run reconciles until ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) { c.ctl.Run(ctx) }

// target returns the route other nodes need to reach node's pods, and
// whether node has one (a valid pod CIDR and an InternalIP of its family).
func target(node *corev1.Node) (Route, bool) {
	cidrs := node.Spec.PodCIDRs
	if len(cidrs) == 0 && node.Spec.PodCIDR != "" {
		cidrs = []string{node.Spec.PodCIDR}
	}
	for _, cidr := range cidrs {
		ip, _, err := net.ParseCIDR(cidr)
		if err != nil {
			continue
		}
		for _, a := range node.Status.Addresses {
			gw := net.ParseIP(a.Address)
			if a.Type == corev1.NodeInternalIP && gw != nil && (gw.To4() == nil) == (ip.To4() == nil) {
				return Route{Destination: cidr, Gateway: gw.String(), Node: node.Name}, true
			}
		}
	}
	return Route{}, false
}

// Routes returns the routes node needs: one to each other node that has
// a pod CIDR and an InternalIP, sorted by node name.
func Routes(node string, nodes []*corev1.Node) []Route {
	out := []Route{}
	for _, n := range nodes {
		if n.Name == node || n.DeletionTimestamp != nil {
			continue
		}
		if r, ok := target(n); ok {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

// ParseRoutes decodes a RoutesAnnotation value (for the node agent).
func ParseRoutes(s string) ([]Route, error) {
	var out []Route
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", RoutesAnnotation, err)
	}
	return out, nil
}

func networkCondition(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return ""
}

// Reconcile implements reconcile.Func for a node name.
func (c *Controller) Reconcile(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting node %s: %w", name, err)
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	b, err := json.Marshal(Routes(name, nodes))
	if err != nil {
		return fmt.Errorf("encoding routes: %w", err)
	}
	if node.Annotations[RoutesAnnotation] != string(b) {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{RoutesAnnotation: string(b)}}})
		if _, err := c.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("writing the routes of node %s: %w", name, err)
		}
		c.log.Debug("routes updated", "node", name, "routes", string(b))
	}
	if _, ok := target(node); ok && networkCondition(node) != string(corev1.ConditionFalse)+"/RouteCreated" {
		now := metav1.NewTime(c.clock.Now())
		cond := corev1.NodeCondition{
			Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated",
			Message: "RouteController created a route", LastTransitionTime: now, LastHeartbeatTime: now,
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{cond}}})
		if _, err := c.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("setting NetworkUnavailable on node %s: %w", name, err)
		}
	}
	return nil
}
