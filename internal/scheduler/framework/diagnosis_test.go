package framework_test

import (
	"testing"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

func TestFitErrorMessage(t *testing.T) {
	insufficientCPU := framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	taint := framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) had untolerated taint {key: value}")
	tests := []struct {
		name string
		err  framework.FitError
		want string
	}{
		{
			name: "reasons counted per node, sorted",
			err: framework.FitError{NumAllNodes: 3, Diagnosis: framework.Diagnosis{NodeToStatus: framework.NodeToStatus{
				"n1": insufficientCPU, "n2": insufficientCPU, "n3": taint}}},
			want: "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu.",
		},
		{
			name: "with preemption",
			err: framework.FitError{NumAllNodes: 3, Diagnosis: framework.Diagnosis{
				NodeToStatus:  framework.NodeToStatus{"n1": insufficientCPU, "n2": insufficientCPU, "n3": taint},
				PostFilterMsg: "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
			}},
			want: "0/3 nodes are available: 1 node(s) had untolerated taint {key: value}, 2 Insufficient cpu. " +
				"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.",
		},
		{
			name: "a node with two reasons counts for both",
			err: framework.FitError{NumAllNodes: 2, Diagnosis: framework.Diagnosis{NodeToStatus: framework.NodeToStatus{
				"n1": framework.NewStatus(framework.Unschedulable, "Insufficient cpu", "Insufficient memory"),
				"n2": framework.NewStatus(framework.Unschedulable, "Insufficient memory")}}},
			want: "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory.",
		},
		{
			name: "prefilter message replaces the per-node counts",
			err: framework.FitError{NumAllNodes: 2, Diagnosis: framework.Diagnosis{
				NodeToStatus: framework.NodeToStatus{"n1": taint, "n2": taint},
				PreFilterMsg: `persistentvolumeclaim "data" not found`,
			}},
			want: `0/2 nodes are available: persistentvolumeclaim "data" not found.`,
		},
		{
			name: "preemption message without a final period gets one",
			err: framework.FitError{NumAllNodes: 1, Diagnosis: framework.Diagnosis{
				NodeToStatus:  framework.NodeToStatus{"n1": insufficientCPU},
				PostFilterMsg: "preemption: not eligible due to preemptionPolicy=Never",
			}},
			want: "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	var nilStatus *framework.Status
	if !nilStatus.IsSuccess() || nilStatus.Code() != framework.Success || nilStatus.AsError() != nil {
		t.Errorf("nil status is not success")
	}
	s := framework.NewStatus(framework.UnschedulableAndUnresolvable, "a", "b").WithPlugin("P")
	if !s.IsRejected() || s.Message() != "a, b" || s.Plugin() != "P" || s.AsError() == nil {
		t.Errorf("status %v", s)
	}
	if got, want := s.String(), "UnschedulableAndUnresolvable (P): a, b"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if framework.NewStatus(framework.Skip).AsError() != nil {
		t.Errorf("Skip converted to an error")
	}
}
