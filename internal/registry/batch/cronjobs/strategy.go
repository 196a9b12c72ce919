// Package cronjobs is the strategy for batch/v1 cronjobs. Imported by the API server.
package cronjobs

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the cronjobs strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.TypedChecks(validation.ValidateCronJob, validation.ValidateCronJobUpdate, validation.ValidateCronJobStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "batch", Version: "v1", Resource: "cronjobs", Kind: "CronJob", Namespaced: true, ShortNames: []string{"cj"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &batchv1.CronJob{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &batchv1.CronJobList{} }
