package localpv

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func req(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func withTerms(terms ...[]corev1.NodeSelectorRequirement) *corev1.PersistentVolume {
	ns := &corev1.NodeSelector{}
	for _, t := range terms {
		ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, corev1.NodeSelectorTerm{MatchExpressions: t})
	}
	return &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{NodeAffinity: &corev1.VolumeNodeAffinity{Required: ns}}}
}

func TestPinnedNode(t *testing.T) {
	host := corev1.LabelHostname
	in := corev1.NodeSelectorOpIn
	tests := []struct {
		name   string
		pv     *corev1.PersistentVolume
		want   string
		pinned bool
	}{
		{name: "nil", pv: nil},
		{name: "no affinity", pv: &corev1.PersistentVolume{}},
		{name: "no required terms", pv: withTerms()},
		{name: "local-path volume", pv: withTerms([]corev1.NodeSelectorRequirement{req(host, in, "n1")}), want: "n1", pinned: true},
		{name: "narrowed by another key", pv: withTerms([]corev1.NodeSelectorRequirement{req("zone", in, "z"), req(host, in, "n1")}), want: "n1", pinned: true},
		{name: "two terms, same node", pv: withTerms([]corev1.NodeSelectorRequirement{req(host, in, "n1")}, []corev1.NodeSelectorRequirement{req(host, in, "n1"), req("x", corev1.NodeSelectorOpExists)}),
			want: "n1", pinned: true},
		{name: "two terms, two nodes", pv: withTerms([]corev1.NodeSelectorRequirement{req(host, in, "n1")}, []corev1.NodeSelectorRequirement{req(host, in, "n2")})},
		{name: "one term not pinned", pv: withTerms([]corev1.NodeSelectorRequirement{req(host, in, "n1")}, []corev1.NodeSelectorRequirement{req("zone", in, "z")})},
		{name: "several hosts", pv: withTerms([]corev1.NodeSelectorRequirement{req(host, in, "n1", "n2")})},
		{name: "contradictory hosts", pv: withTerms([]corev1.NodeSelectorRequirement{req(host, in, "n1"), req(host, in, "n2")})},
		{name: "NotIn", pv: withTerms([]corev1.NodeSelectorRequirement{req(host, corev1.NodeSelectorOpNotIn, "n1")})},
		{name: "empty host", pv: withTerms([]corev1.NodeSelectorRequirement{req(host, in, "")})},
		{name: "other key only", pv: withTerms([]corev1.NodeSelectorRequirement{req("example.com/host", in, "n1")})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, pinned := PinnedNode(tc.pv)
			if got != tc.want || pinned != tc.pinned {
				t.Errorf("PinnedNode = %q, %v; want %q, %v", got, pinned, tc.want, tc.pinned)
			}
		})
	}
}
