package framework_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
)

const gi = 1024 * 1024 * 1024

func TestComputePodRequests(t *testing.T) {
	tests := []struct {
		name    string
		pod     *v1.Pod
		want    framework.Resource
		nzCPU   int64
		nzMem   int64
		scalars map[v1.ResourceName]int64
	}{
		{
			name:  "no requests",
			pod:   schedtest.Pod("p").Obj(),
			want:  framework.Resource{},
			nzCPU: framework.DefaultMilliCPURequest, nzMem: framework.DefaultMemoryRequest,
		},
		{
			name:  "containers add up",
			pod:   schedtest.Pod("p").Req("1", "1Gi").Container("500m", "2Gi").Obj(),
			want:  framework.Resource{MilliCPU: 1500, Memory: 3 * gi},
			nzCPU: 1500, nzMem: 3 * gi,
		},
		{
			name:  "init containers: the largest, not the sum",
			pod:   schedtest.Pod("p").Req("1", "1Gi").Init("2", "500Mi").Init("1500m", "3Gi").Obj(),
			want:  framework.Resource{MilliCPU: 2000, Memory: 3 * gi},
			nzCPU: 2000, nzMem: 3 * gi,
		},
		{
			name:  "init container smaller than the containers",
			pod:   schedtest.Pod("p").Req("2", "2Gi").Init("1", "1Gi").Obj(),
			want:  framework.Resource{MilliCPU: 2000, Memory: 2 * gi},
			nzCPU: 2000, nzMem: 2 * gi,
		},
		{
			// The worked example of ComputePodRequests: 1+2+0.5 = 3.5 for
			// the containers; i1 alone 4; i2 beside the sidecar 3.5.
			name:  "sidecar adds to containers and later init containers",
			pod:   schedtest.Pod("p").Req("1", "").Container("2", "").Init("4", "").Sidecar("500m", "").Init("3", "").Obj(),
			want:  framework.Resource{MilliCPU: 4000},
			nzCPU: 4000, nzMem: 3 * framework.DefaultMemoryRequest,
		},
		{
			name:  "sidecar before a big init container",
			pod:   schedtest.Pod("p").Req("1", "").Sidecar("1", "").Init("3", "").Obj(),
			want:  framework.Resource{MilliCPU: 4000},
			nzCPU: 4000, nzMem: 2 * framework.DefaultMemoryRequest,
		},
		{
			name:  "overhead is added",
			pod:   schedtest.Pod("p").Req("1", "1Gi").Overhead("250m", "120Mi").Obj(),
			want:  framework.Resource{MilliCPU: 1250, Memory: gi + 120*1024*1024},
			nzCPU: 1250, nzMem: gi + 120*1024*1024,
		},
		{
			name: "extended resources and ephemeral storage",
			pod: schedtest.Pod("p").ReqList(v1.ResourceList{
				v1.ResourceCPU: resource.MustParse("1"), "example.com/gpu": resource.MustParse("2"),
				v1.ResourceEphemeralStorage: resource.MustParse("1Gi"), "hugepages-2Mi": resource.MustParse("4Mi"),
			}).Obj(),
			want: framework.Resource{MilliCPU: 1000, EphemeralStorage: gi,
				ScalarResources: map[v1.ResourceName]int64{"example.com/gpu": 2, "hugepages-2Mi": 4 * 1024 * 1024}},
			nzCPU: 1000, nzMem: framework.DefaultMemoryRequest,
		},
		{
			name: "pod-level requests win",
			pod: func() *v1.Pod {
				p := schedtest.Pod("p").Req("1", "1Gi").Container("1", "1Gi").Obj()
				p.Spec.Resources = &v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("3")}}
				return p
			}(),
			want:  framework.Resource{MilliCPU: 3000, Memory: 2 * gi},
			nzCPU: 3000, nzMem: 2 * gi,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := framework.ComputePodRequests(tc.pod)
			if diff := cmp.Diff(tc.want, got.Requests); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if got.NonZeroMilliCPU != tc.nzCPU || got.NonZeroMemory != tc.nzMem {
				t.Errorf("non-zero requests: got cpu %d mem %d, want cpu %d mem %d", got.NonZeroMilliCPU, got.NonZeroMemory, tc.nzCPU, tc.nzMem)
			}
		})
	}
}

// TestComputePodRequestsAgreesWithKubernetes checks our init-container,
// sidecar and overhead arithmetic against the component-helpers library
// on random pods.
func TestComputePodRequestsAgreesWithKubernetes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	q := func() string { return fmt.Sprintf("%dm", r.IntN(4000)) }
	m := func() string { return fmt.Sprintf("%dMi", r.IntN(4096)) }
	for i := 0; i < 500; i++ {
		b := schedtest.Pod(fmt.Sprintf("p%d", i)).Req(q(), m())
		for j := r.IntN(3); j > 0; j-- {
			b.Container(q(), m())
		}
		for j := r.IntN(4); j > 0; j-- {
			if r.IntN(2) == 0 {
				b.Init(q(), m())
			} else {
				b.Sidecar(q(), m())
			}
		}
		if r.IntN(3) == 0 {
			b.Overhead(q(), m())
		}
		pod := b.Obj()
		ref := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
		got := framework.ComputePodRequests(pod).Requests
		if got.MilliCPU != ref.Cpu().MilliValue() || got.Memory != ref.Memory().Value() {
			t.Fatalf("pod %d: got cpu %dm memory %d, Kubernetes' rule gives cpu %dm memory %d\n%+v",
				i, got.MilliCPU, got.Memory, ref.Cpu().MilliValue(), ref.Memory().Value(), pod.Spec)
		}
	}
}

func TestResourceArithmetic(t *testing.T) {
	a := framework.NewResource(v1.ResourceList{v1.ResourceCPU: resource.MustParse("2"), "example.com/x": resource.MustParse("3")})
	b := framework.NewResource(v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Ki"), "example.com/x": resource.MustParse("1")})
	c := a.Clone()
	c.AddResource(&b)
	want := framework.Resource{MilliCPU: 2000, Memory: 1024, ScalarResources: map[v1.ResourceName]int64{"example.com/x": 4}}
	if diff := cmp.Diff(want, *c); diff != "" {
		t.Errorf("add (-want +got):\n%s", diff)
	}
	c.SubResource(&b)
	if diff := cmp.Diff(framework.Resource{MilliCPU: 2000, ScalarResources: map[v1.ResourceName]int64{"example.com/x": 3}}, *c); diff != "" {
		t.Errorf("sub (-want +got):\n%s", diff)
	}
	if a.ScalarResources["example.com/x"] != 3 {
		t.Errorf("clone shares its scalar map with the original")
	}
}

func TestIsExtendedResourceName(t *testing.T) {
	tests := []struct {
		name v1.ResourceName
		want bool
	}{
		{"cpu", false},
		{"example.com/gpu", true},
		{"kubernetes.io/something", false},
		{"node.kubernetes.io/x", false},
		{"requests.example.com/gpu", false},
	}
	for _, tc := range tests {
		if got := framework.IsExtendedResourceName(tc.name); got != tc.want {
			t.Errorf("IsExtendedResourceName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
