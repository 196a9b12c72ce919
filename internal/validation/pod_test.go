package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// validContainer is a container as defaulting leaves it.
func validContainer(name string) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    "busybox:1.36",
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// validPodSpec is a minimal defaulted pod spec.
func validPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{validContainer("app")},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		DNSPolicy:                     corev1.DNSClusterFirst,
		SchedulerName:                 corev1.DefaultSchedulerName,
		SecurityContext:               &corev1.PodSecurityContext{},
		TerminationGracePeriodSeconds: ptr(int64(30)),
	}
}

func validPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       validPodSpec(),
	}
}

func httpProbe() *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP,
		}},
		TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
	}
}

func TestValidatePod(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{name: "valid", mutate: func(p *corev1.Pod) {}},
		{
			name: "valid with probes, volumes, env, security context",
			mutate: func(p *corev1.Pod) {
				c := &p.Spec.Containers[0]
				c.LivenessProbe, c.ReadinessProbe = httpProbe(), httpProbe()
				c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}, SuccessThreshold: 1}
				c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}
				c.Env = []corev1.EnvVar{
					{Name: "A", Value: "1"},
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}},
					{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
					{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
				}
				c.Resources = corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("1Gi")},
					Requests: corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("1Gi")},
				}
				c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/cfg", SubPath: "app.conf"}}
				c.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(1000)), AllowPrivilegeEscalation: ptr(false),
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
				p.Spec.Volumes = []corev1.Volume{
					{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o644))}}},
				}
			},
		},
		{name: "no containers", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil }, want: want(required, "spec.containers")},
		{name: "missing image", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, want: want(required, "spec.containers[0].image")},
		{name: "image with spaces", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, want: want(invalid, "spec.containers[0].image")},
		{name: "bad name", mutate: func(p *corev1.Pod) { p.Name = "Foo_1" }, want: want(invalid, "metadata.name")},
		{name: "no namespace", mutate: func(p *corev1.Pod) { p.Namespace = "" }, want: want(required, "metadata.namespace")},
		{name: "bad label", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"a b": "x"} }, want: want(invalid, "metadata.labels")},
		{
			name:   "duplicate container names",
			mutate: func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{validContainer("app")} },
			want:   want(duplicate, "spec.initContainers[0].name"),
		},
		{name: "container name not a label", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App" }, want: want(invalid, "spec.containers[0].name")},
		{name: "pull policy unknown", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" }, want: want(notSupported, "spec.containers[0].imagePullPolicy")},
		{name: "pull policy missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "" }, want: want(required, "spec.containers[0].imagePullPolicy")},
		{name: "termination message policy", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "X" }, want: want(notSupported, "spec.containers[0].terminationMessagePolicy")},
		{name: "restart policy missing", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "" }, want: want(required, "spec.restartPolicy")},
		{name: "restart policy unknown", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, want: want(notSupported, "spec.restartPolicy")},
		{name: "dns policy unknown", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, want: want(notSupported, "spec.dnsPolicy")},
		{
			name:   "dns policy None without nameservers",
			mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone; p.Spec.DNSConfig = &corev1.PodDNSConfig{} },
			want:   want(required, "spec.dnsConfig.nameservers"),
		},
		{
			name: "dns config bad nameserver and too many",
			mutate: func(p *corev1.Pod) {
				p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9", "x"}}
			},
			want: want(invalid, "spec.dnsConfig.nameservers", invalid, "spec.dnsConfig.nameservers[3]"),
		},
		{name: "node selector label", mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"k": "bad value"} }, want: want(invalid, "spec.nodeSelector")},
		{name: "hostname not label", mutate: func(p *corev1.Pod) { p.Spec.Hostname = "a.b" }, want: want(invalid, "spec.hostname")},
		{name: "subdomain not label", mutate: func(p *corev1.Pod) { p.Spec.Subdomain = "A" }, want: want(invalid, "spec.subdomain")},
		{name: "active deadline zero", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) }, want: want(invalid, "spec.activeDeadlineSeconds")},
		{name: "negative grace period", mutate: func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-1)) }, want: want(invalid, "spec.terminationGracePeriodSeconds")},
		{name: "service account name", mutate: func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Bad_SA" }, want: want(invalid, "spec.serviceAccountName")},
		{name: "priority class name", mutate: func(p *corev1.Pod) { p.Spec.PriorityClassName = "Hi!" }, want: want(invalid, "spec.priorityClassName")},
		{name: "preemption policy", mutate: func(p *corev1.Pod) { p.Spec.PreemptionPolicy = ptr(corev1.PreemptionPolicy("Always")) }, want: want(notSupported, "spec.preemptionPolicy")},
		{name: "overhead negative", mutate: func(p *corev1.Pod) { p.Spec.Overhead = corev1.ResourceList{"cpu": resource.MustParse("-1")} }, want: want(invalid, "spec.overhead[cpu]")},
		{name: "ephemeral containers on create", mutate: func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, want: want(forbidden, "spec.ephemeralContainers")},
		{name: "scheduling gates with node name", mutate: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
			p.Spec.NodeName = "node-1"
		}, want: want(forbidden, "spec.nodeName")},
		{name: "duplicate scheduling gates", mutate: func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "g"}, {Name: "g"}}
		}, want: want(duplicate, "spec.schedulingGates[1].name")},
		{name: "share process namespace and hostPID", mutate: func(p *corev1.Pod) {
			p.Spec.ShareProcessNamespace = ptr(true)
			p.Spec.HostPID = true
		}, want: want(invalid, "spec.shareProcessNamespace")},
		{name: "pod runAsUser negative", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr(int64(-1)) }, want: want(invalid, "spec.securityContext.runAsUser")},
		{name: "sysctl name", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_forward", Value: "1"}, {Name: "Bad Name", Value: "1"}}
		}, want: want(invalid, "spec.securityContext.sysctls[1].name")},
		{name: "seccomp localhost without profile", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}
		}, want: want(required, "spec.securityContext.seccompProfile.localhostProfile")},
		{name: "privileged without escalation", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false)}
		}, want: want(invalid, "spec.containers[0].securityContext")},
		{name: "hostUsers false with hostNetwork", mutate: func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr(false)
			p.Spec.HostNetwork = true
		}, want: want(forbidden, "spec.hostNetwork")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(p)
			checkErrs(t, ValidatePod(p), tc.want)
		})
	}
}

