package kubelet

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two"}
	m := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	tests := map[string]string{
		"plain":            "plain",
		"$(A)":             "1",
		"x$(A)y$(B)z":      "x1ytwoz",
		"$$(A)":            "$(A)",
		"$(MISSING)":       "$(MISSING)",
		"$(A":              "$(A",
		"$A":               "$A",
		"cost: $5":         "cost: $5",
		"$()":              "$()",
		"$$$(A)":           "$1",
		"end$":             "end$",
		"$(A)$(B)$(A)":     "1two1",
		"echo $$HOME $(B)": "echo $HOME two",
	}
	for in, want := range tests {
		if got := expand(in, m); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMergeCommand(t *testing.T) {
	vars := map[string]string{"X": "x"}
	m := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	tests := []struct {
		name                         string
		command, args, entry, imgCmd []string
		want                         []string
	}{
		{name: "image only", entry: []string{"/entry"}, imgCmd: []string{"--flag"}, want: []string{"/entry", "--flag"}},
		{name: "command replaces both", command: []string{"sh", "-c", "echo $(X)"}, entry: []string{"/entry"}, imgCmd: []string{"--flag"}, want: []string{"sh", "-c", "echo x"}},
		{name: "command and args", command: []string{"echo"}, args: []string{"$(X)", "y"}, entry: []string{"/entry"}, want: []string{"echo", "x", "y"}},
		{name: "args replace cmd", args: []string{"$(X)"}, entry: []string{"/entry $(X)"}, imgCmd: []string{"--flag"}, want: []string{"/entry $(X)", "x"}},
		{name: "nothing", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeCommand(tc.command, tc.args, tc.entry, tc.imgCmd, m)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceEnv(t *testing.T) {
	svcs := []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "my-svc"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.5", Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 1}}}},
	}
	got := map[string]string{}
	for _, e := range serviceEnv(svcs) {
		got[e.Name] = e.Value
	}
	want := map[string]string{
		"MY_SVC_SERVICE_HOST": "10.43.0.5", "MY_SVC_SERVICE_PORT": "80",
		"MY_SVC_SERVICE_PORT_HTTP": "80", "MY_SVC_SERVICE_PORT_DNS": "53",
		"MY_SVC_PORT":        "tcp://10.43.0.5:80",
		"MY_SVC_PORT_80_TCP": "tcp://10.43.0.5:80", "MY_SVC_PORT_80_TCP_PROTO": "tcp", "MY_SVC_PORT_80_TCP_PORT": "80", "MY_SVC_PORT_80_TCP_ADDR": "10.43.0.5",
		"MY_SVC_PORT_53_UDP": "udp://10.43.0.5:53", "MY_SVC_PORT_53_UDP_PROTO": "udp", "MY_SVC_PORT_53_UDP_PORT": "53", "MY_SVC_PORT_53_UDP_ADDR": "10.43.0.5",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMakeEnv(t *testing.T) {
	yes := true
	cs := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"}, Data: map[string]string{"color": "blue", "size": "L"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "ns"}, Data: map[string][]byte{"pw": []byte("hunter2")}},
	)
	k := &Kubelet{client: cs}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"}}
	c := &corev1.Container{Name: "c",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
		EnvFrom:   []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		Env: []corev1.EnvVar{
			{Name: "GREETING", Value: "hello $(CFG_color) $(WEB_SERVICE_HOST)"},
			{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
			{Name: "SIZE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "size"}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "pw"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "none"}, Key: "k", Optional: &yes}}},
			{Name: "CFG_size", Value: "override"},
		}}
	pod.Spec.Containers = []corev1.Container{*c}
	svcs := []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{ClusterIP: "10.43.0.9", Ports: []corev1.ServicePort{{Port: 8080}}}}}
	env, err := k.makeEnv(context.Background(), envInput{pod: pod, podIPs: []string{"10.42.0.7"}, hostIPs: []string{"192.168.1.2"}, services: svcs}, c)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for _, e := range env {
		got[e.Name] = e.Value
		order = append(order, e.Name)
	}
	for k, v := range map[string]string{
		"CFG_color": "blue", "CFG_size": "override", "GREETING": "hello blue 10.43.0.9", "NODE": "n1", "POD_IP": "10.42.0.7",
		"APP": "web", "MEM": "64", "SIZE": "L", "PW": "hunter2", "WEB_SERVICE_HOST": "10.43.0.9", "WEB_PORT": "tcp://10.43.0.9:8080",
	} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["OPT"]; ok {
		t.Errorf("optional missing configmap produced OPT")
	}
	if order[0] != "CFG_color" || order[len(order)-1] != "WEB_SERVICE_HOST" && !strings.HasPrefix(order[len(order)-1], "WEB_") {
		t.Errorf("order: %v", order)
	}

	errs := []struct {
		env  corev1.EnvVar
		want string
	}{
		{corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k"}}}, `configmap "missing" not found`},
		{corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nokey"}}}, `couldn't find key nokey in ConfigMap ns/cfg`},
		{corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nosec"}, Key: "k"}}}, `secret "nosec" not found`},
	}
	for _, e := range errs {
		_, err := k.makeEnv(context.Background(), envInput{pod: pod}, &corev1.Container{Name: "c", Env: []corev1.EnvVar{e.env}})
		if err == nil || err.Error() != e.want {
			t.Errorf("%+v: got %v, want %q", e.env.ValueFrom, err, e.want)
		}
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1000:\nextra:x:2000:app\n"), 0o644)
	i64 := func(v int64) *int64 { return &v }
	yes := true
	tests := []struct {
		name      string
		podSC     *corev1.PodSecurityContext
		sc        *corev1.SecurityContext
		imageUser string
		want      oci.User
		err       string
	}{
		{name: "image default root", want: oci.User{}},
		{name: "image user by name", imageUser: "app", want: oci.User{UID: 1000, GID: 1000, AdditionalGIDs: []uint32{2000}}},
		{name: "runAsUser wins", imageUser: "app", sc: &corev1.SecurityContext{RunAsUser: i64(1000)}, want: oci.User{UID: 1000, GID: 1000, AdditionalGIDs: []uint32{2000}}},
		{name: "runAsUser and group", podSC: &corev1.PodSecurityContext{RunAsUser: i64(4000), RunAsGroup: i64(5000), FSGroup: i64(6000), SupplementalGroups: []int64{7000}},
			want: oci.User{UID: 4000, GID: 5000, AdditionalGIDs: []uint32{7000, 6000}}},
		{name: "runAsNonRoot with root image", sc: &corev1.SecurityContext{RunAsNonRoot: &yes},
			err: `container has runAsNonRoot and image will run as root (pod: "ns/p", container: c)`},
		{name: "runAsNonRoot with named user", imageUser: "app", sc: &corev1.SecurityContext{RunAsNonRoot: &yes},
			err: `container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "ns/p", container: c)`},
		{name: "runAsNonRoot with runAsUser 0", sc: &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: i64(0)},
			err: `container has runAsNonRoot and image will run as root (pod: "ns/p", container: c)`},
		{name: "runAsNonRoot satisfied", sc: &corev1.SecurityContext{RunAsNonRoot: &yes, RunAsUser: i64(1000)}, want: oci.User{UID: 1000, GID: 1000, AdditionalGIDs: []uint32{2000}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{SecurityContext: tc.podSC}}
			c := &corev1.Container{Name: "c", SecurityContext: tc.sc}
			got, err := resolveUser(pod, c, tc.imageUser, root)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecurityAndResources(t *testing.T) {
	no, yes := false, true
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}}}
	c := &corev1.Container{SecurityContext: &corev1.SecurityContext{
		Privileged: &no, ReadOnlyRootFilesystem: &yes, AllowPrivilegeEscalation: &no,
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
	}}
	s, err := security(pod, c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := oci.Security{ReadOnlyRootFS: true, NoNewPrivileges: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, Seccomp: "Unconfined"}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	s, _ = security(&corev1.Pod{}, &corev1.Container{}, "")
	if s.Seccomp != "RuntimeDefault" || s.NoNewPrivileges {
		t.Errorf("defaults: %+v", s)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "prof.json"), []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), 0o644)
	lp := "prof.json"
	s, err = security(&corev1.Pod{}, &corev1.Container{SecurityContext: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &lp}}}, dir)
	if err != nil || s.SeccompProfile == nil || s.SeccompProfile.DefaultAction != "SCMP_ACT_ALLOW" {
		t.Errorf("localhost profile: %+v %v", s, err)
	}

	rc := &corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	}}
	if diff := cmp.Diff(oci.Resources{CPURequestMilli: 250, CPULimitMilli: 1000, MemoryLimitBytes: 128 << 20}, resources(rc)); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	qp := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{*rc}}}
	if q := qosClass(qp); q != corev1.PodQOSBurstable {
		t.Errorf("qos %s", q)
	}
	if adj := oomScoreAdj(qp, rc, 1<<30); adj != 1000-1000*(64<<20)/(1<<30) {
		t.Errorf("burstable oom adj %d", adj)
	}
	g := corev1.Container{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}
	if q := qosClass(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{g}}}); q != corev1.PodQOSGuaranteed {
		t.Errorf("limits only: qos %s, want Guaranteed", q)
	}
	if q := qosClass(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}); q != corev1.PodQOSBestEffort {
		t.Errorf("nothing: qos %s", q)
	}
}

