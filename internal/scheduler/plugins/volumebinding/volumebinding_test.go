package volumebinding_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/scheduler/plugins/volumebinding"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func nodes() []*v1.Node {
	return []*v1.Node{schedtest.Node("n1").Zone("a").Obj(), schedtest.Node("n2").Zone("b").Obj()}
}

func bound(pvc *v1.PersistentVolumeClaim, pv string) *v1.PersistentVolumeClaim {
	pvc.Spec.VolumeName = pv
	pvc.Status.Phase = v1.ClaimBound
	return pvc
}

func TestFilter(t *testing.T) {
	local := schedtest.StorageClass("local", "podvisor.io/local-path", true)
	static := schedtest.StorageClass("static", volumebinding.NoProvisioner, true)
	immediate := schedtest.StorageClass("fast", "podvisor.io/local-path", false)
	zoned := schedtest.StorageClass("zoned", "podvisor.io/local-path", true)
	zoned.AllowedTopologies = []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: v1.LabelTopologyZone, Values: []string{"b"}}}}}
	conflict := "UnschedulableAndUnresolvable: " + volumebinding.ErrReasonNodeConflict
	noPV := "UnschedulableAndUnresolvable: " + volumebinding.ErrReasonBindConflict
	tests := []struct {
		name string
		objs []runtime.Object
		pod  *v1.Pod
		want map[string]string
	}{
		{"no claims: skipped", nil, schedtest.Pod("p").Obj(), map[string]string{"n1": "", "n2": ""}},
		{"missing claim", nil, schedtest.Pod("p").PVC("data").Obj(),
			map[string]string{"n1": `UnschedulableAndUnresolvable: persistentvolumeclaim "data" not found`, "n2": `UnschedulableAndUnresolvable: persistentvolumeclaim "data" not found`}},
		{"bound claim: the volume's node only (data locality)",
			[]runtime.Object{bound(schedtest.PVC("data", "1Gi", "local"), "pv1"), schedtest.PV("pv1", "1Gi", "local", "n2"), local},
			schedtest.Pod("p").PVC("data").Obj(), map[string]string{"n1": conflict, "n2": ""}},
		{"bound to a missing volume",
			[]runtime.Object{bound(schedtest.PVC("data", "1Gi", "local"), "gone"), local},
			schedtest.Pod("p").PVC("data").Obj(),
			map[string]string{"n1": "UnschedulableAndUnresolvable: " + volumebinding.ErrReasonPVNotExist, "n2": "UnschedulableAndUnresolvable: " + volumebinding.ErrReasonPVNotExist}},
		{"unbound immediate claim waits for the controller",
			[]runtime.Object{schedtest.PVC("data", "1Gi", "fast"), immediate},
			schedtest.Pod("p").PVC("data").Obj(),
			map[string]string{"n1": "UnschedulableAndUnresolvable: " + volumebinding.ErrUnboundImmediate, "n2": "UnschedulableAndUnresolvable: " + volumebinding.ErrUnboundImmediate}},
		{"WaitForFirstConsumer: static volume only on n1",
			[]runtime.Object{schedtest.PVC("data", "1Gi", "static"), schedtest.PV("pv1", "2Gi", "static", "n1"), static},
			schedtest.Pod("p").PVC("data").Obj(), map[string]string{"n1": "", "n2": noPV}},
		{"WaitForFirstConsumer: volume too small",
			[]runtime.Object{schedtest.PVC("data", "5Gi", "static"), schedtest.PV("pv1", "2Gi", "static", "n1"), static},
			schedtest.Pod("p").PVC("data").Obj(), map[string]string{"n1": noPV, "n2": noPV}},
		{"WaitForFirstConsumer: provisioning anywhere",
			[]runtime.Object{schedtest.PVC("data", "1Gi", "local"), local},
			schedtest.Pod("p").PVC("data").Obj(), map[string]string{"n1": "", "n2": ""}},
		{"provisioning limited by allowed topologies",
			[]runtime.Object{schedtest.PVC("data", "1Gi", "zoned"), zoned},
			schedtest.Pod("p").PVC("data").Obj(), map[string]string{"n1": conflict, "n2": ""}},
		{"claim already being provisioned for n2",
			[]runtime.Object{func() runtime.Object {
				c := schedtest.PVC("data", "1Gi", "local")
				c.Annotations = map[string]string{volumebinding.AnnSelectedNode: "n2"}
				return c
			}(), local},
			schedtest.Pod("p").PVC("data").Obj(), map[string]string{"n1": noPV, "n2": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, volumebinding.Name, volumebinding.New, nil, nil, nodes(), tc.objs...)
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(tc.want, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSmallestVolumeWins(t *testing.T) {
	static := schedtest.StorageClass("static", volumebinding.NoProvisioner, true)
	env := plugintest.NewEnv(t, volumebinding.Name, volumebinding.New, volumebinding.Args{BindTimeout: 5 * time.Second}, nil, nodes(),
		static, schedtest.PVC("data", "1Gi", "static"),
		schedtest.PV("big", "10Gi", "static", ""), schedtest.PV("small", "2Gi", "static", ""), schedtest.PV("tiny", "512Mi", "static", ""))
	pod := schedtest.Pod("p").PVC("data").Obj()
	_, state := env.Filter(t, pod)
	p := env.Plugin.(*volumebinding.VolumeBinding)
	if st := p.Reserve(context.Background(), state, pod, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	// PreBind writes the claimRef on "small", then waits for the volume
	// controller; play the controller.
	done := make(chan *framework.Status)
	go func() { done <- p.PreBind(context.Background(), state, pod, "n1") }()
	pv := waitForClaimRef(t, env, "small")
	if pv.Spec.ClaimRef.Name != "data" {
		t.Fatalf("claimRef %+v", pv.Spec.ClaimRef)
	}
	claim, _ := env.Client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data", metav1.GetOptions{})
	claim.Spec.VolumeName = "small"
	if _, err := env.Client.CoreV1().PersistentVolumeClaims("default").Update(context.Background(), claim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := <-done; !st.IsSuccess() {
		t.Errorf("PreBind: %v", st)
	}
}

func waitForClaimRef(t *testing.T, env *plugintest.Env, name string) *v1.PersistentVolume {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		pv, err := env.Client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && pv.Spec.ClaimRef != nil {
			return pv
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("volume %s never got a claimRef", name)
	return nil
}

func TestProvisioningAnnotatesTheClaim(t *testing.T) {
	local := schedtest.StorageClass("local", "podvisor.io/local-path", true)
	env := plugintest.NewEnv(t, volumebinding.Name, volumebinding.New, volumebinding.Args{BindTimeout: 5 * time.Second}, nil, nodes(),
		local, schedtest.PVC("data", "1Gi", "local"))
	pod := schedtest.Pod("p").PVC("data").Obj()
	_, state := env.Filter(t, pod)
	p := env.Plugin.(*volumebinding.VolumeBinding)
	if st := p.Reserve(context.Background(), state, pod, "n2"); !st.IsSuccess() {
		t.Fatal(st)
	}
	done := make(chan *framework.Status)
	go func() { done <- p.PreBind(context.Background(), state, pod, "n2") }()
	var claim *v1.PersistentVolumeClaim
	deadline := time.Now().Add(10 * time.Second)
	for claim == nil || claim.Annotations[volumebinding.AnnSelectedNode] == "" {
		if time.Now().After(deadline) {
			t.Fatal("claim never annotated")
		}
		time.Sleep(10 * time.Millisecond)
		claim, _ = env.Client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data", metav1.GetOptions{})
	}
	if got := claim.Annotations[volumebinding.AnnSelectedNode]; got != "n2" {
		t.Errorf("selected node %q, want n2", got)
	}
	// The provisioner creates the volume and binds the claim.
	claim.Spec.VolumeName = "pvc-data"
	if _, err := env.Client.CoreV1().PersistentVolumeClaims("default").Update(context.Background(), claim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := <-done; !st.IsSuccess() {
		t.Errorf("PreBind: %v", st)
	}
}

func TestPreBindTimesOut(t *testing.T) {
	local := schedtest.StorageClass("local", "podvisor.io/local-path", true)
	env := plugintest.NewEnv(t, volumebinding.Name, volumebinding.New, volumebinding.Args{BindTimeout: 100 * time.Millisecond}, nil, nodes(),
		local, schedtest.PVC("data", "1Gi", "local"))
	pod := schedtest.Pod("p").PVC("data").Obj()
	_, state := env.Filter(t, pod)
	p := env.Plugin.(*volumebinding.VolumeBinding)
	if st := p.Reserve(context.Background(), state, pod, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := p.PreBind(context.Background(), state, pod, "n1"); st.Code() != framework.Error {
		t.Errorf("PreBind without a volume controller: %v, want an error", st)
	}
}

func TestReservedVolumeIsNotOfferedTwice(t *testing.T) {
	static := schedtest.StorageClass("static", volumebinding.NoProvisioner, true)
	second := schedtest.PVC("other", "1Gi", "static")
	env := plugintest.NewEnv(t, volumebinding.Name, volumebinding.New, nil, nil, nodes(),
		static, schedtest.PVC("data", "1Gi", "static"), second, schedtest.PV("only", "1Gi", "static", ""))
	p := env.Plugin.(*volumebinding.VolumeBinding)
	first := schedtest.Pod("p1").PVC("data").Obj()
	_, state := env.Filter(t, first)
	if st := p.Reserve(context.Background(), state, first, "n1"); !st.IsSuccess() {
		t.Fatal(st)
	}
	got, _ := env.Filter(t, schedtest.Pod("p2").PVC("other").Obj())
	noPV := "UnschedulableAndUnresolvable: " + volumebinding.ErrReasonBindConflict
	if diff := cmp.Diff(map[string]string{"n1": noPV, "n2": noPV}, plugintest.Codes(got)); diff != "" {
		t.Errorf("second claim while the volume is reserved (-want +got):\n%s", diff)
	}
	p.Unreserve(context.Background(), state, first, "n1")
	got, _ = env.Filter(t, schedtest.Pod("p2").PVC("other").Obj())
	if diff := cmp.Diff(map[string]string{"n1": "", "n2": ""}, plugintest.Codes(got)); diff != "" {
		t.Errorf("after Unreserve (-want +got):\n%s", diff)
	}
}