func TestValidatePodNameMessage(t *testing.T) {
	p := validPod()
	p.Name = "Foo_1"
	errs := ValidatePod(p)
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
	}
	const wantPrefix = `metadata.name: Invalid value: "Foo_1": a lowercase RFC 1123 subdomain must consist of`
	if got := errs[0].Error(); !strings.HasPrefix(got, wantPrefix) {
		t.Errorf("got %q, want prefix %q", got, wantPrefix)
	}
	p = validPod()
	p.Spec.Containers[0].Image = ""
	if got, want := ValidatePod(p).ToAggregate().Error(), "spec.containers[0].image: Required value"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidateContainers(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *corev1.Container, p *corev1.Pod)
		want   []string
	}{
		{name: "port zero", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 0, Protocol: "TCP"}}
		}, want: want(required, "spec.containers[0].ports[0].containerPort")},
		{name: "port too big", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 70000, Protocol: "TCP"}}
		}, want: want(invalid, "spec.containers[0].ports[0].containerPort")},
		{name: "protocol unknown", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 80, Protocol: "ICMP"}}
		}, want: want(notSupported, "spec.containers[0].ports[0].protocol")},
		{name: "duplicate port names", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: "TCP"}, {Name: "http", ContainerPort: 81, Protocol: "TCP"}}
		}, want: want(duplicate, "spec.containers[0].ports[1].name")},
		{name: "port name too long", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Ports = []corev1.ContainerPort{{Name: "much-too-long-name", ContainerPort: 80, Protocol: "TCP"}}
		}, want: want(invalid, "spec.containers[0].ports[0].name")},
		{name: "host port conflict", mutate: func(c *corev1.Container, p *corev1.Pod) {
			c.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}}
			other := validContainer("side")
			other.Ports = []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080, Protocol: "TCP"}}
			p.Spec.Containers = append(p.Spec.Containers, other)
		}, want: want(duplicate, "spec.containers[1].ports[0].hostPort")},
		{name: "host network port mismatch", mutate: func(c *corev1.Container, p *corev1.Pod) {
			p.Spec.HostNetwork = true
			c.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 81, Protocol: "TCP"}}
		}, want: want(invalid, "spec.containers[0].ports[0].hostPort")},
		{name: "env name missing", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Env = []corev1.EnvVar{{Value: "x"}}
		}, want: want(required, "spec.containers[0].env[0].name")},
		{name: "env name with equals", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Env = []corev1.EnvVar{{Name: "A=B"}}
		}, want: want(invalid, "spec.containers[0].env[0].name")},
		{name: "env value and valueFrom", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}}
		}, want: want(invalid, "spec.containers[0].env[0].valueFrom")},
		{name: "env valueFrom empty", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{}}}
		}, want: want(invalid, "spec.containers[0].env[0].valueFrom")},
		{name: "env valueFrom two sources", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{
				FieldRef:        &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Key: "k"},
			}}}
		}, want: want(invalid, "spec.containers[0].env[0].valueFrom")},
		{name: "env fieldRef unsupported path", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.containers"}}}}
		}, want: want(notSupported, "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")},
		{name: "env secret key missing", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}}
		}, want: want(required, "spec.containers[0].env[0].valueFrom.secretKeyRef.key")},
		{name: "env resource divisor", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Env = []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("3")}}}}
		}, want: want(invalid, "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor")},
		{name: "envFrom needs a source", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}}
		}, want: want(invalid, "spec.containers[0].envFrom[0]")},
		{name: "requests above limits", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"cpu": resource.MustParse("500m")},
				Requests: corev1.ResourceList{"cpu": resource.MustParse("1")},
			}
		}, want: want(invalid, "spec.containers[0].resources.requests[cpu]")},
		{name: "negative memory", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{"memory": resource.MustParse("-1Mi")}}
		}, want: want(invalid, "spec.containers[0].resources.requests[memory]")},
		{name: "unknown resource", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{"gpu": resource.MustParse("1")}}
		}, want: want(invalid, "spec.containers[0].resources.limits[gpu]")},
		{name: "extended resource fractional", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"example.com/gpu": resource.MustParse("500m")},
				Requests: corev1.ResourceList{"example.com/gpu": resource.MustParse("500m")},
			}
		}, want: want(invalid, "spec.containers[0].resources.limits[example.com/gpu]", invalid, "spec.containers[0].resources.requests[example.com/gpu]")},
		{name: "extended resource request below limit", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"example.com/gpu": resource.MustParse("2")},
				Requests: corev1.ResourceList{"example.com/gpu": resource.MustParse("1")},
			}
		}, want: want(invalid, "spec.containers[0].resources.requests[example.com/gpu]")},
		{name: "hugepages alone", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{"hugepages-2Mi": resource.MustParse("4Mi")}}
		}, want: want(forbidden, "spec.containers[0].resources")},
		{name: "probe without handler", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.LivenessProbe = &corev1.Probe{SuccessThreshold: 1}
		}, want: want(required, "spec.containers[0].livenessProbe")},
		{name: "probe with two handlers", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.ReadinessProbe = httpProbe()
			c.ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, want: want(forbidden, "spec.containers[0].readinessProbe")},
		{name: "liveness success threshold", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.SuccessThreshold = 2
		}, want: want(invalid, "spec.containers[0].livenessProbe.successThreshold")},
		{name: "probe negative period", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.ReadinessProbe = httpProbe()
			c.ReadinessProbe.PeriodSeconds = -1
		}, want: want(invalid, "spec.containers[0].readinessProbe.periodSeconds")},
		{name: "readiness probe grace period", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.ReadinessProbe = httpProbe()
			c.ReadinessProbe.TerminationGracePeriodSeconds = ptr(int64(5))
		}, want: want(invalid, "spec.containers[0].readinessProbe.terminationGracePeriodSeconds")},
		{name: "http probe bad scheme and port", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.HTTPGet.Scheme = "FTP"
			c.LivenessProbe.HTTPGet.Port = intstr.FromInt32(0)
		}, want: want(notSupported, "spec.containers[0].livenessProbe.httpGet.scheme", invalid, "spec.containers[0].livenessProbe.httpGet.port")},
		{name: "exec probe without command", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{}}, SuccessThreshold: 1}
		}, want: want(required, "spec.containers[0].livenessProbe.exec.command")},
		{name: "grpc probe port", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 0}}, SuccessThreshold: 1}
		}, want: want(invalid, "spec.containers[0].livenessProbe.grpc.port")},
		{name: "lifecycle without handler", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{}}
		}, want: want(required, "spec.containers[0].lifecycle.preStop")},
		{name: "lifecycle sleep", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
		}},
		{name: "init container with probe", mutate: func(_ *corev1.Container, p *corev1.Pod) {
			ic := validContainer("init")
			ic.ReadinessProbe = httpProbe()
			p.Spec.InitContainers = []corev1.Container{ic}
		}, want: want(forbidden, "spec.initContainers[0].readinessProbe")},
		{name: "sidecar with probe", mutate: func(_ *corev1.Container, p *corev1.Pod) {
			ic := validContainer("proxy")
			ic.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			ic.ReadinessProbe = httpProbe()
			p.Spec.InitContainers = []corev1.Container{ic}
		}},
		{name: "init container restart policy Never", mutate: func(_ *corev1.Container, p *corev1.Pod) {
			ic := validContainer("init")
			ic.RestartPolicy = ptr(corev1.ContainerRestartPolicyNever)
			p.Spec.InitContainers = []corev1.Container{ic}
		}, want: want(notSupported, "spec.initContainers[0].restartPolicy")},
		{name: "mount unknown volume", mutate: func(c *corev1.Container, _ *corev1.Pod) {
			c.VolumeMounts = []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}
		}, want: want(notFound, "spec.containers[0].volumeMounts[0].name")},
		{name: "mount path missing and duplicate", mutate: func(c *corev1.Container, p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/a"}, {Name: "v", MountPath: "/a/"}, {Name: "v"}}
		}, want: want(invalid, "spec.containers[0].volumeMounts[1].mountPath", required, "spec.containers[0].volumeMounts[2].mountPath")},
		{name: "subPath escapes", mutate: func(c *corev1.Container, p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/a", SubPath: "../etc"}}
		}, want: want(invalid, "spec.containers[0].volumeMounts[0].subPath")},
		{name: "bidirectional propagation unprivileged", mutate: func(c *corev1.Container, p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/a", MountPropagation: ptr(corev1.MountPropagationBidirectional)}}
		}, want: want(forbidden, "spec.containers[0].volumeMounts[0].mountPropagation")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(&p.Spec.Containers[0], p)
			checkErrs(t, ValidatePod(p), tc.want)
		})
	}
}

