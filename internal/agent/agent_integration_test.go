//go:build integration

package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/podvisor/podvisor/internal/agent"
	"github.com/podvisor/podvisor/internal/runtime/oci"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/nodetest"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

const waitLong = 3 * time.Minute

func busybox(name string, cmd ...string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: cmd}
}

func withMount(c corev1.Container, vol, path string) corev1.Container {
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: path})
	return c
}

func sh(name, script string) corev1.Container { return busybox(name, "sh", "-c", script) }

func createPod(t *testing.T, cs kubernetes.Interface, node, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	p.Namespace = ns
	p.Spec.NodeName = node
	out, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", p.Name, err)
	}
	return out
}

func events(cs kubernetes.Interface, ns, pod string) []corev1.Event {
	evs, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []corev1.Event
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == pod {
			out = append(out, e)
		}
	}
	return out
}

func waitEvent(t *testing.T, cs kubernetes.Interface, ns, pod, reason, contains string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		var seen []string
		for _, e := range events(cs, ns, pod) {
			if e.Reason == reason && strings.Contains(e.Message, contains) {
				return
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event with %q for pod %s; events: %v", reason, contains, pod, seen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitLog(t *testing.T, n *nodetest.Node, ns, pod, c, want string) string {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		out, err := n.ContainerLog(ns, pod, c, false)
		if err == nil && strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s/%s: want %q, have %q (%v)", pod, c, want, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func terminatedReason(p *corev1.Pod) string {
	if p == nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Terminated == nil {
		return ""
	}
	return p.Status.ContainerStatuses[0].State.Terminated.Reason
}

func waitingReason(p *corev1.Pod) string {
	if p == nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
		return ""
	}
	return p.Status.ContainerStatuses[0].State.Waiting.Reason
}

// TestNode runs one server and one agent and exercises the kubelet
// through the API with real runc, namespaces and pod network.
func TestNode(t *testing.T) {
	nodetest.Prerequisites(t)
	srv := servertest.Start(t, server.Config{})
	manifests := t.TempDir()
	n := nodetest.StartNode(t, srv, nodetest.Options{Tune: func(c *agent.Config) { c.PodManifestPath = manifests }})
	cs := srv.Client
	ns := nodetest.Namespace(t, cs)
	node := n.Name
	ctx := context.Background()

	t.Run("group", func(t *testing.T) {
		t.Run("prints and succeeds", func(t *testing.T) {
			t.Parallel()
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hello"}, Spec: corev1.PodSpec{
				RestartPolicy:  corev1.RestartPolicyNever,
				InitContainers: []corev1.Container{withMount(sh("init", "echo from-init > /work/init"), "work", "/work")},
				Containers:     []corev1.Container{withMount(sh("c", "cat /work/init; echo hello from $(hostname) as $(id -u)"), "work", "/work")},
				Volumes:        []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			}})
			// Both containers mount the shared emptyDir.
			p := nodetest.WaitPod(t, cs, ns, "hello", "Succeeded", waitLong, func(p *corev1.Pod) bool { return p != nil && p.Status.Phase == corev1.PodSucceeded })
			cs0 := p.Status.ContainerStatuses[0]
			if cs0.State.Terminated == nil || cs0.State.Terminated.Reason != "Completed" || cs0.State.Terminated.ExitCode != 0 || !strings.HasPrefix(cs0.ContainerID, "runc://") {
				t.Errorf("status: %s", nodetest.Describe(p))
			}
			if p.Status.PodIP == "" || p.Status.HostIP != "127.0.0.1" || p.Status.InitContainerStatuses[0].State.Terminated == nil {
				t.Errorf("status: %s", nodetest.Describe(p))
			}
			out, err := n.ContainerLog(ns, "hello", "c", false)
			if err != nil || !strings.Contains(out, "from-init") || !strings.Contains(out, "hello from hello as 0") {
				t.Errorf("log %q %v", out, err)
			}
			for _, r := range []string{"Pulled", "Created", "Started"} {
				waitEvent(t, cs, ns, "hello", r, "")
			}
		})
		t.Run("crash loop back-off", func(t *testing.T) {
			t.Parallel()
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crash"}, Spec: corev1.PodSpec{
				Containers: []corev1.Container{sh("c", "echo try; exit 3")},
			}})
			p := nodetest.WaitPod(t, cs, ns, "crash", "CrashLoopBackOff", waitLong, func(p *corev1.Pod) bool {
				return waitingReason(p) == "CrashLoopBackOff" && p.Status.ContainerStatuses[0].RestartCount >= 2
			})
			last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
			if last == nil || last.ExitCode != 3 || last.Reason != "Error" {
				t.Errorf("last state: %s", nodetest.Describe(p))
			}
			if out, err := n.ContainerLog(ns, "crash", "c", true); err != nil || !strings.Contains(out, "try") {
				t.Errorf("previous log %q %v", out, err)
			}
			waitEvent(t, cs, ns, "crash", "BackOff", "Back-off restarting failed container c")
		})
		t.Run("oom killed", func(t *testing.T) {
			t.Parallel()
			c := sh("c", "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done")
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("24Mi")}
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "oom"}, Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{c},
			}})
			p := nodetest.WaitPod(t, cs, ns, "oom", "OOMKilled", waitLong, func(p *corev1.Pod) bool { return terminatedReason(p) == "OOMKilled" })
			if p.Status.Phase != corev1.PodFailed || p.Status.ContainerStatuses[0].State.Terminated.ExitCode != 137 {
				t.Errorf("status: %s", nodetest.Describe(p))
			}
		})
		t.Run("probes", func(t *testing.T) {
			t.Parallel()
			c := sh("c", "touch /tmp/ready /tmp/alive; sleep 3600")
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", "/tmp/ready"}}},
				PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5}
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-e", "/tmp/alive"}}},
				PeriodSeconds: 1, FailureThreshold: 2, TimeoutSeconds: 5}
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probed"}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}})
			nodetest.WaitPod(t, cs, ns, "probed", "Ready", waitLong, nodetest.Running)
			ref, err := n.Agent.Kubelet().Container(ns, "probed", "c", false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.Agent.Runtime().Exec(ctx, ref.ID, execRm("/tmp/ready")); err != nil {
				t.Fatal(err)
			}
			p := nodetest.WaitPod(t, cs, ns, "probed", "not Ready", waitLong, func(p *corev1.Pod) bool {
				return p != nil && p.Status.Phase == corev1.PodRunning && !p.Status.ContainerStatuses[0].Ready
			})
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status != corev1.ConditionFalse {
					t.Errorf("Ready condition %s", c.Status)
				}
			}
			waitEvent(t, cs, ns, "probed", "Unhealthy", "Readiness probe failed")
			if _, err := n.Agent.Runtime().Exec(ctx, ref.ID, execRm("/tmp/alive")); err != nil {
				t.Fatal(err)
			}
			p = nodetest.WaitPod(t, cs, ns, "probed", "restarted by liveness", waitLong, func(p *corev1.Pod) bool {
				return p != nil && p.Status.ContainerStatuses[0].RestartCount >= 1
			})
			waitEvent(t, cs, ns, "probed", "Killing", "failed liveness probe")
			// The new instance made its files again: ready again.
			nodetest.WaitPod(t, cs, ns, "probed", "Ready again", waitLong, nodetest.Running)
		})
		t.Run("http between pods", func(t *testing.T) {
			t.Parallel()
			web := sh("web", "mkdir -p /www && echo served-by-web > /www/index.html && httpd -f -p 8080 -h /www")
			web.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
			web.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/index.html", Port: intstr.FromString("http")}}, PeriodSeconds: 1}
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{web}}})
			p := nodetest.WaitPod(t, cs, ns, "web", "Ready (httpGet readiness)", waitLong, nodetest.Running)
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "client"}, Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{busybox("c", "wget", "-q", "-O", "-", "http://"+p.Status.PodIP+":8080/index.html")},
			}})
			nodetest.WaitPod(t, cs, ns, "client", "Succeeded", waitLong, func(p *corev1.Pod) bool { return p != nil && p.Status.Phase == corev1.PodSucceeded })
			if out, _ := n.ContainerLog(ns, "client", "c", false); !strings.Contains(out, "served-by-web") {
				t.Errorf("client got %q", out)
			}
			// And the node reaches the pod too.
			resp, err := http.Get("http://" + p.Status.PodIP + ":8080/index.html")
			if err != nil {
				t.Fatalf("from the node: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), "served-by-web") {
				t.Errorf("from the node: %q", b)
			}
		})
		t.Run("waiting reasons", func(t *testing.T) {
			t.Parallel()
			bad := busybox("c", "true")
			bad.Image, bad.ImagePullPolicy = "127.0.0.1:1/nosuch/image:1", corev1.PullIfNotPresent
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "badimage"}, Spec: corev1.PodSpec{Containers: []corev1.Container{bad}}})
			nodetest.WaitPod(t, cs, ns, "badimage", "ImagePullBackOff", waitLong, func(p *corev1.Pod) bool { return waitingReason(p) == "ImagePullBackOff" })
			waitEvent(t, cs, ns, "badimage", "Failed", "Failed to pull image")

			env := busybox("c", "true")
			env.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k"}}}}
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nocm"}, Spec: corev1.PodSpec{Containers: []corev1.Container{env}}})
			p := nodetest.WaitPod(t, cs, ns, "nocm", "CreateContainerConfigError", waitLong, func(p *corev1.Pod) bool { return waitingReason(p) == "CreateContainerConfigError" })
			if m := p.Status.ContainerStatuses[0].State.Waiting.Message; m != `configmap "missing" not found` {
				t.Errorf("message %q", m)
			}
			waitEvent(t, cs, ns, "nocm", "Failed", `configmap "missing" not found`)

			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nocmd"}, Spec: corev1.PodSpec{Containers: []corev1.Container{busybox("c", "/no/such/command")}}})
			p = nodetest.WaitPod(t, cs, ns, "nocmd", "a reason naming the missing command", waitLong, func(p *corev1.Pod) bool {
				if p == nil || len(p.Status.ContainerStatuses) == 0 {
					return false
				}
				s := p.Status.ContainerStatuses[0]
				if w := s.State.Waiting; w != nil && (w.Reason == "CreateContainerError" || w.Reason == "RunContainerError") && strings.Contains(w.Message, "/no/such/command") {
					return true
				}
				if tm := s.LastTerminationState.Terminated; tm != nil && strings.Contains(tm.Message, "no/such/command") {
					return true
				}
				return false
			})
			t.Logf("missing command: %s", nodetest.Describe(p))
		})
		t.Run("graceful deletion", func(t *testing.T) {
			t.Parallel()
			grace := int64(20)
			createPod(t, cs, node, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "graceful"}, Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: &grace,
				Containers:                    []corev1.Container{sh("c", "trap 'echo got-TERM; sleep 2; echo bye; exit 0' TERM; echo started; while true; do sleep 0.2; done")},
			}})
			nodetest.WaitPod(t, cs, ns, "graceful", "Running", waitLong, nodetest.Running)
			waitLog(t, n, ns, "graceful", "c", "started")
			start := time.Now()
			if err := cs.CoreV1().Pods(ns).Delete(ctx, "graceful", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			// The container gets SIGTERM and finishes its trap; the pod
			// leaves the API only once it is gone.
			nodetest.WaitPod(t, cs, ns, "graceful", "removed", waitLong, func(p *corev1.Pod) bool { return p == nil })
			if d := time.Since(start); d < 2*time.Second {
				t.Errorf("pod removed %v after the delete, before its trap finished", d)
			}
			waitEvent(t, cs, ns, "graceful", "Killing", "Stopping container c")
		})
		t.Run("static pod", func(t *testing.T) {
			t.Parallel()
			m := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static\n  namespace: " + ns + "\nspec:\n  containers:\n  - name: c\n    image: busybox\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'sleep 3600']\n"
			if err := os.WriteFile(filepath.Join(manifests, "static.yaml"), []byte(m), 0o644); err != nil {
				t.Fatal(err)
			}
			name := "static-" + node
			mp := nodetest.WaitPod(t, cs, ns, name, "mirror pod Running", waitLong, nodetest.Running)
			if _, ok := mp.Annotations[corev1.MirrorPodAnnotationKey]; !ok {
				t.Errorf("mirror annotations %v", mp.Annotations)
			}
			if err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			nodetest.WaitPod(t, cs, ns, name, "mirror recreated", waitLong, func(p *corev1.Pod) bool { return p != nil && p.UID != mp.UID && nodetest.Running(p) })
			os.Remove(filepath.Join(manifests, "static.yaml"))
			nodetest.WaitPod(t, cs, ns, name, "mirror removed with the manifest", waitLong, func(p *corev1.Pod) bool { return p == nil })
		})
	})
}