func TestDecodeAndStaticPods(t *testing.T) {
	k := &Kubelet{cfg: Config{NodeName: "node1"}, now: func() time.Time { return time.Unix(0, 0) }}
	yaml := `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: c
    image: busybox
---
apiVersion: v1
kind: PodList
items:
- metadata: {name: a, namespace: kube-system}
  spec: {containers: [{name: c, image: busybox:1.36}]}
`
	pods, err := decodeManifests([]byte(yaml))
	if err != nil || len(pods) != 2 {
		t.Fatalf("decode: %d pods, %v", len(pods), err)
	}
	sp, err := k.staticPod(pods[0], SourceFile, "/etc/manifests/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sp.Name != "web-node1" || sp.Namespace != "default" || sp.Spec.NodeName != "node1" || sp.UID == "" ||
		sp.Annotations[annConfigSource] != "file" || sp.Annotations[annConfigHash] != string(sp.UID) ||
		sp.Spec.RestartPolicy != corev1.RestartPolicyAlways || sp.Spec.Containers[0].ImagePullPolicy != corev1.PullAlways {
		t.Errorf("static pod: %+v", sp.ObjectMeta)
	}
	again, _ := k.staticPod(pods[0], SourceFile, "/etc/manifests/web.yaml")
	if again.UID != sp.UID {
		t.Errorf("the same manifest gave another UID")
	}
	pods[0].Spec.Containers[0].Image = "busybox:2"
	changed, _ := k.staticPod(pods[0], SourceFile, "/etc/manifests/web.yaml")
	if changed.UID == sp.UID {
		t.Errorf("a changed manifest kept its UID")
	}
	for _, bad := range []string{"kind: Service\nmetadata: {name: x}", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: c, image: b, bogusField: 1}]}"} {
		if _, err := decodeManifests([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := k.staticPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, SourceFile, "f"); err == nil {
		t.Errorf("a pod without containers passed validation")
	}
}