func TestValidateVolumes(t *testing.T) {
	tests := []struct {
		name string
		vol  corev1.Volume
		want []string
	}{
		{name: "emptyDir", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}},
		{name: "hostPath", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log", Type: ptr(corev1.HostPathDirectory)}}}},
		{name: "secret", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr(int32(0o400)),
			Items: []corev1.KeyToPath{{Key: "tls.crt", Path: "certs/tls.crt"}}}}}},
		{name: "pvc", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
		{name: "downwardAPI", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "requests.cpu"}},
		}}}}},
		{name: "projected", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3607))}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}}}}},
		{name: "no source", vol: corev1.Volume{Name: "v"}, want: want(required, "spec.volumes[0]")},
		{name: "two sources", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}},
			want: want(forbidden, "spec.volumes[0].emptyDir")},
		{name: "bad name", vol: corev1.Volume{Name: "V_1", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, want: want(invalid, "spec.volumes[0].name")},
		{name: "hostPath backsteps", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/../etc"}}},
			want: want(invalid, "spec.volumes[0].hostPath.path")},
		{name: "hostPath type", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x", Type: ptr(corev1.HostPathType("Pipe"))}}},
			want: want(notSupported, "spec.volumes[0].hostPath.type")},
		{name: "emptyDir medium", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "Disk"}}},
			want: want(notSupported, "spec.volumes[0].emptyDir.medium")},
		{name: "secret without name", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}},
			want: want(required, "spec.volumes[0].secret.secretName")},
		{name: "configMap mode too big", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, DefaultMode: ptr(int32(0o1777))}}},
			want: want(invalid, "spec.volumes[0].configMap.defaultMode")},
		{name: "configMap item absolute path", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Items: []corev1.KeyToPath{{Key: "k", Path: "/etc/x"}}}}},
			want: want(invalid, "spec.volumes[0].configMap.items[0].path")},
		{name: "pvc without claim", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}},
			want: want(required, "spec.volumes[0].persistentVolumeClaim.claimName")},
		{name: "downwardAPI bad field", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "node", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}}}},
			want: want(notSupported, "spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath")},
		{name: "downwardAPI resource without container", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}}}}},
			want: want(required, "spec.volumes[0].downwardAPI.items[0].resourceFieldRef.containerName")},
		{name: "projected short token", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(60))}}}}}},
			want: want(invalid, "spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds")},
		{name: "projected duplicate paths", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "x"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Items: []corev1.KeyToPath{{Key: "k", Path: "x"}}}}}}}},
			want: want(invalid, "spec.volumes[0].projected.sources[1].configMap.items[0].path")},
		{name: "projected empty source", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{}}}}},
			want: want(required, "spec.volumes[0].projected.sources[0]")},
		{name: "nfs relative path", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs", Path: "export"}}},
			want: want(invalid, "spec.volumes[0].nfs.path")},
		{name: "iscsi", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{TargetPortal: "10.0.0.1:3260", IQN: "bad", Lun: 300}}},
			want: want(invalid, "spec.volumes[0].iscsi.iqn", invalid, "spec.volumes[0].iscsi.lun")},
		{name: "csi driver", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{}}},
			want: want(required, "spec.volumes[0].csi.driver")},
		{name: "ephemeral without template", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
			want: want(required, "spec.volumes[0].ephemeral.volumeClaimTemplate")},
		{name: "ephemeral claim without storage", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
			VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}}}},
			want: want(required, "spec.volumes[0].ephemeral.volumeClaimTemplate.spec.resources[storage]")},
		{name: "gce pd", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{GCEPersistentDisk: &corev1.GCEPersistentDiskVolumeSource{}}},
			want: want(required, "spec.volumes[0].gcePersistentDisk.pdName")},
		{name: "fc", vol: corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{FC: &corev1.FCVolumeSource{TargetWWNs: []string{"500a0982991b8dc5"}}}},
			want: want(required, "spec.volumes[0].fc.lun")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Volumes = []corev1.Volume{tc.vol}
			checkErrs(t, ValidatePod(p), tc.want)
		})
	}
}

