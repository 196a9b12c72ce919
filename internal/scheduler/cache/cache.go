package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Cache holds nodes and the pods on them, assumed pods included.
type Cache struct {
	ttl   time.Duration
	clock clock.WithTicker
	log   *slog.Logger

	mu sync.RWMutex
	// nodes by name; a node with pods but no Node object (not seen yet, or
	// deleted before its pods) has a NodeInfo whose Node() is nil.
	// +checklocks:mu
	nodes map[string]*nodeItem
	// head is the most recently changed node; items are kept in order of
	// change so that UpdateSnapshot stops at the first one it already has.
	// +checklocks:mu
	head *nodeItem
	// +checklocks:mu
	tree *nodeTree
	// treeGeneration changes when nodes are added, removed or change zone.
	// +checklocks:mu
	treeGeneration int64
	// +checklocks:mu
	pods map[types.UID]*podState
	// +checklocks:mu
	images map[string]*imageState
	// generation numbers every change of a NodeInfo.
	// +checklocks:mu
	generation int64
}

type nodeItem struct {
	name       string
	info       *framework.NodeInfo
	prev, next *nodeItem
}

type podState struct {
	info    *framework.PodInfo
	assumed bool
	// bindingFinished and deadline: an assumed pod expires at deadline
	// once its binding finished (zero deadline: never).
	bindingFinished bool
	deadline        time.Time
}

type imageState struct {
	size  int64
	nodes map[string]struct{}
	// summary is shared by every NodeInfo holding the image; replaced,
	// never changed, when the node count changes.
	summary *framework.ImageStateSummary
}

// New returns an empty cache. Assumed pods expire ttl after their binding
// finished without the informer confirming them (0: never).
func New(ttl time.Duration, clk clock.WithTicker, log *slog.Logger) *Cache {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Cache{
		ttl: ttl, clock: clk, log: log,
		nodes:  map[string]*nodeItem{},
		tree:   newNodeTree(),
		pods:   map[types.UID]*podState{},
		images: map[string]*imageState{},
	}
}

// +checklocks:c.mu
func (c *Cache) touch(name string) *nodeItem {
	item, ok := c.nodes[name]
	if !ok {
		item = &nodeItem{name: name, info: framework.NewNodeInfo()}
		c.nodes[name] = item
	}
	c.generation++
	item.info.Generation = c.generation
	c.moveToHead(item)
	return item
}

// +checklocks:c.mu
func (c *Cache) moveToHead(item *nodeItem) {
	if c.head == item {
		return
	}
	if item.prev != nil {
		item.prev.next = item.next
	}
	if item.next != nil {
		item.next.prev = item.prev
	}
	item.prev = nil
	item.next = c.head
	if c.head != nil {
		c.head.prev = item
	}
	c.head = item
}

// +checklocks:c.mu
func (c *Cache) unlink(name string) {
	item := c.nodes[name]
	if item == nil {
		return
	}
	if item.prev != nil {
		item.prev.next = item.next
	}
	if item.next != nil {
		item.next.prev = item.prev
	}
	if c.head == item {
		c.head = item.next
	}
	delete(c.nodes, name)
}

// +checklocks:c.mu
func (c *Cache) addPodLocked(pi *framework.PodInfo) {
	c.touch(pi.Pod.Spec.NodeName).info.AddPodInfo(pi)
}

// +checklocks:c.mu
func (c *Cache) removePodLocked(pod *v1.Pod) error {
	item, ok := c.nodes[pod.Spec.NodeName]
	if !ok {
		return fmt.Errorf("node %q of pod %s/%s is not in the cache", pod.Spec.NodeName, pod.Namespace, pod.Name)
	}
	if err := item.info.RemovePod(pod); err != nil {
		return err
	}
	if len(item.info.Pods) == 0 && item.info.Node() == nil {
		c.unlink(pod.Spec.NodeName)
		return nil
	}
	c.touch(pod.Spec.NodeName)
	return nil
}

