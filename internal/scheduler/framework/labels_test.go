package framework_test

import (
	"math/rand/v2"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// TestLabelMatcherAgreesWithLabelsSelector compares our compiled matcher
// with apimachinery's selectors on random selectors and label sets.
func TestLabelMatcherAgreesWithLabelsSelector(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	keys, vals := []string{"a", "b", "c"}, []string{"x", "y", "z"}
	pick := func(from []string) string { return from[r.IntN(len(from))] }
	ops := []metav1.LabelSelectorOperator{metav1.LabelSelectorOpIn, metav1.LabelSelectorOpNotIn, metav1.LabelSelectorOpExists, metav1.LabelSelectorOpDoesNotExist}
	for i := 0; i < 5000; i++ {
		var ls *metav1.LabelSelector
		if r.IntN(10) > 0 {
			ls = &metav1.LabelSelector{}
			for j := r.IntN(3); j > 0; j-- {
				if ls.MatchLabels == nil {
					ls.MatchLabels = map[string]string{}
				}
				ls.MatchLabels[pick(keys)] = pick(vals)
			}
			for j := r.IntN(3); j > 0; j-- {
				op := ops[r.IntN(len(ops))]
				e := metav1.LabelSelectorRequirement{Key: pick(keys), Operator: op}
				if op == metav1.LabelSelectorOpIn || op == metav1.LabelSelectorOpNotIn {
					e.Values = []string{pick(vals), pick(vals)}
				}
				ls.MatchExpressions = append(ls.MatchExpressions, e)
			}
		}
		set := map[string]string{}
		for j := r.IntN(4); j > 0; j-- {
			set[pick(keys)] = pick(vals)
		}
		want, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			t.Fatal(err)
		}
		m, err := framework.NewLabelMatcher(ls)
		if err != nil {
			t.Fatal(err)
		}
		if got, w := m.Matches(set), want.Matches(labels.Set(set)); got != w {
			t.Fatalf("selector %v on %v: got %v, labels.Selector says %v", ls, set, got, w)
		}
		if got, w := framework.LabelMatcherFromSelector(want), want.Matches(labels.Set(set)); func() bool { return got.Matches(set) }() != w {
			t.Fatalf("from selector %v on %v: disagrees", want, set)
		}
	}
}
