package framework

import (
	"errors"

	"k8s.io/apimachinery/pkg/util/sets"
)

// StateData is data a plugin stores in the CycleState.
type StateData interface {
	// Clone returns a copy for a CycleState clone (preemption and
	// nominated-pod checks change cloned state). Immutable data may
	// return itself.
	Clone() StateData
}

// StateKey names one entry of the CycleState; plugins use their name or a
// name derived from it.
type StateKey string

// ErrNotFound is returned by CycleState.Read for a key never written.
var ErrNotFound = errors.New("not found")

// CycleState is the scratch space of one scheduling cycle, shared by the
// plugins. Writes happen only at sequential extension points (PreFilter,
// PreScore, Reserve, ...); Filter and Score, which run in parallel, only
// read. It is not safe for concurrent writes.
type CycleState struct {
	storage map[StateKey]StateData
	// SkipFilterPlugins are the plugins whose PreFilter returned Skip.
	SkipFilterPlugins sets.Set[string]
	// SkipScorePlugins are the plugins whose PreScore returned Skip.
	SkipScorePlugins sets.Set[string]
	// filters are the Filter plugins left after PreFilter's skips,
	// computed once per cycle so Filter does not look the skips up per
	// node; nil until RunPreFilterPlugins ran.
	filters []FilterPlugin
}

// NewCycleState returns an empty state.
func NewCycleState() *CycleState {
	return &CycleState{storage: map[StateKey]StateData{}}
}

// Read returns the data stored under key, or ErrNotFound.
func (c *CycleState) Read(key StateKey) (StateData, error) {
	if d, ok := c.storage[key]; ok {
		return d, nil
	}
	return nil, ErrNotFound
}

// Write stores data under key.
func (c *CycleState) Write(key StateKey, data StateData) { c.storage[key] = data }

// Delete removes key.
func (c *CycleState) Delete(key StateKey) { delete(c.storage, key) }

// Clone returns a copy in which every StateData is cloned.
func (c *CycleState) Clone() *CycleState {
	if c == nil {
		return nil
	}
	out := &CycleState{storage: make(map[StateKey]StateData, len(c.storage)),
		SkipFilterPlugins: c.SkipFilterPlugins.Clone(), SkipScorePlugins: c.SkipScorePlugins.Clone(), filters: c.filters}
	for k, v := range c.storage {
		out.storage[k] = v.Clone()
	}
	return out
}
