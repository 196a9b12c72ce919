// Package nodelifecycle is the Node controller: it watches node Leases
// (coordination.k8s.io, namespace kube-node-lease) and Node status, and
//
//   - marks a node whose kubelet has not renewed its Lease (nor posted
//     status) within the node monitor grace period as Ready=Unknown, and
//     its other conditions Unknown, with reason NodeStatusUnknown;
//   - keeps the condition taints: node.kubernetes.io/not-ready and
//     node.kubernetes.io/unreachable (NoSchedule, and NoExecute at a
//     limited rate of nodes per second, none at all when every node is
//     down: then the control plane, not the nodes, is probably cut off),
//     memory-, disk- and pid-pressure, network-unavailable and
//     unschedulable (NoSchedule); recovery removes them;
//   - evicts (deletes through the API, after adding the DisruptionTarget
//     condition) the pods of a node with NoExecute taints once their
//     tolerations run out: at once without a toleration, after
//     tolerationSeconds with one, never with one without a limit. Pods
//     are never moved: their controllers create replacements. A pod with
//     no toleration for not-ready/unreachable is treated as tolerating
//     them for DefaultTolerationSeconds, which is what Kubernetes'
//     DefaultTolerationSeconds admission plugin gives every pod;
//   - allocates each node a pod CIDR (spec.podCIDR, spec.podCIDRs) from
//     the cluster CIDR, one /24 by default, rebuilt from the Nodes at
//     start so that restarts never hand one out twice, and freed when the
//     node is deleted.
//
// All time-driven work (the grace period, tolerations, the eviction rate)
// is a delayed requeue on the injected clock; nothing polls. Only the
// controller manager imports this package.
package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Defaults, as Kubernetes' (and k3s' cluster CIDR).
const (
	DefaultNodeMonitorGracePeriod   = 40 * time.Second
	DefaultClusterCIDR              = "10.42.0.0/16"
	DefaultNodeCIDRMaskSize         = 24
	DefaultEvictionRate             = 0.1 // nodes per second
	DefaultTolerationSeconds        = 300
	LeaseNamespace                  = corev1.NamespaceNodeLease
	podsByNodeIndex                 = "nodelifecycle/nodeName"
	reasonNodeStatusUnknown         = "NodeStatusUnknown"
	reasonNodeStatusNeverUpdated    = "NodeStatusNeverUpdated"
	messageNodeStatusUnknown        = "Kubelet stopped posting node status."
	messageNodeStatusNeverUpdated   = "Kubelet never posted node status."
	reasonDeletionByTaintManager    = "DeletionByTaintManager"
	podConditionDisruptionTarget    = corev1.DisruptionTarget
	eventTaintManagerEviction       = "TaintManagerEviction"
	eventCIDRNotAvailable           = "CIDRNotAvailable"
	eventCIDRAssignmentFailed       = "CIDRAssignmentFailed"
	eventNodeNotReady               = "NodeNotReady"
	disruptionTargetMessageTemplate = "Taint manager: deleting due to NoExecute taint"
)

// Config configures the controller; zero values get the defaults.
type Config struct {
	// NodeMonitorGracePeriod is how long a node may go without renewing
	// its Lease or posting status before it is Unknown
	// (--node-monitor-grace-period, 40s).
	NodeMonitorGracePeriod time.Duration
	// ClusterCIDR is the range node pod CIDRs come from (--cluster-cidr,
	// 10.42.0.0/16); IPv4.
	ClusterCIDR string
	// NodeCIDRMaskSize is the prefix length of a node's pod CIDR (24).
	NodeCIDRMaskSize int
	// DisableCIDRAllocation leaves spec.podCIDR alone.
	DisableCIDRAllocation bool
	// EvictionRate is how many nodes per second may get a NoExecute
	// taint, the start of their pods' eviction (--node-eviction-rate, 0.1).
	EvictionRate float64
	// DefaultTolerationSeconds is how long a pod without a toleration for
	// not-ready/unreachable stays on such a node (300).
	DefaultTolerationSeconds int64
	// Workers reconciling nodes at once (0: 5).
	Workers int
}

