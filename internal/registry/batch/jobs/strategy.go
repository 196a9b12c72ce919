// Package jobs is the strategy for batch/v1 jobs: defaults (one completion,
// parallelism one, backoff limit six), the generated controller-uid selector,
// an immutable selector and template, status. Imported by the API server.
package jobs

import (
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/defaults"
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the jobs strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, Checks: registry.TypedChecks(validation.ValidateJob, validation.ValidateJobUpdate, validation.ValidateJobStatusUpdate)}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "batch", Version: "v1", Resource: "jobs", Kind: "Job", Namespaced: true, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &batchv1.Job{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &batchv1.JobList{} }

// PrepareForCreate implements registry.Strategy.PrepareForCreate: unless
// the job chose its selector, it selects its pods by its own uid.
func (s *Strategy) PrepareForCreate(obj runtime.Object) {
	s.Base.PrepareForCreate(obj)
	defaults.JobSelector(obj.(*batchv1.Job))
}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	j := obj.(*batchv1.Job)
	return registry.MetaAttrs(obj, fields.Set{"status.successful": itoa(j.Status.Succeeded)})
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
