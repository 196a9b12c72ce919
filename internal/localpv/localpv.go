// Package localpv says which node a persistent volume is pinned to, for
// the parts that must agree on it: the API server (its node authorizer and
// NodeRestriction admission, and the admission plugin that keeps NodeLabel
// on every volume) and the node agent's local-path cleaner
// (internal/kubelet/localpath), which lists and watches only the volumes
// labelled with its node.
//
// A volume is pinned to a node when its required node affinity admits
// only the node whose kubernetes.io/hostname label is that node's name:
// every node selector term requires kubernetes.io/hostname In [<node>]
// with that one value, as local-path volumes are made (podvisor agents set
// the label to the node name). Affinity by other keys, by metadata.name
// fields or naming several hosts pins a volume to no node.
//
// The package is pure (no I/O, no state) and imports no podvisor package;
// anything may import it.
package localpv

import (
	corev1 "k8s.io/api/core/v1"
)

// NodeLabel is the label the API server keeps on every persistent volume
// pinned to a node, whose value is that node's name, and removes from
// every other volume: a node agent lists and watches volumes with the
// selector NodeLabel=<itself>, and the node authorizer lets it list and
// watch volumes with that selector only.
const NodeLabel = "podvisor.io/volume-node"

// PinnedNode returns the node pv is pinned to (see the package doc), or
// "" and false.
func PinnedNode(pv *corev1.PersistentVolume) (string, bool) {
	if pv == nil || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return "", false
	}
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) == 0 {
		return "", false
	}
	node := ""
	for _, t := range terms {
		n, ok := termNode(t)
		if !ok || (node != "" && n != node) {
			return "", false
		}
		node = n
	}
	return node, true
}

// termNode returns the host a term's kubernetes.io/hostname In
// requirements leave: they must all name the same single host. Other
// requirements of the term may narrow it further, never widen it.
func termNode(t corev1.NodeSelectorTerm) (string, bool) {
	node := ""
	for _, e := range t.MatchExpressions {
		if e.Key != corev1.LabelHostname || e.Operator != corev1.NodeSelectorOpIn {
			continue
		}
		if len(e.Values) != 1 || e.Values[0] == "" || (node != "" && e.Values[0] != node) {
			return "", false
		}
		node = e.Values[0]
	}
	return node, node != ""
}
