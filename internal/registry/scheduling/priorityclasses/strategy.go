// Package priorityclasses is the strategy for scheduling.k8s.io/v1
// priorityclasses: the named pod priorities the Priority admission plugin
// resolves. Imported by the API server.
package priorityclasses

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/validation"
)

// Strategy is the priorityclasses strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Checks: registry.TypedChecks(validation.ValidatePriorityClass, validation.ValidatePriorityClassUpdate, nil)}}
}

var (
	_ registry.Strategy = (*Strategy)(nil)
	_ registry.Tabler   = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Group: "scheduling.k8s.io", Version: "v1", Resource: "priorityclasses", Kind: "PriorityClass", ShortNames: []string{"pc"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &schedulingv1.PriorityClass{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &schedulingv1.PriorityClassList{} }

// Default implements registry.Strategy.Default: Kubernetes' default
// preemption policy, PreemptLowerPriority.
func (*Strategy) Default(obj runtime.Object) {
	pc := obj.(*schedulingv1.PriorityClass)
	if pc.PreemptionPolicy == nil {
		p := corev1.PreemptLowerPriority
		pc.PreemptionPolicy = &p
	}
}

// Table implements registry.Tabler with Kubernetes' columns.
func (*Strategy) Table(obj runtime.Object, now time.Time) (*metav1.Table, error) {
	pc := obj.(*schedulingv1.PriorityClass)
	age := "<unknown>"
	if !pc.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(now.Sub(pc.CreationTimestamp.Time))
	}
	policy := string(corev1.PreemptLowerPriority)
	if pc.PreemptionPolicy != nil {
		policy = string(*pc.PreemptionPolicy)
	}
	doc := schedulingv1.PriorityClass{}.SwaggerDoc()
	return &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			{Name: "Value", Type: "integer", Description: doc["value"]},
			{Name: "Global-Default", Type: "boolean", Description: doc["globalDefault"]},
			{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
			{Name: "PreemptionPolicy", Type: "string", Description: doc["preemptionPolicy"]},
		},
		Rows: []metav1.TableRow{{Cells: []any{pc.Name, int64(pc.Value), pc.GlobalDefault, age, policy}}},
	}, nil
}
