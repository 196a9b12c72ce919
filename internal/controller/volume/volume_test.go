package volume

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	volumehelpers "k8s.io/component-helpers/storage/volume"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

type env struct {
	t      *testing.T
	c      *Controller
	client *fake.Clientset
	f      informers.SharedInformerFactory
	rec    *record.FakeRecorder
}

func newEnv(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(1000)
	c, err := New(Config{LocalPathRoot: "/data/storage"}, reconcile.Deps{Client: client, Informers: f, Recorder: rec,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clocktesting.NewFakeClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, c: c, client: client, f: f, rec: rec}
	e.sync()
	return e
}

// sync copies the fake API's objects into the informer caches.
func (e *env) sync() {
	ctx := context.Background()
	replace := func(idx interface {
		Replace([]any, string) error
	}, items []any) {
		_ = idx.Replace(items, "")
	}
	pvs, _ := e.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	var items []any
	for i := range pvs.Items {
		items = append(items, &pvs.Items[i])
	}
	replace(e.f.Core().V1().PersistentVolumes().Informer().GetIndexer(), items)
	pvcs, _ := e.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	items = nil
	for i := range pvcs.Items {
		items = append(items, &pvcs.Items[i])
	}
	replace(e.f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer(), items)
	scs, _ := e.client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	items = nil
	for i := range scs.Items {
		items = append(items, &scs.Items[i])
	}
	replace(e.f.Storage().V1().StorageClasses().Informer().GetIndexer(), items)
	nodes, _ := e.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	items = nil
	for i := range nodes.Items {
		items = append(items, &nodes.Items[i])
	}
	replace(e.f.Core().V1().Nodes().Informer().GetIndexer(), items)
}

// settle reconciles every claim and volume until nothing changes, as the
// running controller would.
func (e *env) settle() {
	e.t.Helper()
	ctx := context.Background()
	for round := 0; round < 20; round++ {
		before := len(e.client.Actions())
		var keys []string
		pvcs, _ := e.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
		for _, p := range pvcs.Items {
			keys = append(keys, claimPrefix+p.Namespace+"/"+p.Name)
		}
		pvs, _ := e.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		for _, p := range pvs.Items {
			keys = append(keys, volumePrefix+p.Name)
		}
		for _, k := range keys {
			if err := e.c.Reconcile(ctx, k); err != nil {
				e.t.Fatalf("Reconcile(%s): %v", k, err)
			}
			e.sync()
		}
		if writes(e.client.Actions()[before:]) == 0 {
			return
		}
	}
	e.t.Fatal("no fixpoint after 20 rounds")
}

func writes(actions []clienttesting.Action) int {
	n := 0
	for _, a := range actions {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			n++
		}
	}
	return n
}

func (e *env) claim(name string) *corev1.PersistentVolumeClaim {
	e.t.Helper()
	c, err := e.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) volume(name string) *corev1.PersistentVolume {
	e.t.Helper()
	v, err := e.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("volume %s: %v", name, err)
	}
	return v
}

func (e *env) volumeNames() []string {
	l, _ := e.client.CoreV1().PersistentVolumes().List(context.Background(), metav1.ListOptions{})
	var out []string
	for _, v := range l.Items {
		out = append(out, v.Name)
	}
	sort.Strings(out)
	return out
}

func (e *env) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.rec.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func hasEvent(evs []string, reason string) bool {
	for _, ev := range evs {
		if strings.Contains(ev, " "+reason+" ") {
			return true
		}
	}
	return false
}

type pvOpt func(*corev1.PersistentVolume)

func pv(name, size string, opts ...pvOpt) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              "manual",
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

type pvcOpt func(*corev1.PersistentVolumeClaim)

func pvc(name, size string, opts ...pvcOpt) *corev1.PersistentVolumeClaim {
	class := "manual"
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: &class,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

func class(name, provisioner string, mode storagev1.VolumeBindingMode, reclaim corev1.PersistentVolumeReclaimPolicy) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner,
		VolumeBindingMode: &mode, ReclaimPolicy: &reclaim}
}

func readyNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{LabelHostname: name}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func TestMatching(t *testing.T) {
	block := corev1.PersistentVolumeBlock
	tests := []struct {
		name    string
		volumes []*corev1.PersistentVolume
		claim   *corev1.PersistentVolumeClaim
		want    string // volume bound, "" for none
	}{
		{
			name: "smallest that fits",
			volumes: []*corev1.PersistentVolume{
				pv("small", "500Mi"), pv("big", "5Gi"), pv("fit", "2Gi"), pv("fit-but-later", "3Gi"),
			},
			claim: pvc("c", "1Gi"),
			want:  "fit",
		},
		{
			name: "access modes must be a superset",
			volumes: []*corev1.PersistentVolume{
				pv("rwo", "1Gi"),
				pv("rwx-rwo", "2Gi", func(v *corev1.PersistentVolume) {
					v.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce}
				}),
			},
			claim: pvc("c", "1Gi", func(c *corev1.PersistentVolumeClaim) {
				c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
			}),
			want: "rwx-rwo",
		},
		{
			name:    "storage class must be equal",
			volumes: []*corev1.PersistentVolume{pv("gold", "1Gi", func(v *corev1.PersistentVolume) { v.Spec.StorageClassName = "gold" })},
			claim:   pvc("c", "1Gi"),
			want:    "",
		},
		{
			name:    "volume mode must be equal",
			volumes: []*corev1.PersistentVolume{pv("blk", "1Gi", func(v *corev1.PersistentVolume) { v.Spec.VolumeMode = &block })},
			claim:   pvc("c", "1Gi"),
			want:    "",
		},
		{
			name: "label selector",
			volumes: []*corev1.PersistentVolume{
				pv("plain", "1Gi"), pv("fast", "2Gi", func(v *corev1.PersistentVolume) { v.Labels = map[string]string{"speed": "fast"} }),
			},
			claim: pvc("c", "1Gi", func(c *corev1.PersistentVolumeClaim) {
				c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"speed": "fast"}}
			}),
			want: "fast",
		},
		{
			name: "claimRef pre-binding wins over a smaller fit",
			volumes: []*corev1.PersistentVolume{
				pv("fit", "1Gi"),
				pv("reserved", "4Gi", func(v *corev1.PersistentVolume) {
					v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "c"}
				}),
			},
			claim: pvc("c", "1Gi"),
			want:  "reserved",
		},
		{
			name: "a volume reserved for another claim is not taken",
			volumes: []*corev1.PersistentVolume{pv("reserved", "4Gi", func(v *corev1.PersistentVolume) {
				v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "other"}
			})},
			claim: pvc("c", "1Gi"),
			want:  "",
		},
		{
			name:    "volumeName pre-binding",
			volumes: []*corev1.PersistentVolume{pv("fit", "1Gi"), pv("named", "8Gi")},
			claim:   pvc("c", "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "named" }),
			want:    "named",
		},
		{
			name:    "volumeName naming a too small volume stays pending",
			volumes: []*corev1.PersistentVolume{pv("named", "100Mi")},
			claim:   pvc("c", "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "named" }),
			want:    "",
		},
		{
			name: "Released volumes are not reused",
			volumes: []*corev1.PersistentVolume{pv("old", "1Gi", func(v *corev1.PersistentVolume) {
				v.Status.Phase = corev1.VolumeReleased
				v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "gone", UID: "uid-gone"}
			})},
			claim: pvc("c", "1Gi"),
			want:  "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.claim}
			for _, v := range tc.volumes {
				objs = append(objs, v)
			}
			e := newEnv(t, objs...)
			e.settle()
			c := e.claim("c")
			if tc.want == "" {
				if c.Status.Phase != corev1.ClaimPending {
					t.Errorf("claim phase = %s (volume %q), want Pending", c.Status.Phase, c.Spec.VolumeName)
				}
				return
			}
			if c.Spec.VolumeName != tc.want || c.Status.Phase != corev1.ClaimBound {
				t.Fatalf("claim bound to %q (%s), want %q Bound", c.Spec.VolumeName, c.Status.Phase, tc.want)
			}
			v := e.volume(tc.want)
			if v.Spec.ClaimRef == nil || v.Spec.ClaimRef.UID != c.UID || v.Status.Phase != corev1.VolumeBound {
				t.Errorf("volume claimRef %+v phase %s, want bound to the claim", v.Spec.ClaimRef, v.Status.Phase)
			}
			if c.Annotations[volumehelpers.AnnBindCompleted] != "yes" {
				t.Errorf("claim annotations = %v, want bind-completed", c.Annotations)
			}
			if got := c.Status.Capacity[corev1.ResourceStorage]; got.Cmp(v.Spec.Capacity[corev1.ResourceStorage]) != 0 {
				t.Errorf("claim capacity = %s, want the volume's", got.String())
			}
		})
	}
}

func TestBoundByControllerAnnotations(t *testing.T) {
	e := newEnv(t, pv("v", "1Gi"), pvc("c", "1Gi"))
	e.settle()
	if got := e.volume("v").Annotations[volumehelpers.AnnBoundByController]; got != "yes" {
		t.Errorf("volume bound-by-controller = %q, want yes", got)
	}
	if got := e.claim("c").Annotations[volumehelpers.AnnBoundByController]; got != "yes" {
		t.Errorf("claim bound-by-controller = %q, want yes", got)
	}
}