// Controller runs node lifecycle: health, taints, eviction, pod CIDRs.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	leases   coordinationlisters.LeaseLister
	pods     cache.Indexer
	recorder record.EventRecorder
	clock    clock.PassiveClock
	log      *slog.Logger
	ctl      *reconcile.Controller
	cidrs    *CIDRSet
	limiter  *bucket

	mu sync.Mutex
	// +checklocks:mu
	health map[string]*health
}

// health is what the controller last saw of a node's liveness signals,
// and when (on its own clock: node clocks may be skewed).
type health struct {
	renew     string // lease spec.renewTime
	heartbeat string // Ready condition's lastHeartbeatTime
	probe     time.Time
}

// New builds the controller and registers its informers (nodes, leases,
// pods, with an index of pods by node).
func New(cfg Config, d reconcile.Deps) (*Controller, error) {
	if cfg.NodeMonitorGracePeriod == 0 {
		cfg.NodeMonitorGracePeriod = DefaultNodeMonitorGracePeriod
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = DefaultClusterCIDR
	}
	if cfg.NodeCIDRMaskSize == 0 {
		cfg.NodeCIDRMaskSize = DefaultNodeCIDRMaskSize
	}
	if cfg.EvictionRate == 0 {
		cfg.EvictionRate = DefaultEvictionRate
	}
	if cfg.EvictionRate < 0 {
		return nil, fmt.Errorf("node eviction rate %v: must be positive", cfg.EvictionRate)
	}
	if cfg.DefaultTolerationSeconds == 0 {
		cfg.DefaultTolerationSeconds = DefaultTolerationSeconds
	}
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	c := &Controller{
		cfg:      cfg,
		client:   d.Client,
		nodes:    d.Informers.Core().V1().Nodes().Lister(),
		leases:   d.Informers.Coordination().V1().Leases().Lister(),
		pods:     d.Informers.Core().V1().Pods().Informer().GetIndexer(),
		recorder: d.Recorder,
		clock:    d.Clock,
		log:      d.Log,
		limiter:  newBucket(cfg.EvictionRate, 1, d.Clock.Now()),
		health:   map[string]*health{},
	}
	if !cfg.DisableCIDRAllocation {
		s, err := NewCIDRSet(cfg.ClusterCIDR, cfg.NodeCIDRMaskSize)
		if err != nil {
			return nil, err
		}
		c.cidrs = s
	}
	c.ctl = reconcile.New("nodelifecycle", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := d.Informers.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.ctl.EnqueueObject,
		UpdateFunc: func(oldObj, newObj any) {
			c.ctl.EnqueueObject(newObj)
			o, ok1 := oldObj.(*corev1.Node)
			n, ok2 := newObj.(*corev1.Node)
			if ok1 && ok2 && readyStatus(o) != readyStatus(n) {
				// Whether every node is down decides whether any is
				// evicted: look again at the unhealthy ones.
				c.enqueueUnready()
			}
		},
		DeleteFunc: c.ctl.EnqueueObject,
	}); err != nil {
		return nil, fmt.Errorf("watching nodes: %w", err)
	}
	if _, err := d.Informers.Coordination().V1().Leases().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueLease,
		UpdateFunc: func(_, obj any) { c.enqueueLease(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watching leases: %w", err)
	}
	podInf := d.Informers.Core().V1().Pods().Informer()
	if err := podInf.AddIndexers(cache.Indexers{podsByNodeIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("indexing pods by node: %w", err)
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
				c.ctl.Enqueue(p.Spec.NodeName)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Pod)
			n, ok2 := newObj.(*corev1.Pod)
			if ok1 && ok2 && n.Spec.NodeName != "" && (o.Spec.NodeName != n.Spec.NodeName || len(o.Spec.Tolerations) != len(n.Spec.Tolerations)) {
				c.ctl.Enqueue(n.Spec.NodeName)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	return c, nil
}

func (c *Controller) enqueueUnready() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if readyStatus(n) != corev1.ConditionTrue {
			c.ctl.Enqueue(n.Name)
		}
	}
}

