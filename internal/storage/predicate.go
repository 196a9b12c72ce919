package storage

import (
	"sync/atomic"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// AttrFunc returns the labels and the selectable fields of an object.
type AttrFunc func(obj runtime.Object) (labels.Set, fields.Set, error)

// Predicate selects objects by label and field selectors. The zero value
// (or nil selectors) matches everything.
type Predicate struct {
	Label labels.Selector
	Field fields.Selector
}

// Empty reports whether p matches everything.
func (p Predicate) Empty() bool {
	return (p.Label == nil || p.Label.Empty()) && (p.Field == nil || p.Field.Empty())
}

// MatchesEntry reports whether e matches p.
func (p Predicate) MatchesEntry(e *Entry) bool {
	if p.Label != nil && !p.Label.Empty() && !p.Label.Matches(e.Labels) {
		return false
	}
	if p.Field != nil && !p.Field.Empty() && !p.Field.Matches(e.Fields) {
		return false
	}
	return true
}

// Entry is one stored object as Store and Cache hand it out: the object
// (resourceVersion set), its key and revision, and its labels and fields for
// selectors. An Entry and its Obj are immutable once published: copy Obj
// before changing it.
type Entry struct {
	Key    string
	Obj    runtime.Object
	Rev    int64
	Labels labels.Set
	Fields fields.Set

	memo [NumMemoSlots]atomic.Pointer[[]byte]
}

// NumMemoSlots is how many encodings of an object an Entry can memoize.
const NumMemoSlots = 2

// NewEntry builds an Entry, computing the object's attributes with attrs.
func NewEntry(key string, obj runtime.Object, rev int64, attrs AttrFunc) (*Entry, error) {
	e := &Entry{Key: key, Obj: obj, Rev: rev}
	if attrs != nil {
		l, f, err := attrs(obj)
		if err != nil {
			return nil, err
		}
		e.Labels, e.Fields = l, f
	}
	return e, nil
}

// Encoded returns the entry's object encoded by encode, calling encode only
// the first time for a slot: the API server memoizes its JSON and protobuf
// encodings here so that an object listed or watched many times is encoded
// once per form. Every caller of a slot must pass the same encoding; slot
// is below NumMemoSlots. The result is shared: do not change it.
func (e *Entry) Encoded(slot int, encode func(runtime.Object) ([]byte, error)) ([]byte, error) {
	if p := e.memo[slot].Load(); p != nil {
		return *p, nil
	}
	b, err := encode(e.Obj)
	if err != nil {
		return nil, err
	}
	e.memo[slot].Store(&b)
	return b, nil
}