func execRm(p string) oci.ExecConfig {
	return oci.ExecConfig{Args: []string{"rm", "-f", p}, Stdout: io.Discard, Stderr: io.Discard}
}

func readOnlyMount(c corev1.Container, vol, path, sub string, ro bool) corev1.Container {
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: path, SubPath: sub, ReadOnly: ro})
	return c
}

// TestVolumes mounts every volume type and checks the content from
// inside the container (its log).
func TestVolumes(t *testing.T) {
	nodetest.Prerequisites(t)
	srv := servertest.Start(t, server.Config{})
	n := nodetest.StartNode(t, srv, nodetest.Options{})
	cs := srv.Client
	ns := nodetest.Namespace(t, cs)
	ctx := context.Background()
	mode := int32(0o600)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"color": "blue", "size": "L"}}, metav1.CreateOptions{}))
	must(cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"}, Data: map[string]string{"ca.crt": "THE-CA"}}, metav1.CreateOptions{}))
	must(cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"}, Data: map[string][]byte{"password": []byte("hunter2")}}, metav1.CreateOptions{}))
	must(cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}))
	hostDir := filepath.Join(t.TempDir(), "host", "data")
	pvDir := filepath.Join(t.TempDir(), "pv")
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	must(cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-" + ns},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: pvDir, Type: &dirOrCreate}},
			ClaimRef:               &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: "data"},
		}}, metav1.CreateOptions{}))
	pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-" + ns, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}, metav1.CreateOptions{})
	must(pvc, err)
	// No volume controller runs here: bind the claim by hand.
	pvc.Status.Phase = corev1.ClaimBound
	must(cs.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, pvc, metav1.UpdateOptions{}))

	size := resource.MustParse("8Mi")
	exp := int64(3600)
	vols := []corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items: []corev1.KeyToPath{{Key: "color", Path: "dir/colour", Mode: &mode}}}}},
		{Name: "cmall", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec"}}},
		{Name: "down", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}}}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}},
		{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: &dirOrCreate}}},
		{Name: "claim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
	}
	script := `set -x
cat /cm/dir/colour; echo; stat -c 'mode=%a' /cm/dir/colour
cat /cmall/size; echo
cat /sec/password; echo; grep ' /sec ' /proc/mounts | cut -d' ' -f3
cat /down/labels; echo; cat /down/name; echo; echo mem=$(cat /down/mem)
cat /proj/namespace; echo; cat /proj/ca.crt; echo; echo token-parts=$(awk -F. '{print NF}' /proj/token)
grep ' /mem ' /proc/mounts | cut -d' ' -f3,4
echo written-by-pod > /host/file; echo persistent > /claim/data
cat /sub-color; echo
touch /ro/x 2>/dev/null && echo ro-writable || echo ro-refused
echo done`
	c := sh("c", script)
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	for _, m := range [][2]string{{"cm", "/cm"}, {"cmall", "/cmall"}, {"sec", "/sec"}, {"down", "/down"}, {"proj", "/proj"}, {"mem", "/mem"}, {"disk", "/disk"}, {"host", "/host"}, {"claim", "/claim"}} {
		c = withMount(c, m[0], m[1])
	}
	c = readOnlyMount(c, "cmall", "/sub-color", "color", false)
	c = readOnlyMount(c, "disk", "/ro", "", true)
	createPod(t, cs, n.Name, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "vols", Labels: map[string]string{"app": "vols"}}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: "app", Volumes: vols, Containers: []corev1.Container{c},
	}})
	p := nodetest.WaitPod(t, cs, ns, "vols", "Succeeded", waitLong, func(p *corev1.Pod) bool { return p != nil && p.Status.Phase == corev1.PodSucceeded })
	out, err := n.ContainerLog(ns, "vols", "c", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"blue\n", "mode=600", "L\n", "hunter2\n", "\ntmpfs\n", `app="vols"`, "vols\n", "mem=64", ns + "\n", "THE-CA",
		"token-parts=3", "tmpfs rw,nosuid,nodev,relatime,size=8192k", "blue\n", "ro-refused", "done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(hostDir, "file")); err != nil || string(b) != "written-by-pod\n" {
		t.Errorf("hostPath file: %q %v", b, err)
	}
	_ = p
	// The claim's data outlives the pod and is seen by the next one.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "vols", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	nodetest.WaitPod(t, cs, ns, "vols", "deleted", waitLong, func(p *corev1.Pod) bool { return p == nil })
	createPod(t, cs, n.Name, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "reader"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Volumes:       []corev1.Volume{{Name: "claim", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
		Containers:    []corev1.Container{withMount(sh("c", "cat /claim/data"), "claim", "/claim")},
	}})
	nodetest.WaitPod(t, cs, ns, "reader", "Succeeded", waitLong, func(p *corev1.Pod) bool { return p != nil && p.Status.Phase == corev1.PodSucceeded })
	if out, _ := n.ContainerLog(ns, "reader", "c", false); out != "persistent\n" {
		t.Errorf("the next pod read %q", out)
	}
	// A missing volume source: FailedMount, ContainerCreating with the
	// reason, retried until it appears.
	createPod(t, cs, n.Name, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "later"}, Spec: corev1.PodSpec{
		Volumes:    []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "later"}}}},
		Containers: []corev1.Container{withMount(sh("c", "cat /v/k; echo; sleep 3600"), "v", "/v")},
	}})
	nodetest.WaitPod(t, cs, ns, "later", "ContainerCreating naming the secret", waitLong, func(p *corev1.Pod) bool {
		return waitingReason(p) == "ContainerCreating" && strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, `secret "later" not found`)
	})
	waitEvent(t, cs, ns, "later", "FailedMount", `MountVolume.SetUp failed for volume "v" : secret "later" not found`)
	must(cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "later"}, Data: map[string][]byte{"k": []byte("arrived")}}, metav1.CreateOptions{}))
	nodetest.WaitPod(t, cs, ns, "later", "Running once the secret exists", waitLong, nodetest.Running)
	waitLog(t, n, ns, "later", "c", "arrived")
	// Secret updates reach the running pod.
	sec, _ := cs.CoreV1().Secrets(ns).Get(ctx, "later", metav1.GetOptions{})
	sec.Data["k"] = []byte("updated")
	must(cs.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{}))
	ref, err := n.Agent.Kubelet().Container(ns, "later", "c", false)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLong)
	for {
		var b strings.Builder
		n.Agent.Runtime().Exec(ctx, ref.ID, oci.ExecConfig{Args: []string{"cat", "/v/k"}, Stdout: &b, Stderr: io.Discard})
		if b.String() == "updated" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("secret update not seen in the pod: %q", b.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestAgentRestart restarts the agent under running pods: the same
// containers keep running and no restart is counted.
func TestAgentRestart(t *testing.T) {
	nodetest.Prerequisites(t)
	srv := servertest.Start(t, server.Config{})
	n := nodetest.StartNode(t, srv, nodetest.Options{})
	cs := srv.Client
	ns := nodetest.Namespace(t, cs)
	web := sh("c", "echo up; httpd -f -p 8080 -h /")
	web.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}
	createPod(t, cs, n.Name, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Spec: corev1.PodSpec{Containers: []corev1.Container{web}}})
	before := nodetest.WaitPod(t, cs, ns, "survivor", "Ready", waitLong, nodetest.Running)
	n.Stop()
	n.Start()
	time.Sleep(3 * time.Second)
	after := nodetest.WaitPod(t, cs, ns, "survivor", "Ready after the restart", waitLong, nodetest.Running)
	b, a := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
	if a.ContainerID != b.ContainerID || a.RestartCount != 0 || after.Status.PodIP != before.Status.PodIP {
		t.Errorf("before: %s\nafter: %s", nodetest.Describe(before), nodetest.Describe(after))
	}
	resp, err := http.Get("http://" + after.Status.PodIP + ":8080/")
	if err != nil {
		t.Fatalf("the pod stopped answering: %v", err)
	}
	resp.Body.Close()
}

