// Package horizontalpodautoscalers is the strategy for autoscaling/v2 horizontalpodautoscalers. Imported by the API server.
package horizontalpodautoscalers

import (
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the horizontalpodautoscalers strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.TypedChecks(validation.ValidateHorizontalPodAutoscaler, validation.ValidateHorizontalPodAutoscalerUpdate, validation.ValidateHorizontalPodAutoscalerStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers", Kind: "HorizontalPodAutoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} }
