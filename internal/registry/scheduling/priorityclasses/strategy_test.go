package priorityclasses

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	never := corev1.PreemptNever
	tests := []struct {
		name string
		pc   schedulingv1.PriorityClass
		want string // substring of the first error; "" for valid
	}{
		{name: "user class", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}},
		{name: "largest user value", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "top"}, Value: 1000000000}},
		{name: "user value too large", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "top"}, Value: 1000000001},
			want: "maximum allowed value of a user defined priority is 1000000000"},
		{name: "system class as shipped", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000}},
		{name: "system class with another value", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 5},
			want: "value of system-node-critical PriorityClass must be 2000001000"},
		{name: "unknown system name", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 5},
			want: "prefix are reserved for system use only"},
		{name: "bad preemption policy", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}, PreemptionPolicy: ptr(corev1.PreemptionPolicy("Sometimes"))},
			want: "preemptionPolicy"},
		{name: "never preempt", pc: schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}, PreemptionPolicy: &never}},
	}
	s := New()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := s.Validate(&tc.pc)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("got errors %v, want none", errs)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("got errors %v, want one containing %q", errs, tc.want)
			}
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	old := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high", ResourceVersion: "1"}, Value: 10}
	s := New()
	s.Default(old)
	tests := []struct {
		name   string
		mutate func(*schedulingv1.PriorityClass)
		want   string
	}{
		{name: "description", mutate: func(pc *schedulingv1.PriorityClass) { pc.Description = "more" }},
		{name: "value", mutate: func(pc *schedulingv1.PriorityClass) { pc.Value = 11 }, want: "value: Forbidden: may not be changed in an update."},
		{name: "preemption policy", mutate: func(pc *schedulingv1.PriorityClass) { pc.PreemptionPolicy = ptr(corev1.PreemptNever) }, want: "preemptionPolicy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := old.DeepCopy()
			tc.mutate(pc)
			errs := s.ValidateUpdate(pc, old)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("got errors %v, want none", errs)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("got errors %v, want one containing %q", errs, tc.want)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	pc := &schedulingv1.PriorityClass{}
	New().Default(pc)
	if pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Fatalf("got preemption policy %v, want PreemptLowerPriority", pc.PreemptionPolicy)
	}
}

func ptr[T any](v T) *T { return &v }