func TestResolvConf(t *testing.T) {
	k := &Kubelet{cfg: Config{ClusterDNS: []string{"10.43.0.10"}, ClusterDomain: "cluster.local"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}}
	b, err := k.resolvConf(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := "nameserver 10.43.0.10\nsearch ns.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
	if string(b) != want {
		t.Errorf("ClusterFirst:\n%s\nwant\n%s", b, want)
	}
	two := "2"
	pod.Spec.DNSPolicy = corev1.DNSNone
	pod.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"example.com"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}}}
	b, _ = k.resolvConf(pod)
	if string(b) != "nameserver 1.1.1.1\nsearch example.com\noptions ndots:2\n" {
		t.Errorf("None with dnsConfig:\n%s", b)
	}
}

// fakeHost is a Host with fixed answers.
type fakeHost struct {
	usage HostUsage
}

func (fakeHost) Capacity() (corev1.ResourceList, error) {
	return corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}, nil
}
func (h fakeHost) Usage() (HostUsage, error) { return h.usage, nil }
func (fakeHost) SystemInfo() corev1.NodeSystemInfo {
	return corev1.NodeSystemInfo{KernelVersion: "6.1", OperatingSystem: "linux", Architecture: "amd64"}
}
func (fakeHost) Hostname() string           { return "host1" }
func (fakeHost) DefaultIP() (net.IP, error) { return net.ParseIP("192.168.5.5"), nil }

func TestNodeStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fi := newFakeImages(t.TempDir())
	k := &Kubelet{cfg: Config{NodeName: "n1", MaxPods: 110, Port: 10250, RuntimeVersion: "runc://1.1.5"}, host: fakeHost{usage: HostUsage{
		MemoryAvailable: 3 << 30, MemoryTotal: 4 << 30, DiskAvailable: 50 << 30, DiskTotal: 100 << 30, PIDs: 100, PIDMax: 4000,
	}}, images: fi, now: func() time.Time { return now }}
	st, err := k.nodeStatus(nil)
	if err != nil {
		t.Fatal(err)
	}
	conds := map[corev1.NodeConditionType]corev1.ConditionStatus{}
	for _, c := range st.Conditions {
		conds[c.Type] = c.Status
	}
	want := map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: corev1.ConditionFalse, corev1.NodeMemoryPressure: corev1.ConditionFalse,
		corev1.NodeDiskPressure: corev1.ConditionFalse, corev1.NodePIDPressure: corev1.ConditionFalse,
	}
	if diff := cmp.Diff(want, conds); diff != "" {
		t.Errorf("conditions without a network (-want +got):\n%s", diff)
	}
	pods := st.Capacity[corev1.ResourcePods]
	mem := st.Allocatable[corev1.ResourceMemory]
	if pods.Value() != 110 || mem.Value() != 4<<30-100<<20 {
		t.Errorf("capacity pods %v allocatable memory %v", pods.Value(), mem.Value())
	}
	if st.NodeInfo.KubeletVersion != Version || st.NodeInfo.ContainerRuntimeVersion != "runc://1.1.5" || st.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("node info %+v", st.NodeInfo)
	}
	if len(st.Addresses) != 2 || st.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "192.168.5.5"}) || st.Addresses[1].Address != "host1" {
		t.Errorf("addresses %+v", st.Addresses)
	}
	k.network = &fakeNetwork{}
	k.host = fakeHost{usage: HostUsage{MemoryAvailable: 50 << 20, MemoryTotal: 4 << 30, DiskAvailable: 5 << 30, DiskTotal: 100 << 30, PIDs: 3900, PIDMax: 4000}}
	now = now.Add(time.Minute)
	st2, _ := k.nodeStatus(&st)
	for _, c := range st2.Conditions {
		if c.Status != corev1.ConditionTrue {
			t.Errorf("%s: %s (%s), want True", c.Type, c.Status, c.Reason)
		}
		if !c.LastTransitionTime.Time.Equal(now) {
			t.Errorf("%s transition at %v, want %v", c.Type, c.LastTransitionTime, now)
		}
	}
	if sameNodeStatus(st, st2) {
		t.Errorf("changed conditions compare equal")
	}
}
