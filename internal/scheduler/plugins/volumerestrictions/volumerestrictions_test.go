package volumerestrictions_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/volumerestrictions"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func TestReadWriteOncePod(t *testing.T) {
	rwop := schedtest.PVC("solo", "1Gi", "")
	rwop.Spec.AccessModes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOncePod}
	rwo := schedtest.PVC("shared", "1Gi", "")
	nodes := []*v1.Node{schedtest.Node("a").Obj(), schedtest.Node("b").Obj()}
	conflict := "Unschedulable: " + volumerestrictions.ErrReasonReadWriteOncePodConflict
	tests := []struct {
		name     string
		existing []*v1.Pod
		pod      *v1.Pod
		want     map[string]string
	}{
		{"unused RWOP claim", nil, schedtest.Pod("p").PVC("solo").Obj(), map[string]string{"a": "", "b": ""}},
		{"RWOP claim in use on another node blocks everywhere",
			[]*v1.Pod{schedtest.Pod("holder").Node("a").PVC("solo").Obj()},
			schedtest.Pod("p").PVC("solo").Obj(), map[string]string{"a": conflict, "b": conflict}},
		{"RWO claim may be shared", []*v1.Pod{schedtest.Pod("holder").Node("a").PVC("shared").Obj()},
			schedtest.Pod("p").PVC("shared").Obj(), map[string]string{"a": "", "b": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := plugintest.NewEnv(t, volumerestrictions.Name, volumerestrictions.New, nil, tc.existing, nodes, rwop, rwo)
			got, _ := env.Filter(t, tc.pod)
			if diff := cmp.Diff(tc.want, plugintest.Codes(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRemovingTheHolderFreesTheClaim(t *testing.T) {
	rwop := schedtest.PVC("solo", "1Gi", "")
	rwop.Spec.AccessModes = []v1.PersistentVolumeAccessMode{v1.ReadWriteOncePod}
	holder := schedtest.Pod("holder").Node("a").PVC("solo").Obj()
	env := plugintest.NewEnv(t, volumerestrictions.Name, volumerestrictions.New, nil, []*v1.Pod{holder},
		[]*v1.Node{schedtest.Node("a").Obj()}, rwop)
	pod := schedtest.Pod("p").PVC("solo").Obj()
	_, state := env.Filter(t, pod)
	a, _ := env.Snapshot.Get("a")
	p := env.Plugin.(*volumerestrictions.VolumeRestrictions)
	if st := p.RemovePod(nil, state, pod, a.Pods[0], a); !st.IsSuccess() {
		t.Fatal(st)
	}
	if st := p.Filter(nil, state, pod, a); !st.IsSuccess() {
		t.Errorf("after preempting the holder: %v", st)
	}
}
