//go:build integration

package apiserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

func tolerationSeconds(p *corev1.Pod, key string) (int64, bool) {
	for _, t := range p.Spec.Tolerations {
		if t.Key == key && t.Effect == corev1.TaintEffectNoExecute && t.TolerationSeconds != nil {
			return *t.TolerationSeconds, true
		}
	}
	return 0, false
}

// TestDefaultTolerationSeconds checks that pods get the not-ready and
// unreachable tolerations (300 s, or what the server was configured with)
// unless they have their own.
func TestDefaultTolerationSeconds(t *testing.T) {
	notReady, unreachable := int64(42), int64(7)
	for _, tc := range []struct {
		name                   string
		cfg                    server.Config
		wantNotReady, wantUnre int64
	}{
		{name: "defaults", wantNotReady: 300, wantUnre: 300},
		{name: "configured", cfg: server.Config{DefaultNotReadyTolerationSeconds: &notReady, DefaultUnreachableTolerationSeconds: &unreachable},
			wantNotReady: 42, wantUnre: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := servertest.Start(t, tc.cfg)
			ctx := context.Background()
			n := ns(t, s.Client)
			p, err := s.Client.CoreV1().Pods(n).Create(ctx, pod("plain", nil), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := tolerationSeconds(p, "node.kubernetes.io/not-ready"); !ok || got != tc.wantNotReady {
				t.Errorf("not-ready toleration: got %d (present %v), want %d; tolerations %+v", got, ok, tc.wantNotReady, p.Spec.Tolerations)
			}
			if got, ok := tolerationSeconds(p, "node.kubernetes.io/unreachable"); !ok || got != tc.wantUnre {
				t.Errorf("unreachable toleration: got %d (present %v), want %d", got, ok, tc.wantUnre)
			}
			own := pod("own", nil)
			ten := int64(10)
			own.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &ten}}
			p, err = s.Client.CoreV1().Pods(n).Create(ctx, own, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Spec.Tolerations) != 2 {
				t.Errorf("pod with its own not-ready toleration: got %+v, want it plus the unreachable one", p.Spec.Tolerations)
			}
			if got, _ := tolerationSeconds(p, "node.kubernetes.io/not-ready"); got != 10 {
				t.Errorf("own not-ready toleration changed to %d", got)
			}
			all := pod("all", nil)
			all.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			if p, err = s.Client.CoreV1().Pods(n).Create(ctx, all, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if len(p.Spec.Tolerations) != 1 {
				t.Errorf("pod tolerating everything: got %+v, want only its own toleration", p.Spec.Tolerations)
			}
		})
	}
}