// AssumePod records pi.Pod (with spec.nodeName set to the chosen node) as
// scheduled before it is bound.
func (c *Cache) AssumePod(pi *framework.PodInfo) error {
	if pi.Pod.Spec.NodeName == "" {
		return fmt.Errorf("assuming pod %s/%s: no node name", pi.Pod.Namespace, pi.Pod.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pods[pi.Pod.UID]; ok {
		return fmt.Errorf("assuming pod %s/%s: already in the cache", pi.Pod.Namespace, pi.Pod.Name)
	}
	c.addPodLocked(pi)
	c.pods[pi.Pod.UID] = &podState{info: pi, assumed: true}
	return nil
}

// FinishBinding starts the expiry clock of an assumed pod whose binding
// request returned.
func (c *Cache) FinishBinding(pod *v1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.pods[pod.UID]; ok && ps.assumed {
		ps.bindingFinished = true
		if c.ttl > 0 {
			ps.deadline = c.clock.Now().Add(c.ttl)
		}
	}
}

// ForgetPod drops an assumed pod whose binding failed.
func (c *Cache) ForgetPod(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if !ok {
		return nil
	}
	if !ps.assumed {
		return fmt.Errorf("forgetting pod %s/%s: it was confirmed, not assumed", pod.Namespace, pod.Name)
	}
	delete(c.pods, pod.UID)
	return c.removePodLocked(ps.info.Pod)
}

// IsAssumedPod reports whether pod is assumed and not yet confirmed.
func (c *Cache) IsAssumedPod(pod *v1.Pod) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ps, ok := c.pods[pod.UID]
	return ok && ps.assumed
}

// Has reports whether the pod (assumed or confirmed) is in the cache.
func (c *Cache) Has(pod *v1.Pod) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.pods[pod.UID]
	return ok
}

// AddPod records a pod the informer saw bound to a node, confirming it if
// it was assumed (moving it if it was bound elsewhere than assumed).
func (c *Cache) AddPod(pod *v1.Pod) error {
	pi := framework.NewPodInfo(pod)
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if ok && !ps.assumed {
		// A re-list delivers adds for pods we have: treat it as an update.
		if err := c.removePodLocked(ps.info.Pod); err != nil {
			return fmt.Errorf("re-adding pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		c.addPodLocked(pi)
		ps.info = pi
		return nil
	}
	if ok {
		if err := c.removePodLocked(ps.info.Pod); err != nil {
			return fmt.Errorf("confirming assumed pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	c.addPodLocked(pi)
	c.pods[pod.UID] = &podState{info: pi}
	return nil
}

// UpdatePod replaces a bound pod.
func (c *Cache) UpdatePod(oldPod, newPod *v1.Pod) error {
	pi := framework.NewPodInfo(newPod)
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[newPod.UID]
	if !ok {
		c.addPodLocked(pi)
		c.pods[newPod.UID] = &podState{info: pi}
		return nil
	}
	if err := c.removePodLocked(ps.info.Pod); err != nil {
		return fmt.Errorf("updating pod %s/%s: %w", newPod.Namespace, newPod.Name, err)
	}
	c.addPodLocked(pi)
	ps.info, ps.assumed = pi, false
	return nil
}

// RemovePod drops a pod that was deleted (or finished).
func (c *Cache) RemovePod(pod *v1.Pod) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps, ok := c.pods[pod.UID]
	if !ok {
		return nil
	}
	delete(c.pods, pod.UID)
	return c.removePodLocked(ps.info.Pod)
}

// PodCount returns the number of pods in the cache, assumed ones included.
func (c *Cache) PodCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pods)
}

// AssumedPodCount returns the number of assumed pods.
func (c *Cache) AssumedPodCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for _, ps := range c.pods {
		if ps.assumed {
			n++
		}
	}
	return n
}

// AddNode records a node.
func (c *Cache) AddNode(node *v1.Node) { c.UpdateNode(nil, node) }

// UpdateNode records a node's new state (oldNode may be nil).
func (c *Cache) UpdateNode(oldNode, node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	item, known := c.nodes[node.Name]
	var prev *v1.Node
	if known {
		prev = item.info.Node()
		c.removeImagesLocked(item.info)
	}
	item = c.touch(node.Name)
	if c.tree.update(prev, node) {
		c.treeGeneration++
	}
	item.info.SetNode(node)
	c.addImagesLocked(item.info)
}

// RemoveNode forgets a node; pods still recorded on it stay until their
// own deletes arrive.
func (c *Cache) RemoveNode(node *v1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	item, ok := c.nodes[node.Name]
	if !ok || item.info.Node() == nil {
		return
	}
	c.removeImagesLocked(item.info)
	c.tree.remove(item.info.Node())
	c.treeGeneration++
	if len(item.info.Pods) == 0 {
		c.unlink(node.Name)
		return
	}
	item.info.RemoveNode()
	c.touch(node.Name)
}

// NodeCount returns the number of nodes.
func (c *Cache) NodeCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.tree.count
}

