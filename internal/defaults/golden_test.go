package defaults

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// decodeFile reads a YAML manifest into its typed object. client-go's
// scheme registers no defaulting functions, so what is read is exactly
// what the file says.
func decodeFile(t *testing.T, path string) runtime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return obj
}

// semanticDiff compares API objects as Kubernetes does (quantities by
// value) and shows a readable diff when they differ.
func semanticDiff(want, got any) string {
	if equality.Semantic.DeepEqual(want, got) {
		return ""
	}
	return cmp.Diff(want, got)
}

// TestGolden defaults each testdata/<name>.input.yaml and compares it with
// testdata/<name>.expected.yaml, written by hand from what Kubernetes
// returns for the same manifest.
func TestGolden(t *testing.T) {
	for _, name := range []string{"pod", "deployment", "service", "job", "statefulset", "cronjob"} {
		t.Run(name, func(t *testing.T) {
			got := decodeFile(t, filepath.Join("testdata", name+".input.yaml"))
			if !Object(got) {
				t.Fatalf("Object does not know %T", got)
			}
			if job, ok := got.(*batchv1.Job); ok {
				JobSelector(job)
			}
			want := decodeFile(t, filepath.Join("testdata", name+".expected.yaml"))
			if diff := semanticDiff(want, got); diff != "" {
				t.Errorf("defaulted %s differs from Kubernetes' (-want +got):\n%s", name, diff)
			}
			again := got.DeepCopyObject()
			Object(again)
			if diff := semanticDiff(got, again); diff != "" {
				t.Errorf("defaulting %s twice changed it (-once +twice):\n%s", name, diff)
			}
		})
	}
}
