//go:build integration

package volume_test

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	volumehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/controller/volume"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/etcdtest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

func startController(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	s := servertest.Start(t, server.Config{DisableAgent: true})
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(s.Client, 0)
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.Client.CoreV1().Events("")})
	c, err := volume.New(volume.Config{LocalPathRoot: "/srv/pv"}, reconcile.Deps{Client: s.Client, Informers: f,
		Recorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "persistent-volume-binder"}),
		Log:      etcdtest.Logger(t), Clock: clock.RealClock{}})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); f.Shutdown(); b.Shutdown() })
	return ctx, s.Client
}

func waitClaim(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, name string, cond func(*corev1.PersistentVolumeClaim) bool) *corev1.PersistentVolumeClaim {
	t.Helper()
	var last *corev1.PersistentVolumeClaim
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("waiting for claim %s/%s: %v (last: %+v)", ns, name, err, last)
	}
	return last
}

// TestIntegrationBindingAndProvisioning: against a real server, a static
// volume is bound and released (Retain), and a WaitForFirstConsumer claim
// of the default local-path class waits for the scheduler's node choice,
// then is provisioned on that node and bound.
func TestIntegrationBindingAndProvisioning(t *testing.T) {
	ctx, client := startController(t)
	suffix := metav1.Now().Format("150405.000000")[7:]
	ns := "vol-" + suffix
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The default class appears.
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		sc, err := client.StorageV1().StorageClasses().Get(ctx, volume.DefaultClassName, metav1.GetOptions{})
		return err == nil && sc.Annotations[volume.AnnDefaultClass] == "true", nil
	}); err != nil {
		t.Fatalf("waiting for the default storage class: %v", err)
	}

	// Static binding, then release with Retain.
	manual := "manual-" + suffix
	pvName := "static-" + suffix
	if _, err := client.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              manual,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/static"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	claim := func(name string, class *string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}}
	}
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim("static", &manual), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := waitClaim(ctx, t, client, ns, "static", func(p *corev1.PersistentVolumeClaim) bool { return p.Status.Phase == corev1.ClaimBound })
	if c.Spec.VolumeName != pvName {
		t.Errorf("static claim bound to %q, want %s", c.Spec.VolumeName, pvName)
	}
	if err := client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "static", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
		return err == nil && pv.Status.Phase == corev1.VolumeReleased, nil
	}); err != nil {
		t.Fatalf("waiting for the retained volume to be Released: %v", err)
	}

	// WaitForFirstConsumer provisioning on the selected node.
	node := "node-" + suffix
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node,
		Labels: map[string]string{corev1.LabelHostname: node}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim("data", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c = waitClaim(ctx, t, client, ns, "data", func(p *corev1.PersistentVolumeClaim) bool {
		return p.Spec.StorageClassName != nil && *p.Spec.StorageClassName == volume.DefaultClassName && p.Status.Phase == corev1.ClaimPending
	})
	time.Sleep(200 * time.Millisecond) // give a wrong early bind a chance to show
	if c, _ = client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{}); c.Spec.VolumeName != "" {
		t.Fatalf("WaitForFirstConsumer claim bound to %s before a node was selected", c.Spec.VolumeName)
	}
	metav1.SetMetaDataAnnotation(&c.ObjectMeta, volumehelpers.AnnSelectedNode, node)
	if _, err := client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c = waitClaim(ctx, t, client, ns, "data", func(p *corev1.PersistentVolumeClaim) bool { return p.Status.Phase == corev1.ClaimBound })
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != "/srv/pv/"+pv.Name || pv.Status.Phase != corev1.VolumeBound {
		t.Errorf("provisioned volume: hostPath %+v phase %s", pv.Spec.HostPath, pv.Status.Phase)
	}
	if got := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values; len(got) != 1 || got[0] != node {
		t.Errorf("node affinity values = %v, want [%s]", got, node)
	}

	// Delete reclaim: the volume is deleted and waits for the node
	// agent's cleanup finalizer.
	if err := client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		v, err := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return err == nil && v.DeletionTimestamp != nil, nil
	}); err != nil {
		t.Fatalf("waiting for the released local-path volume to be deleting: %v", err)
	}
	// What the agent does once the directory is gone.
	v, _ := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
	v.Finalizers = nil
	if _, err := client.CoreV1().PersistentVolumes().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatalf("waiting for the volume to go: %v", err)
	}
}
