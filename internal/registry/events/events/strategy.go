// Package events is the strategy for events.k8s.io/v1 events, a view of
// the core/v1 events: both APIs read and write the same stored objects, as
// in Kubernetes. Imported by the API server.
package events

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

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
	_ registry.View            = (*Strategy)(nil)
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

// Stored implements registry.View: core/v1 events.
func (*Strategy) Stored() schema.GroupResource { return schema.GroupResource{Resource: "events"} }

// NewStored implements registry.View.NewStored.
func (*Strategy) NewStored() runtime.Object { return &corev1.Event{} }

// ToStored implements registry.View.ToStored.
func (*Strategy) ToStored(obj runtime.Object) runtime.Object {
	out := &corev1.Event{}
	registry.EventFromEventsV1(obj.(*eventsv1.Event), out)
	return out
}

// FromStored implements registry.View.FromStored.
func (*Strategy) FromStored(stored, into runtime.Object) {
	registry.EventToEventsV1(stored.(*corev1.Event), into.(*eventsv1.Event))
}
