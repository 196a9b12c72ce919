//go:build integration

package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	volumehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/podvisor/podvisor/internal/controller/volume"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/nodetest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestLocalPathCleanup deletes local-path volumes as the volume
// controller does for a released volume with reclaim policy Delete: the
// agent of the node in the volume's affinity removes its directory and
// then the cleanup finalizer, with its own (node) credentials; another
// node's volume is left alone.
func TestLocalPathCleanup(t *testing.T) {
	ts := servertest.Start(t, server.Config{})
	n := nodetest.StartNode(t, ts, nodetest.Options{})
	ctx := context.Background()
	root := t.TempDir()
	suffix := nodetest.RandHex(3)
	mk := func(name, host string) *corev1.PersistentVolume {
		t.Helper()
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sub", "data"), []byte("kept by the pod"), 0o644); err != nil {
			t.Fatal(err)
		}
		dirOrCreate := corev1.HostPathDirectoryOrCreate
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: []string{volume.FinalizerCleanup},
				Annotations: map[string]string{volumehelpers.AnnDynamicallyProvisioned: volume.Provisioner}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				StorageClassName:              volume.DefaultClassName,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirOrCreate}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{host}}},
				}}}},
			},
		}
		out, err := ts.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating volume %s: %v", name, err)
		}
		t.Cleanup(func() {
			ts.Client.CoreV1().PersistentVolumes().Patch(context.Background(), name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			ts.Client.CoreV1().PersistentVolumes().Delete(context.Background(), name, metav1.DeleteOptions{})
		})
		return out
	}
	mine := mk("pvc-mine-"+suffix, n.Name)
	theirs := mk("pvc-theirs-"+suffix, "elsewhere-"+suffix)
	for _, pv := range []*corev1.PersistentVolume{mine, theirs} {
		if err := ts.Client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("deleting volume %s: %v", pv.Name, err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := ts.Client.CoreV1().PersistentVolumes().Get(ctx, mine.Name, metav1.GetOptions{})
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("volume %s still there a minute after its deletion", mine.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(root, mine.Name)); !os.IsNotExist(err) {
		t.Errorf("directory of the deleted volume: %v, want it removed", err)
	}
	got, err := ts.Client.CoreV1().PersistentVolumes().Get(ctx, theirs.Name, metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil || len(got.Finalizers) != 1 {
		t.Errorf("another node's deleted volume: %v %+v, want it kept by its finalizer", err, got)
	}
	if _, err := os.Stat(filepath.Join(root, theirs.Name, "sub", "data")); err != nil {
		t.Errorf("another node's volume directory was touched: %v", err)
	}
}
