// Package plugins registers the in-tree scheduler plugins and defines the
// default profile. Each plugin lives in its own package below; this is the
// one place that lists them. Only internal/scheduler (and tests) import
// it.
package plugins

import (
	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/defaultbinder"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/defaultpreemption"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/imagelocality"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/interpodaffinity"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeaffinity"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodename"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeports"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/noderesources"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/nodeunschedulable"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/podtopologyspread"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/queuesort"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/tainttoleration"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/volumebinding"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/volumerestrictions"
)

// NewRegistry returns the in-tree plugins by name.
func NewRegistry() framework.Registry {
	return framework.Registry{
		queuesort.Name:                       queuesort.New,
		nodeunschedulable.Name:               nodeunschedulable.New,
		nodename.Name:                        nodename.New,
		tainttoleration.Name:                 tainttoleration.New,
		nodeaffinity.Name:                    nodeaffinity.New,
		nodeports.Name:                       nodeports.New,
		noderesources.FitName:                noderesources.NewFit,
		noderesources.BalancedAllocationName: noderesources.NewBalancedAllocation,
		volumerestrictions.Name:              volumerestrictions.New,
		volumebinding.Name:                   volumebinding.New,
		podtopologyspread.Name:               podtopologyspread.New,
		interpodaffinity.Name:                interpodaffinity.New,
		defaultpreemption.Name:               defaultpreemption.New,
		imagelocality.Name:                   imagelocality.New,
		defaultbinder.Name:                   defaultbinder.New,
	}
}

// DefaultProfile is the default plugin set, in filter order (cheap and
// decisive first, as Kubernetes orders them), with Kubernetes' score
// weights: TaintToleration 3, NodeAffinity 2, PodTopologySpread 2,
// InterPodAffinity 2, the others 1.
func DefaultProfile() framework.Profile {
	return framework.Profile{Plugins: []framework.PluginConfig{
		{Name: queuesort.Name},
		{Name: nodeunschedulable.Name},
		{Name: nodename.Name},
		{Name: tainttoleration.Name, Weight: 3},
		{Name: nodeaffinity.Name, Weight: 2},
		{Name: nodeports.Name},
		{Name: noderesources.FitName, Weight: 1},
		{Name: volumerestrictions.Name},
		{Name: volumebinding.Name},
		{Name: podtopologyspread.Name, Weight: 2},
		{Name: interpodaffinity.Name, Weight: 2},
		{Name: defaultpreemption.Name},
		{Name: noderesources.BalancedAllocationName, Weight: 1},
		{Name: imagelocality.Name, Weight: 1},
		{Name: defaultbinder.Name},
	}}
}