// TestDefaultStorageClass checks that a claim without a class gets the
// default one (the newest if several), and that "" stays no class.
func TestDefaultStorageClass(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)
	claim := func(name string, class *string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: class, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	}
	got, err := c.CoreV1().PersistentVolumeClaims(n).Create(ctx, claim("before", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.StorageClassName != nil {
		t.Errorf("claim without any default class: got class %q, want none", *got.Spec.StorageClassName)
	}
	suffix := strings.TrimPrefix(n, "t-")
	for i, name := range []string{"older-" + suffix, "plain-" + suffix, "newer-" + suffix} {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "podvisor.io/local-path"}
		if i != 1 {
			sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}
		if _, err := c.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.StorageV1().StorageClasses().Delete(context.Background(), name, metav1.DeleteOptions{}) })
		if i == 0 {
			time.Sleep(1100 * time.Millisecond) // creation timestamps have second resolution
		}
	}
	got, err = c.CoreV1().PersistentVolumeClaims(n).Create(ctx, claim("after", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "newer-"+suffix {
		t.Errorf("claim without a class: got %v, want the newest default class newer-%s", got.Spec.StorageClassName, suffix)
	}
	empty := ""
	got, err = c.CoreV1().PersistentVolumeClaims(n).Create(ctx, claim("none", &empty), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "" {
		t.Errorf("claim asking for no class: got %v, want \"\"", got.Spec.StorageClassName)
	}
}

// TestPriority checks the built-in priority classes, priority resolution
// on pod creation, the global default, and the rules on classes.
func TestPriority(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	c := s.Client
	ctx := context.Background()
	n := ns(t, c)
	for name, want := range map[string]int32{"system-node-critical": 2000001000, "system-cluster-critical": 2000000000} {
		pc, err := c.SchedulingV1().PriorityClasses().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("built-in class %s: %v", name, err)
		}
		if pc.Value != want {
			t.Errorf("%s value %d, want %d", name, pc.Value, want)
		}
	}
	p, err := c.CoreV1().Pods(n).Create(ctx, pod("zero", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Priority == nil || *p.Spec.Priority != 0 || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("pod without class or default: priority %v policy %v, want 0 and PreemptLowerPriority", p.Spec.Priority, p.Spec.PreemptionPolicy)
	}
	critical := pod("critical", nil)
	critical.Spec.PriorityClassName = "system-node-critical"
	if p, err = c.CoreV1().Pods(n).Create(ctx, critical, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Priority == nil || *p.Spec.Priority != 2000001000 {
		t.Errorf("system-node-critical pod: priority %v, want 2000001000", p.Spec.Priority)
	}
	missing := pod("missing", nil)
	missing.Spec.PriorityClassName = "no-such-class"
	if _, err := c.CoreV1().Pods(n).Create(ctx, missing, metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "no PriorityClass with name no-such-class was found") {
		t.Errorf("pod naming a missing class: got %v, want 403", err)
	}
	liar := pod("liar", nil)
	liar.Spec.PriorityClassName = "system-node-critical"
	five := int32(5)
	liar.Spec.Priority = &five
	if _, err := c.CoreV1().Pods(n).Create(ctx, liar, metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "the integer value of priority (5) must not be provided in pod spec") {
		t.Errorf("pod with its own priority: got %v, want 403", err)
	}

	suffix := strings.TrimPrefix(n, "t-")
	never := corev1.PreemptNever
	def := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "default-" + suffix}, Value: 1000, GlobalDefault: true, PreemptionPolicy: &never}
	if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, def, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.SchedulingV1().PriorityClasses().Delete(context.Background(), def.Name, metav1.DeleteOptions{})
	})
	eventually(t, "pods get the global default class", func() error {
		p, err := c.CoreV1().Pods(n).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "dflt-"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if p.Spec.PriorityClassName != def.Name || p.Spec.Priority == nil || *p.Spec.Priority != 1000 ||
			p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != corev1.PreemptNever {
			return fmt.Errorf("got class %q priority %v policy %v", p.Spec.PriorityClassName, p.Spec.Priority, p.Spec.PreemptionPolicy)
		}
		return nil
	})
	second := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "second-" + suffix}, Value: 5, GlobalDefault: true}
	if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, second, metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "is already marked as default. Only one default can exist") {
		t.Errorf("second global default: got %v, want 403", err)
	}
	tooHigh := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high-" + suffix}, Value: 2000000000}
	if _, err := c.SchedulingV1().PriorityClasses().Create(ctx, tooHigh, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("user class above 1e9: got %v, want 422", err)
	}
	if err := c.SchedulingV1().PriorityClasses().Delete(ctx, "system-node-critical", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("deleting a system class: got %v, want 403", err)
	}
	up, _ := c.SchedulingV1().PriorityClasses().Get(ctx, def.Name, metav1.GetOptions{})
	up.Value = 7
	if _, err := c.SchedulingV1().PriorityClasses().Update(ctx, up, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("changing a class's value: got %v, want 422", err)
	}
}