func TestValidateScheduling(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.PodSpec)
		want   []string
	}{
		{name: "valid affinity and spread", mutate: func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{
				NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}}},
				}}}},
				PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
					Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, TopologyKey: "kubernetes.io/hostname"},
				}}},
			}
			s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
			s.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))}}
		}},
		{name: "empty node selector terms", mutate: func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, want: want(required, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")},
		{name: "In without values", mutate: func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}},
			}}}}}
		}, want: want(required, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values")},
		{name: "matchFields key", mutate: func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.uid", Operator: corev1.NodeSelectorOpIn, Values: []string{"x"}}},
			}}}}}
		}, want: want(notSupported, "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key")},
		{name: "weight out of range", mutate: func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 101, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone"},
			}}}}
		}, want: want(invalid, "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight")},
		{name: "pod affinity without topology key", mutate: func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{}}}}
		}, want: want(required, "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")},
		{name: "toleration Exists with value", mutate: func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, want: want(invalid, "spec.tolerations[0].operator")},
		{name: "toleration empty key with Equal", mutate: func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual}}
		}, want: want(invalid, "spec.tolerations[0].operator")},
		{name: "toleration seconds without NoExecute", mutate: func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr(int64(1))}}
		}, want: want(invalid, "spec.tolerations[0].effect")},
		{name: "toleration effect", mutate: func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "Never"}}
		}, want: want(notSupported, "spec.tolerations[0].effect")},
		{name: "spread max skew and duplicate", mutate: func(s *corev1.PodSpec) {
			c := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}
			bad := c
			bad.MaxSkew = 0
			s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{c, bad}
		}, want: want(invalid, "spec.topologySpreadConstraints[1].maxSkew", duplicate, "spec.topologySpreadConstraints[1]")},
		{name: "spread minDomains with ScheduleAnyway", mutate: func(s *corev1.PodSpec) {
			s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway, MinDomains: ptr(int32(2))}}
		}, want: want(invalid, "spec.topologySpreadConstraints[0].minDomains")},
		{name: "spread whenUnsatisfiable", mutate: func(s *corev1.PodSpec) {
			s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "zone"}}
		}, want: want(required, "spec.topologySpreadConstraints[0].whenUnsatisfiable")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(&p.Spec)
			checkErrs(t, ValidatePod(p), tc.want)
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	base := func() *corev1.Pod {
		p := validPod()
		p.ResourceVersion = "10"
		p.UID = "uid-1"
		p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))}}
		p.Spec.ActiveDeadlineSeconds = ptr(int64(600))
		return p
	}
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{name: "no change", mutate: func(p *corev1.Pod) {}},
		{name: "image and labels", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "busybox:1.37"
			p.Labels["tier"] = "front"
		}},
		{name: "shorter deadline", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(60)) }},
		{name: "longer deadline", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(6000)) }, want: want(invalid, "spec.activeDeadlineSeconds")},
		{name: "removed deadline", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil }, want: want(invalid, "spec.activeDeadlineSeconds")},
		{name: "added toleration", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "x", Operator: corev1.TolerationOpExists})
		}},
		{name: "shorter toleration seconds", mutate: func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(10)) }},
		{name: "removed toleration", mutate: func(p *corev1.Pod) { p.Spec.Tolerations = nil }, want: want(forbidden, "spec.tolerations")},
		{name: "changed restart policy", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }, want: want(forbidden, "spec")},
		{name: "changed env", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}} }, want: want(forbidden, "spec")},
		{name: "added container", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, validContainer("two"))
		}, want: want(forbidden, "spec")},
		{name: "empty image", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, want: want(required, "spec.containers[0].image")},
		{name: "changed name", mutate: func(p *corev1.Pod) { p.Name = "other" }, want: want(invalid, "metadata.name")},
		{name: "changed uid", mutate: func(p *corev1.Pod) { p.UID = "uid-2" }, want: want(invalid, "metadata.uid")},
		{name: "no resourceVersion", mutate: func(p *corev1.Pod) { p.ResourceVersion = "" }, want: want(invalid, "metadata.resourceVersion")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			p := base()
			tc.mutate(p)
			checkErrs(t, ValidatePodUpdate(p, old), tc.want)
		})
	}
}

