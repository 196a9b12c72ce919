package cache

import (
	"fmt"
	"log/slog"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Snapshot is an immutable-for-the-cycle copy of the cache that plugins
// read. The scheduler keeps one and refreshes it at the start of every
// cycle with Cache.UpdateSnapshot.
type Snapshot struct {
	nodeInfoMap  map[string]*framework.NodeInfo
	nodeInfoList []*framework.NodeInfo
	withAffinity []*framework.NodeInfo
	withAnti     []*framework.NodeInfo
	usedPVCs     sets.Set[string]
	generation   int64
	treeGen      int64
}

var (
	_ framework.SharedLister      = (*Snapshot)(nil)
	_ framework.NodeInfoLister    = (*Snapshot)(nil)
	_ framework.StorageInfoLister = (*Snapshot)(nil)
)

// NewEmptySnapshot returns a snapshot to be filled by UpdateSnapshot.
func NewEmptySnapshot() *Snapshot {
	return &Snapshot{nodeInfoMap: map[string]*framework.NodeInfo{}, usedPVCs: sets.New[string](), treeGen: -1}
}

// NewSnapshot builds a snapshot directly from pods and nodes (pods on
// unknown nodes are left out), as the cache would; for tests and tools.
func NewSnapshot(pods []*v1.Pod, nodes []*v1.Node) *Snapshot {
	c := New(0, nil, slog.New(slog.DiscardHandler))
	for _, n := range nodes {
		c.AddNode(n)
	}
	for _, p := range pods {
		if p.Spec.NodeName != "" {
			_ = c.AddPod(p)
		}
	}
	s := NewEmptySnapshot()
	c.UpdateSnapshot(s)
	return s
}

// NodeInfos implements framework.SharedLister.
func (s *Snapshot) NodeInfos() framework.NodeInfoLister { return s }

// StorageInfos implements framework.SharedLister.
func (s *Snapshot) StorageInfos() framework.StorageInfoLister { return s }

// List implements framework.NodeInfoLister.
func (s *Snapshot) List() []*framework.NodeInfo { return s.nodeInfoList }

// HavePodsWithAffinityList implements framework.NodeInfoLister.
func (s *Snapshot) HavePodsWithAffinityList() []*framework.NodeInfo { return s.withAffinity }

// HavePodsWithRequiredAntiAffinityList implements framework.NodeInfoLister.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() []*framework.NodeInfo { return s.withAnti }

// Get implements framework.NodeInfoLister.
func (s *Snapshot) Get(name string) (*framework.NodeInfo, error) {
	if ni, ok := s.nodeInfoMap[name]; ok && ni.Node() != nil {
		return ni, nil
	}
	return nil, fmt.Errorf("node %q not found in the scheduler's snapshot", name)
}

// IsPVCUsedByPods implements framework.StorageInfoLister.
func (s *Snapshot) IsPVCUsedByPods(key string) bool { return s.usedPVCs.Has(key) }

// NumNodes returns the number of nodes.
func (s *Snapshot) NumNodes() int { return len(s.nodeInfoList) }

func (s *Snapshot) rebuildAffinityLists() {
	s.withAffinity = s.withAffinity[:0]
	s.withAnti = s.withAnti[:0]
	for _, ni := range s.nodeInfoList {
		if len(ni.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.withAnti = append(s.withAnti, ni)
		}
	}
}

func (s *Snapshot) rebuildPVCs() {
	s.usedPVCs = sets.New[string]()
	for _, ni := range s.nodeInfoList {
		for k := range ni.PVCRefCounts {
			s.usedPVCs.Insert(k)
		}
	}
}

func samePVCs(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// UpdateSnapshot brings s up to date, copying only the nodes that changed
// since s was last updated. Called by the scheduling goroutine, which owns
// s.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rebuildList := s.treeGen != c.treeGeneration
	rebuildAffinity, rebuildPVCs := false, false
	for item := c.head; item != nil && item.info.Generation > s.generation; item = item.next {
		node := item.info.Node()
		existing, ok := s.nodeInfoMap[item.name]
		if node == nil {
			if ok {
				delete(s.nodeInfoMap, item.name)
				rebuildList = true
			}
			continue
		}
		clone := item.info.Clone()
		if !ok {
			existing = &framework.NodeInfo{}
			s.nodeInfoMap[node.Name] = existing
			rebuildList = true
		}
		if (len(existing.PodsWithAffinity) > 0) != (len(clone.PodsWithAffinity) > 0) ||
			(len(existing.PodsWithRequiredAntiAffinity) > 0) != (len(clone.PodsWithRequiredAntiAffinity) > 0) {
			rebuildAffinity = true
		}
		if !samePVCs(existing.PVCRefCounts, clone.PVCRefCounts) {
			rebuildPVCs = true
		}
		*existing = *clone
	}
	if c.head != nil {
		s.generation = c.head.info.Generation
	}
	// Nodes deleted together with all their pods leave no item behind.
	if len(s.nodeInfoMap) > c.tree.count {
		for name := range s.nodeInfoMap {
			if item, ok := c.nodes[name]; !ok || item.info.Node() == nil {
				delete(s.nodeInfoMap, name)
			}
		}
		rebuildList = true
	}
	if rebuildList {
		s.nodeInfoList = s.nodeInfoList[:0]
		for _, name := range c.tree.list() {
			if ni, ok := s.nodeInfoMap[name]; ok {
				s.nodeInfoList = append(s.nodeInfoList, ni)
			}
		}
		s.treeGen = c.treeGeneration
		rebuildAffinity, rebuildPVCs = true, true
	}
	if rebuildAffinity {
		s.rebuildAffinityLists()
	}
	if rebuildPVCs {
		s.rebuildPVCs()
	}
}