// nodeClient is a client acting as the node identity system:node:<name>
// (the admin impersonating it).
func nodeClient(t *testing.T, rc *rest.Config, name string) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(rc)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:node:" + name, Groups: []string{"system:nodes", "system:authenticated"}}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNodeRestriction checks what a node identity may write: only its
// own Node (no taint changes, no restricted labels), its own Lease, mirror
// pods bound to and owned by itself, and the status and eviction of its
// own pods.
func TestNodeRestriction(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	admin := s.Client
	ctx := context.Background()
	suffix := strings.TrimPrefix(ns(t, admin), "t-")
	a, b := "node-a-"+suffix, "node-b-"+suffix
	ca, cb := nodeClient(t, s.RESTConfig, a), nodeClient(t, s.RESTConfig, b)
	forbidden := func(what string, err error, msg string) {
		t.Helper()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want 403 containing %q", what, err, msg)
		}
	}

	// Nodes.
	_, err := ca.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: b}}, metav1.CreateOptions{})
	forbidden("node creating another node", err, `node "`+a+`" is not allowed to modify node "`+b+`"`)
	_, err = ca.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a,
		Labels: map[string]string{"node-restriction.kubernetes.io/pool": "secure"}}}, metav1.CreateOptions{})
	forbidden("node giving itself a restricted label", err, "is not allowed to set the following labels: node-restriction.kubernetes.io/pool")
	_, err = ca.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a,
		Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}}, metav1.CreateOptions{})
	forbidden("node giving itself a role label", err, "node-role.kubernetes.io/control-plane")
	nodeA, err := ca.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a, Labels: map[string]string{
		"kubernetes.io/hostname": a, "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "small", "example.com/team": "x"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("node registering itself: %v", err)
	}
	t.Cleanup(func() { admin.CoreV1().Nodes().Delete(context.Background(), a, metav1.DeleteOptions{}) })
	nodeB, err := cb.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: b}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("node registering itself: %v", err)
	}
	t.Cleanup(func() { admin.CoreV1().Nodes().Delete(context.Background(), b, metav1.DeleteOptions{}) })
	tainted := nodeA.DeepCopy()
	tainted.Spec.Taints = []corev1.Taint{{Key: "x", Effect: corev1.TaintEffectNoSchedule}}
	if _, err := admin.CoreV1().Nodes().Update(ctx, tainted, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("admin tainting the node: %v", err)
	}
	nodeA, _ = admin.CoreV1().Nodes().Get(ctx, a, metav1.GetOptions{})
	untaint := nodeA.DeepCopy()
	untaint.Spec.Taints = nil
	_, err = ca.CoreV1().Nodes().Update(ctx, untaint, metav1.UpdateOptions{})
	forbidden("node removing its taints", err, "is not allowed to modify taints")
	relabel := nodeA.DeepCopy()
	relabel.Labels["node-restriction.kubernetes.io/pool"] = "secure"
	_, err = ca.CoreV1().Nodes().Update(ctx, relabel, metav1.UpdateOptions{})
	forbidden("node adding a restricted label", err, "is not allowed to modify labels: node-restriction.kubernetes.io/pool")
	ok := nodeA.DeepCopy()
	ok.Labels["topology.kubernetes.io/zone"] = "z1"
	if _, err := ca.CoreV1().Nodes().Update(ctx, ok, metav1.UpdateOptions{}); err != nil {
		t.Errorf("node setting its zone label: %v", err)
	}
	_, err = ca.CoreV1().Nodes().Patch(ctx, b, types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("node patching another node: got %v, want 403", err)
	}

	// Leases.
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease}}
	}
	_, err = ca.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease(b), metav1.CreateOptions{})
	forbidden("node creating another node's lease", err, "can only access node lease with the same name as the requesting node")
	if _, err := ca.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease(a), metav1.CreateOptions{}); err != nil {
		t.Errorf("node creating its own lease: %v", err)
	}

	// Pods.
	n := ns(t, admin)
	yes := true
	mirror := func(name, node string, owner *corev1.Node) *corev1.Pod {
		p := pod(name, nil)
		p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
		p.Spec.NodeName = node
		if owner != nil {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: owner.Name, UID: owner.UID, Controller: &yes}}
		}
		return p
	}
	_, err = ca.CoreV1().Pods(n).Create(ctx, pod("plain", nil), metav1.CreateOptions{})
	forbidden("node creating a plain pod", err, "can only create mirror pods")
	_, err = ca.CoreV1().Pods(n).Create(ctx, mirror("elsewhere", b, nodeA), metav1.CreateOptions{})
	forbidden("node creating a mirror pod for another node", err, "can only create pods with spec.nodeName set to itself")
	_, err = ca.CoreV1().Pods(n).Create(ctx, mirror("orphan", a, nil), metav1.CreateOptions{})
	forbidden("node creating a mirror pod without owner", err, "can only create pods with an owner reference set to itself")
	withSecret := mirror("secret", a, nodeA)
	withSecret.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
	_, err = ca.CoreV1().Pods(n).Create(ctx, withSecret, metav1.CreateOptions{})
	forbidden("node creating a mirror pod with a secret", err, "can not create pods that reference secrets")
	mp, err := ca.CoreV1().Pods(n).Create(ctx, mirror("static", a, nodeA), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("node creating its mirror pod: %v", err)
	}
	if mp.Spec.ServiceAccountName != "" {
		t.Errorf("mirror pod got service account %q", mp.Spec.ServiceAccountName)
	}
	// A pod bound to b: a may not touch it, b may.
	other := pod("on-b", map[string]string{"app": "x"})
	other.Spec.NodeName = b
	other, err = admin.CoreV1().Pods(n).Create(ctx, other, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := other.DeepCopy()
	st.Status.Phase = corev1.PodRunning
	if _, err := ca.CoreV1().Pods(n).UpdateStatus(ctx, st, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node a updating the status of b's pod: got %v, want 403", err)
	}
	eventually(t, "node b updating its pod's status", func() error {
		_, err := cb.CoreV1().Pods(n).UpdateStatus(ctx, st, metav1.UpdateOptions{})
		return err
	})
	err = ca.CoreV1().Pods(n).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "on-b", Namespace: n}})
	if !apierrors.IsForbidden(err) {
		t.Errorf("node a evicting b's pod: got %v, want 403", err)
	}
	if err := ca.CoreV1().Pods(n).Delete(ctx, "on-b", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node a deleting b's pod: got %v, want 403", err)
	}
	if err := cb.CoreV1().Pods(n).Delete(ctx, "on-b", metav1.DeleteOptions{}); err != nil {
		t.Errorf("node b deleting its pod: %v", err)
	}
	if nodeB.Name != b {
		t.Errorf("node b registered as %q", nodeB.Name)
	}
}

