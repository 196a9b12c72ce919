// Package imagelocality is the ImageLocality plugin: it favours nodes
// that already hold the pod's container images, weighting each image by
// its size and by how widely it is spread (an image on every node says
// nothing about this one). Only the plugin registry imports it.
package imagelocality

import (
	"context"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "ImageLocality"

// Score thresholds: below minThreshold in total the node scores 0; one
// container's image counts for at most maxContainerThreshold.
const (
	mb                    int64 = 1024 * 1024
	minThreshold                = 23 * mb
	maxContainerThreshold       = 1000 * mb
)

// ImageLocality scores by images present.
type ImageLocality struct {
	handle framework.Handle
}

var _ framework.ScorePlugin = (*ImageLocality)(nil)

// New returns the plugin.
func New(_ context.Context, _ any, h framework.Handle) (framework.Plugin, error) {
	return &ImageLocality{handle: h}, nil
}

// Name implements framework.Plugin.
func (*ImageLocality) Name() string { return Name }

// Score implements framework.ScorePlugin: Σ over containers of
// size × (nodes with the image / all nodes), clamped to
// [minThreshold, containers × maxContainerThreshold] and scaled to 0-100.
func (p *ImageLocality) Score(_ context.Context, _ *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) (int64, *framework.Status) {
	total := len(p.handle.SnapshotSharedLister().NodeInfos().List())
	if total == 0 || len(ni.ImageStates) == 0 {
		return 0, nil
	}
	var sum int64
	n := 0
	add := func(cs []v1.Container) {
		for i := range cs {
			n++
			if st, ok := ni.ImageStates[NormalizedImageName(cs[i].Image)]; ok {
				sum += int64(float64(st.Size) * float64(st.NumNodes) / float64(total))
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	return scale(sum, n), nil
}

func scale(sum int64, containers int) int64 {
	maxThreshold := maxContainerThreshold * int64(containers)
	switch {
	case sum < minThreshold:
		sum = minThreshold
	case sum > maxThreshold:
		sum = maxThreshold
	}
	if maxThreshold <= minThreshold {
		return 0
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (maxThreshold - minThreshold)
}

// NormalizedImageName adds ":latest" to an image without tag or digest,
// as node status reports image names with their tag.
func NormalizedImageName(name string) string {
	if strings.Contains(name, "@") {
		return name
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name
	}
	return name + ":latest"
}

// ScoreExtensions implements framework.ScorePlugin.
func (*ImageLocality) ScoreExtensions() framework.ScoreExtensions { return nil }