// TestServerProcess runs `podvisor server` as a process with its
// in-process agent, as `make run` does: a pod made with the embedded
// kubectl runs and answers HTTP, and a kill -9 of the whole server
// (agent included) does not stop it nor count a restart.
func TestServerProcess(t *testing.T) {
	nodetest.Prerequisites(t)
	bin := servertest.Binary(t)
	dataDir := t.TempDir()
	suffix := nodetest.RandHex(3)
	cfg := agent.Config{
		NodeName: "proc-" + suffix, DataDir: server.AgentDataDir(dataDir), RunDir: filepath.Join(t.TempDir(), "run"),
		BridgeName: "pvp" + suffix, CgroupRoot: "/podvisor-test-" + suffix, PodCIDR: nodetest.RandomPodCIDR(),
		ShimPath: servertest.ShimBinary(t),
	}
	if out, err := exec.Command(bin, "images", "build-busybox", "--data-dir", cfg.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("podvisor images build-busybox: %v\n%s", err, out)
	}
	flags := []string{"--disable-agent=false", "--node-name", cfg.NodeName, "--run-dir", cfg.RunDir, "--bridge-name", cfg.BridgeName,
		"--cgroup-root", cfg.CgroupRoot, "--pod-cidr", cfg.PodCIDR, "--node-ip", "127.0.0.1", "--kubelet-address", "127.0.0.1:0"}
	p := servertest.StartProcess(t, dataDir, 0, flags...)
	_, cs := servertest.Clients(t, p.Kubeconfig)
	t.Cleanup(func() {
		zero := int64(0)
		cs.CoreV1().Pods("default").Delete(context.Background(), "web", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if _, err := cs.CoreV1().Pods("default").Get(context.Background(), "web", metav1.GetOptions{}); err != nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		p.Kill()
		nodetest.Purge(cfg)
	})
	nodetest.WaitNodeReady(t, cs, cfg.NodeName)
	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"kubectl"}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+p.Kubeconfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// No scheduler runs in this test: place the pod with --overrides.
	kubectl("run", "web", "--image=busybox", `--overrides={"spec":{"nodeName":"`+cfg.NodeName+`"}}`, "--", "httpd", "-f", "-p", "80")
	pod := nodetest.WaitPod(t, cs, "default", "web", "Running", waitLong, nodetest.Running)
	get := func() {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + pod.Status.PodIP + ":80/")
		if err != nil {
			t.Fatalf("the pod does not answer: %v", err)
		}
		resp.Body.Close()
	}
	get()
	checkShimBinary(t, cfg.DataDir, servertest.ShimBinary(t))
	if out := kubectl("get", "pod", "web", "-o", "wide"); !strings.Contains(out, "Running") || !strings.Contains(out, pod.Status.PodIP) {
		t.Errorf("kubectl get:\n%s", out)
	}
	p.Kill()
	get()
	p = servertest.StartProcess(t, dataDir, p.Port, flags...)
	_, cs = servertest.Clients(t, p.Kubeconfig)
	nodetest.WaitNodeReady(t, cs, cfg.NodeName)
	time.Sleep(3 * time.Second)
	after := nodetest.WaitPod(t, cs, "default", "web", "Running after kill -9", waitLong, nodetest.Running)
	if a, b := after.Status.ContainerStatuses[0], pod.Status.ContainerStatuses[0]; a.ContainerID != b.ContainerID || a.RestartCount != 0 {
		t.Errorf("after kill -9: %s\nbefore: %s", nodetest.Describe(after), nodetest.Describe(pod))
	}
	get()
}

// checkShimBinary checks that every container of the agent with data dir
// dataDir is monitored by a shim running want (the agent found
// podvisor-shim next to its own binary, rather than `podvisor shim`).
func checkShimBinary(t *testing.T, dataDir, want string) {
	t.Helper()
	want, err := filepath.EvalSymlinks(want)
	if err != nil {
		t.Fatal(err)
	}
	metas, err := filepath.Glob(filepath.Join(dataDir, "runtime", "containers", "*", "meta.json"))
	if err != nil || len(metas) == 0 {
		t.Fatalf("no container records under %s: %v", dataDir, err)
	}
	for _, p := range metas {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			ShimPid int `json:"shimPid"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("decoding %s: %v", p, err)
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", m.ShimPid))
		if err != nil {
			t.Fatalf("container %s: its shim (pid %d): %v", filepath.Base(filepath.Dir(p)), m.ShimPid, err)
		}
		if exe != want {
			t.Errorf("container %s: shim runs %s, want %s", filepath.Base(filepath.Dir(p)), exe, want)
		}
	}
}