// TestNodePersistentVolumes checks what a node may do with persistent
// volumes, through the node authorizer and NodeRestriction: list and
// watch only with the podvisor.io/volume-node=<itself> label selector
// (a label the server keeps on volumes pinned to a node), and update or
// patch only the finalizers, labels, annotations and status of the
// volumes pinned to itself; never create, delete or change a spec.
func TestNodePersistentVolumes(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	admin := s.Client
	ctx := context.Background()
	suffix := strings.TrimPrefix(ns(t, admin), "t-")
	a, b := "node-a-"+suffix, "node-b-"+suffix
	ca, cb := nodeClient(t, s.RESTConfig, a), nodeClient(t, s.RESTConfig, b)
	const label = "podvisor.io/volume-node"
	forbidden := func(what string, err error, msg string) {
		t.Helper()
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want 403 containing %q", what, err, msg)
		}
	}
	volume := func(name, node string, labels map[string]string) *corev1.PersistentVolume {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Finalizers: []string{"podvisor.io/local-path-cleanup"}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/podvisor/storage/" + name}},
			},
		}
		if node != "" {
			pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}}
		}
		return pv
	}
	create := func(pv *corev1.PersistentVolume) *corev1.PersistentVolume {
		t.Helper()
		out, err := admin.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("creating volume %s: %v", pv.Name, err)
		}
		t.Cleanup(func() {
			admin.CoreV1().PersistentVolumes().Patch(context.Background(), pv.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			admin.CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
		})
		return out
	}

	// The server keeps the label in step with the affinity, whatever the
	// writer said.
	mine := create(volume("pv-a-"+suffix, a, map[string]string{label: b}))
	if got := mine.Labels[label]; got != a {
		t.Errorf("label of a volume pinned to %s: %q, want %q", a, got, a)
	}
	loose := create(volume("pv-loose-"+suffix, "", map[string]string{label: a}))
	if got, ok := loose.Labels[label]; ok {
		t.Errorf("label of a volume pinned to no node: %q, want none", got)
	}

	// The node authorizer learns of the volume from the server's watch.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := ca.CoreV1().PersistentVolumes().Get(ctx, mine.Name, metav1.GetOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node getting its volume: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err := cb.CoreV1().PersistentVolumes().Get(ctx, mine.Name, metav1.GetOptions{})
	forbidden("node getting another node's volume", err, "no relationship found")

	// Lists and watches.
	own := metav1.ListOptions{LabelSelector: label + "=" + a}
	_, err = ca.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	forbidden("node listing all volumes", err, "can only list/watch persistent volumes with the "+label+"="+a+" label selector")
	_, err = ca.CoreV1().PersistentVolumes().Watch(ctx, metav1.ListOptions{})
	forbidden("node watching all volumes", err, "label selector")
	_, err = cb.CoreV1().PersistentVolumes().List(ctx, own)
	forbidden("node listing another node's volumes", err, "label selector")
	l, err := ca.CoreV1().PersistentVolumes().List(ctx, own)
	if err != nil {
		t.Fatalf("node listing its volumes: %v", err)
	}
	if len(l.Items) != 1 || l.Items[0].Name != mine.Name {
		t.Errorf("node listing its volumes: %d items, want only %s", len(l.Items), mine.Name)
	}
	w, err := ca.CoreV1().PersistentVolumes().Watch(ctx, own)
	if err != nil {
		t.Errorf("node watching its volumes: %v", err)
	} else {
		w.Stop()
	}

	// Writes.
	_, err = ca.CoreV1().PersistentVolumes().Create(ctx, volume("pv-new-"+suffix, a, nil), metav1.CreateOptions{})
	forbidden("node creating a volume pinned to itself", err, "")
	_, err = ca.CoreV1().PersistentVolumes().Patch(ctx, mine.Name, types.MergePatchType,
		[]byte(`{"spec":{"persistentVolumeReclaimPolicy":"Delete"}}`), metav1.PatchOptions{})
	forbidden("node changing its volume's reclaim policy", err, "is not allowed to change the spec of a persistent volume")
	_, err = cb.CoreV1().PersistentVolumes().Patch(ctx, mine.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"x":"y"}}}`), metav1.PatchOptions{})
	forbidden("node annotating another node's volume", err, "no relationship found")
	_, err = ca.CoreV1().PersistentVolumes().Patch(ctx, loose.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"x":"y"}}}`), metav1.PatchOptions{})
	forbidden("node annotating a volume pinned to no node", err, "no relationship found")
	err = ca.CoreV1().PersistentVolumes().Delete(ctx, mine.Name, metav1.DeleteOptions{})
	forbidden("node deleting its volume", err, "")
	if _, err := ca.CoreV1().PersistentVolumes().Patch(ctx, mine.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"x":"y"},"labels":{"z":"w"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("node annotating its volume: %v", err)
	}

	// The agent's cleanup: once deleted, the node removes the finalizer.
	if err := admin.CoreV1().PersistentVolumes().Delete(ctx, mine.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cur, err := ca.CoreV1().PersistentVolumes().Get(ctx, mine.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Finalizers = nil
	if _, err := ca.CoreV1().PersistentVolumes().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Errorf("node removing the finalizer of its deleted volume: %v", err)
	}
}
