// Package events is the strategy for events.k8s.io/v1 events. Imported by the API server.
package events

import (
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the events strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: false, Checks: registry.TypedChecks(validation.ValidateEventsEvent, validation.ValidateEventsEventUpdate, nil)}}
}

var (
	_ registry.Strategy        = (*Strategy)(nil)
	_ registry.CreateOnUpdater = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "events.k8s.io", Version: "v1", Resource: "events", Kind: "Event", Namespaced: true, ShortNames: []string{"ev"}, Categories: nil}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &eventsv1.Event{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &eventsv1.EventList{} }

// AllowCreateOnUpdate implements registry.CreateOnUpdater: a PUT may
// create.
func (*Strategy) AllowCreateOnUpdate() bool { return true }

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	e := obj.(*eventsv1.Event)
	return registry.MetaAttrs(obj, fields.Set{
		"regarding.kind":      e.Regarding.Kind,
		"regarding.namespace": e.Regarding.Namespace,
		"regarding.name":      e.Regarding.Name,
		"regarding.uid":       string(e.Regarding.UID),
		"reason":              e.Reason,
		"reportingController": e.ReportingController,
		"type":                e.Type,
	})
}