func (c *Controller) enqueueLease(obj any) {
	if l, ok := obj.(*coordinationv1.Lease); ok && l.Namespace == LeaseNamespace {
		c.ctl.Enqueue(l.Name)
	}
}

// Run rebuilds the pod CIDR allocation from the cached Nodes, then
// reconciles until ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) {
	c.Rebuild()
	c.ctl.Run(ctx)
}

// Rebuild records the pod CIDRs the cached Nodes hold, so that none is
// handed out again. Conflicts (two nodes with one CIDR) are logged.
func (c *Controller) Rebuild() {
	if c.cidrs == nil {
		return
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		c.log.Error("listing nodes to rebuild pod CIDRs", "err", err)
		return
	}
	for _, n := range nodes {
		if n.Spec.PodCIDR == "" {
			continue
		}
		if err := c.cidrs.Occupy(n.Name, n.Spec.PodCIDR); err != nil {
			c.log.Error("node pod CIDR", "node", n.Name, "err", err)
		}
	}
}

// Reconcile implements reconcile.Func for a node name.
func (c *Controller) Reconcile(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, name)
		c.mu.Unlock()
		if c.cidrs != nil {
			c.cidrs.Release(name)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting node %s: %w", name, err)
	}
	if c.cidrs != nil {
		if node, err = c.ensureCIDR(ctx, node); err != nil || node == nil {
			return err
		}
	}
	var next wait
	node, after, err := c.monitorHealth(ctx, node)
	if err != nil {
		return err
	}
	next.at(after)
	node, after, err = c.reconcileTaints(ctx, node)
	if err != nil {
		return err
	}
	next.at(after)
	after, err = c.evict(ctx, node)
	if err != nil {
		return err
	}
	next.at(after)
	if next.set {
		return reconcile.RequeueAfter(next.d)
	}
	return nil
}

// wait keeps the earliest of several requeue delays.
type wait struct {
	d   time.Duration
	set bool
}

func (w *wait) at(d time.Duration) {
	if d <= 0 {
		return
	}
	if !w.set || d < w.d {
		w.d, w.set = d, true
	}
}

// ensureCIDR gives node a pod CIDR if it has none, or records the one it
// has.
func (c *Controller) ensureCIDR(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	if node.Spec.PodCIDR != "" {
		if c.cidrs.Holder(node.Spec.PodCIDR) != node.Name {
			if err := c.cidrs.Occupy(node.Name, node.Spec.PodCIDR); err != nil {
				// Set by someone else, outside our range or taken: not
				// ours to change (spec.podCIDR is immutable).
				c.log.Debug("node pod CIDR not recorded", "node", node.Name, "err", err)
			}
		}
		return node, nil
	}
	cidr, err := c.cidrs.Allocate(node.Name)
	if errors.Is(err, ErrCIDRExhausted) {
		c.recorder.Eventf(node, corev1.EventTypeNormal, eventCIDRNotAvailable, "Node %s status is now: %s", node.Name, eventCIDRNotAvailable)
		return nil, fmt.Errorf("allocating a pod CIDR for node %s: %w", node.Name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("allocating a pod CIDR for node %s: %w", node.Name, err)
	}
	patch := fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, cidr, cidr)
	out, err := c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		c.cidrs.Release(node.Name)
		return nil, nil
	}
	if err != nil {
		// Keep the CIDR reserved for this node: the next attempt
		// writes the same one.
		c.recorder.Eventf(node, corev1.EventTypeWarning, eventCIDRAssignmentFailed, "Node %s: failed to set pod CIDR %s: %v", node.Name, cidr, err)
		return nil, fmt.Errorf("setting pod CIDR %s on node %s: %w", cidr, node.Name, err)
	}
	c.log.Info("allocated pod CIDR", "node", node.Name, "cidr", cidr)
	return out, nil
}
