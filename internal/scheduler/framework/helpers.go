package framework

import (
	"fmt"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
)

// DefaultNormalizeScore scales scores linearly so the highest becomes
// maxScore (all maxScore if every score is 0 and reverse, else all 0);
// with reverse, the scale is flipped so the lowest raw score wins.
func DefaultNormalizeScore(maxScore int64, reverse bool, scores []NodeScore) *Status {
	var highest int64
	for _, s := range scores {
		highest = max(highest, s.Score)
	}
	if highest == 0 {
		if reverse {
			for i := range scores {
				scores[i].Score = maxScore
			}
		}
		return nil
	}
	for i := range scores {
		s := maxScore * scores[i].Score / highest
		if reverse {
			s = maxScore - s
		}
		scores[i].Score = s
	}
	return nil
}

// Tolerates reports whether any toleration tolerates taint, with the
// API's own matching rules (key, operator Exists/Equal and the numeric
// Gt/Lt, effect).
func Tolerates(tolerations []v1.Toleration, taint *v1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(logr.Discard(), taint, true) {
			return true
		}
	}
	return false
}

// FindUntoleratedTaint returns the first taint accepted by filter (nil:
// all) that no toleration tolerates.
func FindUntoleratedTaint(taints []v1.Taint, tolerations []v1.Toleration, filter func(*v1.Taint) bool) (*v1.Taint, bool) {
	for i := range taints {
		t := &taints[i]
		if filter != nil && !filter(t) {
			continue
		}
		if !Tolerates(tolerations, t) {
			return t, true
		}
	}
	return nil, false
}

// DoNotScheduleTaint accepts the taints that keep pods off a node:
// NoSchedule and NoExecute.
func DoNotScheduleTaint(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

// Objects converts a queueing hint's old and new objects to T; either may
// be nil (add, delete). An object of another type is an error.
func Objects[T any](oldObj, newObj any) (oldT, newT *T, err error) {
	if oldObj != nil {
		o, ok := oldObj.(*T)
		if !ok {
			return nil, nil, fmt.Errorf("old object is %T, want %T", oldObj, o)
		}
		oldT = o
	}
	if newObj != nil {
		n, ok := newObj.(*T)
		if !ok {
			return nil, nil, fmt.Errorf("new object is %T, want %T", newObj, n)
		}
		newT = n
	}
	return oldT, newT, nil
}
