package framework

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// LabelMatcher is a label selector compiled for fast matching: the
// affinity and spreading plugins match selectors against every pod of the
// cluster, and labels.Selector's generic matching (two map lookups and a
// value scan per requirement) dominated the cycle. A LabelMatcher does one
// map lookup per requirement. The zero value matches nothing, like a nil
// *metav1.LabelSelector.
type LabelMatcher struct {
	reqs []labelReq
	// all is set for an empty (non-nil) selector: it matches everything.
	all bool
}

type labelOp uint8

const (
	opIn labelOp = iota
	opNotIn
	opExists
	opDoesNotExist
)

type labelReq struct {
	key    string
	op     labelOp
	values []string
}

// NewLabelMatcher compiles s with the semantics of
// metav1.LabelSelectorAsSelector (whose validation it uses): nil matches
// nothing, empty matches everything.
func NewLabelMatcher(s *metav1.LabelSelector) (LabelMatcher, error) {
	if s == nil {
		return LabelMatcher{}, nil
	}
	if _, err := metav1.LabelSelectorAsSelector(s); err != nil {
		return LabelMatcher{}, err
	}
	m := LabelMatcher{all: true}
	for k, v := range s.MatchLabels {
		m.add(k, opIn, v)
	}
	for _, e := range s.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			m.add(e.Key, opIn, e.Values...)
		case metav1.LabelSelectorOpNotIn:
			m.add(e.Key, opNotIn, e.Values...)
		case metav1.LabelSelectorOpExists:
			m.add(e.Key, opExists)
		case metav1.LabelSelectorOpDoesNotExist:
			m.add(e.Key, opDoesNotExist)
		default:
			return LabelMatcher{}, fmt.Errorf("label selector operator %q is not supported", e.Operator)
		}
	}
	return m, nil
}

func (m *LabelMatcher) add(key string, op labelOp, values ...string) {
	m.reqs = append(m.reqs, labelReq{key: key, op: op, values: values})
}

// AddIn adds the requirement key in (values); used for matchLabelKeys.
func (m *LabelMatcher) AddIn(key string, values ...string) { m.add(key, opIn, values...) }

// AddNotIn adds key notin (values); used for mismatchLabelKeys.
func (m *LabelMatcher) AddNotIn(key string, values ...string) { m.add(key, opNotIn, values...) }

// Empty reports whether m matches everything.
func (m *LabelMatcher) Empty() bool { return m.all && len(m.reqs) == 0 }

// Matches reports whether set satisfies every requirement.
func (m *LabelMatcher) Matches(set map[string]string) bool {
	if !m.all {
		return false
	}
	for i := range m.reqs {
		r := &m.reqs[i]
		v, ok := set[r.key]
		switch r.op {
		case opIn:
			if !ok || !has(r.values, v) {
				return false
			}
		case opNotIn:
			if ok && has(r.values, v) {
				return false
			}
		case opExists:
			if !ok {
				return false
			}
		case opDoesNotExist:
			if ok {
				return false
			}
		}
	}
	return true
}

func has(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

// LabelMatcherFromSelector compiles a labels.Selector made of set-based
// and equality requirements; Gt and Lt requirements (which label
// selectors of pods never use) make it match nothing.
func LabelMatcherFromSelector(sel labels.Selector) LabelMatcher {
	reqs, selectable := sel.Requirements()
	if !selectable {
		return LabelMatcher{}
	}
	m := LabelMatcher{all: true}
	for _, r := range reqs {
		vals := r.ValuesUnsorted()
		switch r.Operator() {
		case selection.In, selection.Equals, selection.DoubleEquals:
			m.add(r.Key(), opIn, vals...)
		case selection.NotIn, selection.NotEquals:
			m.add(r.Key(), opNotIn, vals...)
		case selection.Exists:
			m.add(r.Key(), opExists)
		case selection.DoesNotExist:
			m.add(r.Key(), opDoesNotExist)
		default:
			return LabelMatcher{}
		}
	}
	return m
}
