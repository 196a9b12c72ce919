package imagelocality_test

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/podvisor/podvisor/internal/scheduler/plugins/imagelocality"
	"github.com/podvisor/podvisor/internal/testutil/schedtest"
	"github.com/podvisor/podvisor/internal/testutil/schedtest/plugintest"
)

func TestScore(t *testing.T) {
	const mb = 1024 * 1024
	nodes := []*v1.Node{
		schedtest.Node("has-big").Image("example.com/big:1", 800*mb).Obj(),
		schedtest.Node("has-small").Image("example.com/small:latest", 10*mb).Obj(),
		schedtest.Node("none").Obj(),
	}
	env := plugintest.NewEnv(t, imagelocality.Name, imagelocality.New, nil, nil, nodes)
	got := env.Score(t, schedtest.Pod("p").Image("example.com/big:1").Obj())
	if !(got["has-big"] > 0 && got["none"] == 0 && got["has-small"] == 0) {
		t.Errorf("scores %v: only has-big should score", got)
	}
	// An untagged image is :latest; below the 23MB threshold it counts nothing.
	if got := env.Score(t, schedtest.Pod("p").Image("example.com/small").Obj()); got["has-small"] != 0 {
		t.Errorf("a 10MB image scored %d", got["has-small"])
	}
	for in, want := range map[string]string{"nginx": "nginx:latest", "nginx:1.2": "nginx:1.2", "reg:5000/nginx": "reg:5000/nginx:latest", "nginx@sha256:ab": "nginx@sha256:ab"} {
		if got := imagelocality.NormalizedImageName(in); got != want {
			t.Errorf("NormalizedImageName(%q) = %q, want %q", in, got, want)
		}
	}
}