func TestReclaim(t *testing.T) {
	tests := []struct {
		name       string
		volume     *corev1.PersistentVolume
		wantPhase  corev1.PersistentVolumePhase
		wantGone   bool
		wantReason string
	}{
		{"Retain stays Released", pv("v", "1Gi"), corev1.VolumeReleased, false, ""},
		{"Delete of a local-path volume deletes it", pv("v", "1Gi", func(v *corev1.PersistentVolume) {
			v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
			v.Annotations = map[string]string{volumehelpers.AnnDynamicallyProvisioned: Provisioner}
		}), "", true, eventVolumeDelete},
		{"Delete without a deleter fails", pv("v", "1Gi", func(v *corev1.PersistentVolume) {
			v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
		}), corev1.VolumeFailed, false, eventVolumeFailedDelete},
		{"Recycle fails", pv("v", "1Gi", func(v *corev1.PersistentVolume) {
			v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRecycle
		}), corev1.VolumeFailed, false, eventVolumeFailedRecycle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.volume, pvc("c", "1Gi"))
			e.settle()
			if v := e.volume("v"); v.Status.Phase != corev1.VolumeBound {
				t.Fatalf("volume phase = %s, want Bound", v.Status.Phase)
			}
			if err := e.client.CoreV1().PersistentVolumeClaims("ns").Delete(context.Background(), "c", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			e.sync()
			e.settle()
			evs := e.events()
			if tc.wantGone {
				if diff := cmp.Diff([]string(nil), e.volumeNames()); diff != "" {
					t.Errorf("volumes (-want +got):\n%s", diff)
				}
			} else if got := e.volume("v").Status.Phase; got != tc.wantPhase {
				t.Errorf("phase = %s, want %s", got, tc.wantPhase)
			}
			if tc.wantReason != "" && !hasEvent(evs, tc.wantReason) {
				t.Errorf("events %v, want %s", evs, tc.wantReason)
			}
		})
	}
}

func TestRetainedVolumeBecomesAvailableWhenClaimRefCleared(t *testing.T) {
	e := newEnv(t, pv("v", "1Gi"), pvc("c", "1Gi"))
	e.settle()
	ctx := context.Background()
	_ = e.client.CoreV1().PersistentVolumeClaims("ns").Delete(ctx, "c", metav1.DeleteOptions{})
	e.sync()
	e.settle()
	v := e.volume("v")
	v.Spec.ClaimRef = nil // what an administrator does
	if _, err := e.client.CoreV1().PersistentVolumes().Update(ctx, v, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	e.settle()
	if got := e.volume("v").Status.Phase; got != corev1.VolumeAvailable {
		t.Errorf("phase = %s, want Available", got)
	}
}

func TestClaimLost(t *testing.T) {
	e := newEnv(t, pv("v", "1Gi"), pvc("c", "1Gi"))
	e.settle()
	_ = e.client.CoreV1().PersistentVolumes().Delete(context.Background(), "v", metav1.DeleteOptions{})
	e.sync()
	e.settle()
	if got := e.claim("c").Status.Phase; got != corev1.ClaimLost {
		t.Errorf("phase = %s, want Lost", got)
	}
}

func TestWaitForFirstConsumerProvisioning(t *testing.T) {
	e := newEnv(t,
		class("local", Provisioner, storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete),
		readyNode("node-a"), readyNode("node-b"),
		pvc("data", "2Gi", func(c *corev1.PersistentVolumeClaim) { s := "local"; c.Spec.StorageClassName = &s }),
		// An Available volume of the class exists on node-b only.
		pv("on-b", "5Gi", func(v *corev1.PersistentVolume) {
			v.Spec.StorageClassName = "local"
			v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-b"}}}}}}}
		}),
	)
	e.settle()
	if c := e.claim("data"); c.Status.Phase != corev1.ClaimPending || c.Spec.VolumeName != "" {
		t.Fatalf("claim before a consumer: %s bound to %q, want Pending and unbound", c.Status.Phase, c.Spec.VolumeName)
	}
	if !hasEvent(e.events(), eventWaitForFirstConsumer) {
		t.Error("no WaitForFirstConsumer event")
	}
	if diff := cmp.Diff([]string{"on-b"}, e.volumeNames()); diff != "" {
		t.Errorf("provisioned before a node was selected (-want +got):\n%s", diff)
	}

	// The scheduler picks node-a: on-b does not fit there, so a volume is
	// provisioned on node-a and bound.
	c := e.claim("data")
	c.Annotations = map[string]string{volumehelpers.AnnSelectedNode: "node-a"}
	if _, err := e.client.CoreV1().PersistentVolumeClaims("ns").Update(context.Background(), c, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	e.settle()
	name := "pvc-uid-data"
	c = e.claim("data")
	if c.Spec.VolumeName != name || c.Status.Phase != corev1.ClaimBound {
		t.Fatalf("claim bound to %q (%s), want %s Bound", c.Spec.VolumeName, c.Status.Phase, name)
	}
	if c.Annotations[volumehelpers.AnnStorageProvisioner] != Provisioner {
		t.Errorf("claim storage-provisioner annotation = %q", c.Annotations[volumehelpers.AnnStorageProvisioner])
	}
	v := e.volume(name)
	if v.Spec.HostPath == nil || v.Spec.HostPath.Path != "/data/storage/"+name {
		t.Errorf("hostPath = %+v, want /data/storage/%s", v.Spec.HostPath, name)
	}
	terms := v.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || terms[0].MatchExpressions[0].Values[0] != "node-a" || terms[0].MatchExpressions[0].Key != LabelHostname {
		t.Errorf("node affinity = %+v, want kubernetes.io/hostname In [node-a]", terms)
	}
	if v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || v.Spec.StorageClassName != "local" {
		t.Errorf("reclaim %s class %s", v.Spec.PersistentVolumeReclaimPolicy, v.Spec.StorageClassName)
	}
	if diff := cmp.Diff([]string{FinalizerCleanup}, v.Finalizers); diff != "" {
		t.Errorf("finalizers (-want +got):\n%s", diff)
	}
	if got := v.Spec.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("2Gi")) != 0 {
		t.Errorf("capacity = %s, want 2Gi", got.String())
	}
	if e.volume("on-b").Spec.ClaimRef != nil {
		t.Error("the volume on the other node was bound")
	}
}

func TestWaitForFirstConsumerBindsExistingVolumeOnSelectedNode(t *testing.T) {
	onB := pv("on-b", "5Gi", func(v *corev1.PersistentVolume) {
		v.Spec.StorageClassName = "local"
		v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{"node-b"}}}}}}}
	})
	e := newEnv(t, class("local", Provisioner, storagev1.VolumeBindingWaitForFirstConsumer, corev1.PersistentVolumeReclaimDelete),
		readyNode("node-b"), onB,
		pvc("data", "2Gi", func(c *corev1.PersistentVolumeClaim) {
			s := "local"
			c.Spec.StorageClassName = &s
			c.Annotations = map[string]string{volumehelpers.AnnSelectedNode: "node-b"}
		}))
	e.settle()
	if c := e.claim("data"); c.Spec.VolumeName != "on-b" {
		t.Errorf("claim bound to %q, want on-b", c.Spec.VolumeName)
	}
}

