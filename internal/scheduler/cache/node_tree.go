package cache

import (
	v1 "k8s.io/api/core/v1"
)

// nodeTree orders nodes by zone, so that a walk over its list visits the
// zones round-robin: when the scheduler looks at only a sample of nodes,
// the sample spans every zone.
type nodeTree struct {
	zones    map[string][]string // zone → node names
	zoneList []string            // zones in order of first appearance
	count    int
}

func newNodeTree() *nodeTree { return &nodeTree{zones: map[string][]string{}} }

// zoneKey is region and zone of node, "" if it has neither label.
func zoneKey(node *v1.Node) string {
	region, zone := node.Labels[v1.LabelTopologyRegion], node.Labels[v1.LabelTopologyZone]
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

func (t *nodeTree) add(node *v1.Node) {
	z := zoneKey(node)
	names, ok := t.zones[z]
	for _, n := range names {
		if n == node.Name {
			return
		}
	}
	if !ok {
		t.zoneList = append(t.zoneList, z)
	}
	t.zones[z] = append(names, node.Name)
	t.count++
}

func (t *nodeTree) remove(node *v1.Node) {
	z := zoneKey(node)
	names := t.zones[z]
	for i, n := range names {
		if n != node.Name {
			continue
		}
		names = append(names[:i], names[i+1:]...)
		t.count--
		if len(names) > 0 {
			t.zones[z] = names
			return
		}
		delete(t.zones, z)
		for j, zz := range t.zoneList {
			if zz == z {
				t.zoneList = append(t.zoneList[:j], t.zoneList[j+1:]...)
				break
			}
		}
		return
	}
}

// update moves node to its new zone; reports whether the order changed.
func (t *nodeTree) update(old, node *v1.Node) bool {
	if old != nil && zoneKey(old) == zoneKey(node) {
		return false
	}
	if old != nil {
		t.remove(old)
	}
	t.add(node)
	return true
}

// list returns the node names, one per zone in turn.
func (t *nodeTree) list() []string {
	out := make([]string, 0, t.count)
	for i := 0; len(out) < t.count; i++ {
		for _, z := range t.zoneList {
			if names := t.zones[z]; i < len(names) {
				out = append(out, names[i])
			}
		}
	}
	return out
}
