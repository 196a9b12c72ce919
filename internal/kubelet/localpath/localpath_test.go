package localpath

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	volumehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/podvisor/podvisor/internal/controller/volume"
	"github.com/podvisor/podvisor/internal/localpv"
)

func localPV(name, path, host string, mutate func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	now := metav1.Now()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &now,
			Annotations: map[string]string{volumehelpers.AnnDynamicallyProvisioned: volume.Provisioner},
			Finalizers:  []string{"kubernetes.io/pv-protection", volume.FinalizerCleanup}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{host}}},
			}}}},
		},
	}
	if mutate != nil {
		mutate(pv)
	}
	return pv
}

func TestDueAndDir(t *testing.T) {
	tests := []struct {
		name   string
		pv     *corev1.PersistentVolume
		due    bool
		dir    string
		dirErr bool
	}{
		{name: "deleted local-path volume on this node", pv: localPV("pv-1", "/var/lib/podvisor/storage/pv-1", "n1", nil),
			due: true, dir: "/var/lib/podvisor/storage/pv-1"},
		{name: "another node's", pv: localPV("pv-1", "/s/pv-1", "n2", nil), dir: "/s/pv-1"},
		{name: "not deleted", pv: localPV("pv-1", "/s/pv-1", "n1", func(pv *corev1.PersistentVolume) { pv.DeletionTimestamp = nil }), dir: "/s/pv-1"},
		{name: "finalizer gone", pv: localPV("pv-1", "/s/pv-1", "n1", func(pv *corev1.PersistentVolume) { pv.Finalizers = nil }), dir: "/s/pv-1"},
		{name: "no affinity", pv: localPV("pv-1", "/s/pv-1", "n1", func(pv *corev1.PersistentVolume) { pv.Spec.NodeAffinity = nil }), dir: "/s/pv-1"},
		{name: "other provisioner", due: true, dirErr: true,
			pv: localPV("pv-1", "/s/pv-1", "n1", func(pv *corev1.PersistentVolume) { pv.Annotations = nil })},
		{name: "path not named after the volume", pv: localPV("pv-1", "/etc", "n1", nil), due: true, dirErr: true},
		{name: "root", pv: localPV("pv-1", "/", "n1", nil), due: true, dirErr: true},
		{name: "relative", pv: localPV("pv-1", "s/pv-1", "n1", nil), due: true, dirErr: true},
		{name: "dot-dot", pv: localPV("pv-1", "/s/../pv-1", "n1", nil), due: true, dirErr: true},
		{name: "not hostPath", due: true, dirErr: true,
			pv: localPV("pv-1", "/s/pv-1", "n1", func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Due(tc.pv, "n1"); got != tc.due {
				t.Errorf("Due = %v, want %v", got, tc.due)
			}
			dir, err := Dir(tc.pv)
			if tc.dirErr {
				if !errors.Is(err, ErrNotCleanable) {
					t.Errorf("Dir = %q, %v; want ErrNotCleanable", dir, err)
				}
				return
			}
			if err != nil || dir != tc.dir {
				t.Errorf("Dir = %q, %v; want %q", dir, err, tc.dir)
			}
		})
	}
}

func TestClean(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "pv-1")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "sub", "data"), []byte("x"), 0o644)
	bad := filepath.Join(root, "keep")
	os.MkdirAll(bad, 0o755)
	pv := localPV("pv-1", dir, "n1", nil)
	other := localPV("pv-2", bad, "n1", nil)
	cs := fake.NewClientset(pv, other)
	c, err := New(Config{NodeName: "n1", Hostname: "n1"}, Deps{Client: cs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Clean(ctx, pv); err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory after Clean: %v, want it gone", err)
	}
	got, _ := cs.CoreV1().PersistentVolumes().Get(ctx, "pv-1", metav1.GetOptions{})
	if d := cmp.Diff([]string{"kubernetes.io/pv-protection"}, got.Finalizers); d != "" {
		t.Errorf("finalizers (-want +got):\n%s", d)
	}
	if err := c.Clean(ctx, other); !errors.Is(err, ErrNotCleanable) {
		t.Errorf("Clean of a volume whose path is not named after it: %v, want ErrNotCleanable", err)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("a directory not named after its volume was touched: %v", err)
	}
	got, _ = cs.CoreV1().PersistentVolumes().Get(ctx, "pv-2", metav1.GetOptions{})
	if len(got.Finalizers) != 2 {
		t.Errorf("finalizers of the volume left alone: %v", got.Finalizers)
	}
}

// TestRunListsOwnVolumes checks that the cleaner lists and watches only
// the volumes labelled with its node (the only list the node authorizer
// allows it) and cleans up its deleted volume.
func TestRunListsOwnVolumes(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "pv-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pv := localPV("pv-1", dir, "n1", func(pv *corev1.PersistentVolume) { pv.Labels = map[string]string{localpv.NodeLabel: "n1"} })
	cs := fake.NewClientset(pv)
	var mu sync.Mutex
	selectors := map[string][]string{}
	record := func(verb string, sel labels.Selector) {
		mu.Lock()
		defer mu.Unlock()
		selectors[verb] = append(selectors[verb], sel.String())
	}
	cs.PrependReactor("list", "persistentvolumes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		record("list", a.(k8stesting.ListAction).GetListRestrictions().Labels)
		return false, nil, nil
	})
	cs.PrependWatchReactor("persistentvolumes", func(a k8stesting.Action) (bool, watch.Interface, error) {
		record("watch", a.(k8stesting.WatchAction).GetWatchRestrictions().Labels)
		return false, nil, nil
	})
	c, err := New(Config{NodeName: "n1", Hostname: "n1"}, Deps{Client: cs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	for {
		got, err := cs.CoreV1().PersistentVolumes().Get(ctx, "pv-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		watched := len(selectors["watch"]) > 0
		mu.Unlock()
		if len(got.Finalizers) == 1 && watched {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory after cleanup: %v, want it gone", err)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := localpv.NodeLabel + "=n1"
	for _, verb := range []string{"list", "watch"} {
		if len(selectors[verb]) == 0 {
			t.Errorf("no %s of volumes seen", verb)
		}
		for _, sel := range selectors[verb] {
			if sel != want {
				t.Errorf("%s with label selector %q, want %q", verb, sel, want)
			}
		}
	}
}