// addImagesLocked records ni's images and gives ni (and every other node
// holding one of them, whose spread changed) fresh summaries. Summaries
// are never changed in place: snapshots may be reading old ones.
// +checklocks:c.mu
func (c *Cache) addImagesLocked(ni *framework.NodeInfo) {
	node := ni.Node()
	changed := map[string]struct{}{}
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			st, ok := c.images[name]
			if !ok {
				st = &imageState{size: img.SizeBytes, nodes: map[string]struct{}{}}
				c.images[name] = st
			}
			st.nodes[node.Name] = struct{}{}
			st.summary = &framework.ImageStateSummary{Size: st.size, NumNodes: len(st.nodes)}
			changed[name] = struct{}{}
		}
	}
	ni.ImageStates = c.summariesLocked(node)
	c.refreshImagesLocked(changed, node.Name)
}

// removeImagesLocked forgets ni's images.
// +checklocks:c.mu
func (c *Cache) removeImagesLocked(ni *framework.NodeInfo) {
	node := ni.Node()
	if node == nil {
		return
	}
	changed := map[string]struct{}{}
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			st, ok := c.images[name]
			if !ok {
				continue
			}
			delete(st.nodes, node.Name)
			if len(st.nodes) == 0 {
				delete(c.images, name)
				continue
			}
			st.summary = &framework.ImageStateSummary{Size: st.size, NumNodes: len(st.nodes)}
			changed[name] = struct{}{}
		}
	}
	ni.ImageStates = map[string]*framework.ImageStateSummary{}
	c.refreshImagesLocked(changed, node.Name)
}

// summariesLocked returns node's image summaries by name.
// +checklocks:c.mu
func (c *Cache) summariesLocked(node *v1.Node) map[string]*framework.ImageStateSummary {
	out := make(map[string]*framework.ImageStateSummary, len(node.Status.Images))
	for _, img := range node.Status.Images {
		for _, name := range img.Names {
			if st, ok := c.images[name]; ok {
				out[name] = st.summary
			}
		}
	}
	return out
}

// refreshImagesLocked rebuilds the summaries of the nodes (but except)
// holding one of the changed images, so their spread is current.
// +checklocks:c.mu
func (c *Cache) refreshImagesLocked(changed map[string]struct{}, except string) {
	nodes := map[string]struct{}{}
	for name := range changed {
		if st, ok := c.images[name]; ok {
			for n := range st.nodes {
				if n != except {
					nodes[n] = struct{}{}
				}
			}
		}
	}
	for n := range nodes {
		item, ok := c.nodes[n]
		if !ok || item.info.Node() == nil {
			continue
		}
		item.info.ImageStates = c.summariesLocked(item.info.Node())
		c.touch(n)
	}
}

// CleanupExpiredAssumedPods drops assumed pods whose deadline passed.
func (c *Cache) CleanupExpiredAssumedPods() {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for uid, ps := range c.pods {
		if !ps.assumed || !ps.bindingFinished || ps.deadline.IsZero() || now.Before(ps.deadline) {
			continue
		}
		c.log.Warn("assumed pod expired: its binding was never confirmed", "pod", framework.PodKey(ps.info.Pod), "node", ps.info.Pod.Spec.NodeName)
		delete(c.pods, uid)
		if err := c.removePodLocked(ps.info.Pod); err != nil {
			c.log.Error("removing expired assumed pod", "pod", framework.PodKey(ps.info.Pod), "err", err)
		}
	}
}

// Run expires assumed pods every period until ctx is done.
func (c *Cache) Run(ctx context.Context, period time.Duration) {
	t := c.clock.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			c.CleanupExpiredAssumedPods()
		}
	}
}