func TestValidatePodUpdateGated(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "1"
	old.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}, {Name: "example.com/b"}}
	old.Spec.NodeSelector = map[string]string{"disk": "ssd"}

	p := old.DeepCopy()
	p.Spec.SchedulingGates = p.Spec.SchedulingGates[:1]
	p.Spec.NodeSelector["zone"] = "a"
	checkErrs(t, ValidatePodUpdate(p, old), nil)

	p = old.DeepCopy()
	p.Spec.SchedulingGates = append(p.Spec.SchedulingGates, corev1.PodSchedulingGate{Name: "example.com/c"})
	checkErrs(t, ValidatePodUpdate(p, old), want(forbidden, "spec.schedulingGates[2]"))

	p = old.DeepCopy()
	p.Spec.NodeSelector = map[string]string{"zone": "a"}
	checkErrs(t, ValidatePodUpdate(p, old), want(forbidden, "spec"))
}

func TestValidatePodStatusUpdate(t *testing.T) {
	base := func() *corev1.Pod {
		p := validPod()
		p.ResourceVersion = "3"
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0.5", PodIPs: []corev1.PodIP{{IP: "10.42.0.5"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}
		return p
	}
	tests := []struct {
		name   string
		old    func(p *corev1.Pod)
		mutate func(p *corev1.Pod)
		want   []string
	}{
		{name: "running to succeeded", mutate: func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }},
		{name: "unknown phase", mutate: func(p *corev1.Pod) { p.Status.Phase = "Sleeping" }, want: want(notSupported, "status.phase")},
		{name: "leaving terminal phase", old: func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, mutate: func(p *corev1.Pod) {}, want: want(forbidden, "status.phase")},
		{name: "podIP mismatch", mutate: func(p *corev1.Pod) { p.Status.PodIP = "10.42.0.6" }, want: want(invalid, "status.podIP")},
		{name: "two IPv4 pod IPs", mutate: func(p *corev1.Pod) {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "10.42.0.7"})
		}, want: want(invalid, "status.podIPs")},
		{name: "bad pod IP", mutate: func(p *corev1.Pod) {
			p.Status.PodIP = ""
			p.Status.PodIPs = []corev1.PodIP{{IP: "nope"}}
		}, want: want(invalid, "status.podIPs[0].ip")},
		{name: "unknown container status", mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses[0].Name = "ghost" }, want: want(notFound, "status.containerStatuses[0].name")},
		{name: "terminated container restarted under Never", old: func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}
		}, mutate: func(p *corev1.Pod) {}, want: want(forbidden, "status.containerStatuses[0].state")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			if tc.old != nil {
				tc.old(old)
			}
			p := old.DeepCopy()
			p.Status.ContainerStatuses = base().Status.ContainerStatuses
			if tc.old != nil {
				p.Status.Phase = base().Status.Phase
			}
			tc.mutate(p)
			checkErrs(t, ValidatePodStatusUpdate(p, old), tc.want)
		})
	}
}

func TestValidateBindingAndEviction(t *testing.T) {
	checkErrs(t, ValidateBinding(&corev1.Binding{Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}), nil)
	checkErrs(t, ValidateBinding(&corev1.Binding{Target: corev1.ObjectReference{Name: "node-1"}}), nil)
	checkErrs(t, ValidateBinding(&corev1.Binding{Target: corev1.ObjectReference{Kind: "Pod", Name: ""}}),
		want(notSupported, "target.kind", required, "target.name"))
}
