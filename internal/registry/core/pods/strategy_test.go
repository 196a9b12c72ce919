package pods

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestBeforeDelete(t *testing.T) {
	tests := []struct {
		name      string
		node      string
		phase     corev1.PodPhase
		specGrace *int64
		optGrace  *int64
		prevGrace *int64
		wantKeep  bool
		wantGrace int64
	}{
		{"unscheduled goes at once", "", corev1.PodPending, nil, nil, nil, false, 0},
		{"scheduled waits the spec's grace", "n1", corev1.PodRunning, ptr.To[int64](45), nil, nil, true, 45},
		{"default grace is 30s", "n1", corev1.PodRunning, nil, nil, nil, true, 30},
		{"options override the spec", "n1", corev1.PodRunning, ptr.To[int64](45), ptr.To[int64](5), nil, true, 5},
		{"grace 0 goes at once", "n1", corev1.PodRunning, nil, ptr.To[int64](0), nil, false, 0},
		{"finished pods go at once", "n1", corev1.PodSucceeded, nil, nil, nil, false, 0},
		{"a second delete never extends", "n1", corev1.PodRunning, nil, ptr.To[int64](60), ptr.To[int64](10), true, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{NodeName: tc.node, TerminationGracePeriodSeconds: tc.specGrace},
				Status: corev1.PodStatus{Phase: tc.phase}}
			p.DeletionGracePeriodSeconds = tc.prevGrace
			opts := &metav1.DeleteOptions{GracePeriodSeconds: tc.optGrace}
			keep := New().BeforeDelete(p, opts, time.Now())
			if keep != tc.wantKeep || *opts.GracePeriodSeconds != tc.wantGrace {
				t.Errorf("keep %v grace %d, want %v %d", keep, *opts.GracePeriodSeconds, tc.wantKeep, tc.wantGrace)
			}
		})
	}
}

func TestQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	tests := []struct {
		name     string
		req, lim corev1.ResourceList
		want     corev1.PodQOSClass
	}{
		{"nothing", nil, nil, corev1.PodQOSBestEffort},
		{"equal requests and limits", rl("1", "1Gi"), rl("1", "1Gi"), corev1.PodQOSGuaranteed},
		{"limits only: requests default to them", nil, rl("1", "1Gi"), corev1.PodQOSGuaranteed},
		{"requests below limits", rl("500m", "1Gi"), rl("1", "1Gi"), corev1.PodQOSBurstable},
		{"one resource", rl("1", ""), rl("1", ""), corev1.PodQOSBurstable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: tc.req, Limits: tc.lim}}}}}
			if got := QOSClass(p); got != tc.want {
				t.Errorf("QOSClass = %s, want %s", got, tc.want)
			}
		})
	}
}