func TestImmediateProvisioningAndDefaultClass(t *testing.T) {
	e := newEnv(t, readyNode("node-z"), readyNode("node-a"),
		pvc("data", "1Gi", func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = nil }))
	if err := e.c.EnsureDefaultClass(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc, err := e.client.StorageV1().StorageClasses().Get(context.Background(), DefaultClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Annotations[AnnDefaultClass] != "true" || sc.Provisioner != Provisioner || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Errorf("default class = %+v", sc)
	}
	// An Immediate class: provisioned at once, on the first Ready node.
	imm := class("fast", Provisioner, storagev1.VolumeBindingImmediate, corev1.PersistentVolumeReclaimRetain)
	imm.Annotations = map[string]string{AnnDefaultClass: "true"}
	imm.CreationTimestamp = metav1.NewTime(time.Now().Add(time.Hour)) // newer: the default
	if _, err := e.client.StorageV1().StorageClasses().Create(context.Background(), imm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	e.settle()
	c := e.claim("data")
	if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != "fast" {
		t.Fatalf("claim class = %v, want the default fast", c.Spec.StorageClassName)
	}
	if c.Status.Phase != corev1.ClaimBound {
		t.Fatalf("claim phase = %s, want Bound", c.Status.Phase)
	}
	v := e.volume(c.Spec.VolumeName)
	if got := v.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0]; got != "node-a" {
		t.Errorf("provisioned on %s, want node-a", got)
	}
	if v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Errorf("reclaim = %s, want the class's Retain", v.Spec.PersistentVolumeReclaimPolicy)
	}
}

func TestExternalProvisionerAnnotated(t *testing.T) {
	e := newEnv(t, class("ext", "example.com/nfs", storagev1.VolumeBindingImmediate, corev1.PersistentVolumeReclaimDelete),
		pvc("data", "1Gi", func(c *corev1.PersistentVolumeClaim) { s := "ext"; c.Spec.StorageClassName = &s }))
	e.settle()
	c := e.claim("data")
	if c.Annotations[volumehelpers.AnnStorageProvisioner] != "example.com/nfs" || c.Status.Phase != corev1.ClaimPending {
		t.Errorf("claim %v %s, want annotated for the external provisioner and Pending", c.Annotations, c.Status.Phase)
	}
	if len(e.volumeNames()) != 0 {
		t.Error("provisioned for a class that is not ours")
	}
}
