package printers

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

func ptr[T any](v T) *T { return &v }

func objMeta(name string, created time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(created)}
}

func running(name string, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}}
}

func waiting(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(name, reason string, code, signal int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, Signal: signal}}}
}

func pod(name string, phase corev1.PodPhase, containers []string, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: objMeta(name, 10*time.Minute), Status: corev1.PodStatus{Phase: phase, ContainerStatuses: statuses}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: c + ":1"})
	}
	return p
}

func withInit(p *corev1.Pod, sidecar bool, statuses ...corev1.ContainerStatus) *corev1.Pod {
	for _, s := range statuses {
		c := corev1.Container{Name: s.Name}
		if sidecar {
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	}
	p.Status.InitContainerStatuses = statuses
	return p
}

func TestPodRows(t *testing.T) {
	crashing := running("web", true, 3)
	crashing.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: ago(5 * time.Minute)}
	olderCrash := running("log", true, 1)
	olderCrash.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: ago(time.Hour)}

	wide := pod("wide", corev1.PodRunning, []string{"web"}, running("web", true, 0))
	wide.Spec.NodeName, wide.Status.NominatedNodeName = "node-1", "node-2"
	wide.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.5"}, {IP: "fd00::5"}}
	wide.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "lb/ready"}, {ConditionType: "dns/ready"}}
	wide.Status.Conditions = []corev1.PodCondition{{Type: "lb/ready", Status: corev1.ConditionTrue}, {Type: "dns/ready", Status: corev1.ConditionFalse}}

	deleting := pod("deleting", corev1.PodRunning, []string{"web"}, running("web", true, 0))
	deleting.DeletionTimestamp = agoPtr(time.Second)
	lost := pod("lost", corev1.PodRunning, []string{"web"}, running("web", true, 0))
	lost.DeletionTimestamp, lost.Status.Reason = agoPtr(time.Second), "NodeLost"
	deletedDone := pod("done", corev1.PodSucceeded, []string{"web"}, terminated("web", "Completed", 0, 0))
	deletedDone.DeletionTimestamp = agoPtr(time.Second)

	gated := pod("gated", corev1.PodPending, []string{"web"})
	gated.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}

	evicted := pod("evicted", corev1.PodFailed, []string{"web"})
	evicted.Status.Reason = "Evicted"

	stillRunning := pod("partly", corev1.PodRunning, []string{"a", "b"}, terminated("a", "Completed", 0, 0), running("b", true, 0))
	stillRunning.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	notReady := pod("partly-unready", corev1.PodRunning, []string{"a", "b"}, terminated("a", "Completed", 0, 0), running("b", true, 0))

	initDone := withInit(pod("init-done", corev1.PodRunning, []string{"web"}, running("web", true, 0)), false, terminated("setup", "Completed", 0, 0))
	initDone.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}

	sidecar := corev1.ContainerStatus{Name: "proxy", Ready: true, Started: ptr(true), RestartCount: 2,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	sidecar.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: ago(2 * time.Minute)}
	withSidecar := withInit(pod("sidecar", corev1.PodRunning, []string{"web"}, running("web", true, 0)), true, sidecar)
	withSidecar.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}

	tests := []struct {
		name       string
		pod        *corev1.Pod
		want       []interface{}
		completion string // the row's Completed condition reason, if any
	}{
		{"running with restarts", pod("web", corev1.PodRunning, []string{"web", "log"}, crashing, olderCrash),
			[]interface{}{"web", "2/2", "Running", "4 (5m ago)", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"one of two ready", pod("half", corev1.PodRunning, []string{"web", "log"}, running("web", true, 0), running("log", false, 0)),
			[]interface{}{"half", "1/2", "Running", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"crash loop", pod("crash", corev1.PodRunning, []string{"web"}, waiting("web", "CrashLoopBackOff")),
			[]interface{}{"crash", "0/1", "CrashLoopBackOff", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"image pull", pod("pull", corev1.PodPending, []string{"web"}, waiting("web", "ErrImagePull")),
			[]interface{}{"pull", "0/1", "ErrImagePull", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"completed", pod("job-x", corev1.PodSucceeded, []string{"work"}, terminated("work", "Completed", 0, 0)),
			[]interface{}{"job-x", "0/1", "Completed", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, "Succeeded"},
		{"error", pod("job-y", corev1.PodFailed, []string{"work"}, terminated("work", "Error", 1, 0)),
			[]interface{}{"job-y", "0/1", "Error", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, "Failed"},
		{"killed by signal", pod("sig", corev1.PodFailed, []string{"work"}, terminated("work", "", 137, 9)),
			[]interface{}{"sig", "0/1", "Signal:9", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, "Failed"},
		{"exit code", pod("code", corev1.PodFailed, []string{"work"}, terminated("work", "", 3, 0)),
			[]interface{}{"code", "0/1", "ExitCode:3", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, "Failed"},
		{"evicted", evicted, []interface{}{"evicted", "0/1", "Evicted", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, "Failed"},
		{"terminating", deleting, []interface{}{"deleting", "1/1", "Terminating", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"node lost", lost, []interface{}{"lost", "1/1", "Unknown", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"deleted after success", deletedDone, []interface{}{"done", "0/1", "Completed", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, "Succeeded"},
		{"scheduling gated", gated, []interface{}{"gated", "0/1", "SchedulingGated", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"completed container, other running and ready", stillRunning, []interface{}{"partly", "1/2", "Running", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"completed container, other running, pod not ready", notReady, []interface{}{"partly-unready", "1/2", "NotReady", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"init running", withInit(pod("init", corev1.PodPending, []string{"web"}, waiting("web", "PodInitializing")), false, running("setup", false, 0)),
			[]interface{}{"init", "0/1", "Init:0/1", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"second init running", withInit(pod("init2", corev1.PodPending, []string{"web"}), false, terminated("a", "Completed", 0, 0), waiting("b", "PodInitializing")),
			[]interface{}{"init2", "0/1", "Init:1/2", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"init crash loop", withInit(pod("initcrash", corev1.PodPending, []string{"web"}), false, waiting("setup", "CrashLoopBackOff")),
			[]interface{}{"initcrash", "0/1", "Init:CrashLoopBackOff", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"init error", withInit(pod("initerr", corev1.PodFailed, []string{"web"}), false, terminated("setup", "Error", 1, 0)),
			[]interface{}{"initerr", "0/1", "Init:Error", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, "Failed"},
		{"init exit code", withInit(pod("initcode", corev1.PodPending, []string{"web"}), false, terminated("setup", "", 2, 0)),
			[]interface{}{"initcode", "0/1", "Init:ExitCode:2", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"init finished", initDone, []interface{}{"init-done", "1/1", "Running", "0", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"sidecar counts as a container", withSidecar, []interface{}{"sidecar", "2/2", "Running", "2 (2m ago)", "10m", "<none>", "<none>", "<none>", "<none>"}, ""},
		{"wide columns", wide, []interface{}{"wide", "1/1", "Running", "0", "10m", "10.42.0.5", "node-1", "node-2", "1/2"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := Table(tc.pod, now)
			if err != nil {
				t.Fatal(err)
			}
			row := table.Rows[0]
			if diff := cmp.Diff(tc.want, row.Cells); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
			var completion string
			for _, c := range row.Conditions {
				if c.Type == metav1.RowCompleted && c.Status == metav1.ConditionTrue {
					completion = c.Reason
				}
			}
			if completion != tc.completion {
				t.Errorf("completed condition %q, want %q", completion, tc.completion)
			}
			if row.Object.Raw != nil || row.Object.Object != nil {
				t.Error("row.Object is set; the apiserver fills it")
			}
		})
	}
}

func TestRows(t *testing.T) {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	template := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers:   []corev1.Container{{Name: "web", Image: "nginx:1"}, {Name: "log", Image: "busybox"}},
		NodeSelector: map[string]string{"disk": "ssd"},
	}}
	node := func(name string, ready corev1.ConditionStatus, labels map[string]string, unschedulable bool) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, CreationTimestamp: ago(72 * time.Hour)}}
		if ready != "" {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: ready}}
		}
		n.Spec.Unschedulable = unschedulable
		n.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian GNU/Linux 12", KernelVersion: "6.1.0", ContainerRuntimeVersion: "visor://0.1"}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"}}
		return n
	}
	bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "bare", CreationTimestamp: ago(time.Hour)}}
	svc := func(typ corev1.ServiceType, ports []corev1.ServicePort, external []string, lb ...string) *corev1.Service {
		s := &corev1.Service{ObjectMeta: objMeta("svc", 90*time.Second), Spec: corev1.ServiceSpec{Type: typ, ClusterIPs: []string{"10.43.0.10"},
			Ports: ports, ExternalIPs: external, Selector: map[string]string{"app": "web"}}}
		for _, a := range lb {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: a})
		}
		return s
	}
	web := []corev1.ServicePort{{Port: 80, Protocol: "TCP"}, {Port: 443, Protocol: "TCP", NodePort: 30443}}
	event := &corev1.Event{ObjectMeta: objMeta("web.1", time.Hour), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-1", FieldPath: "spec.containers{web}"},
		Reason: "BackOff", Message: "Back-off restarting failed container\n", Type: "Warning", Count: 12,
		FirstTimestamp: ago(time.Hour), LastTimestamp: ago(30 * time.Second), Source: corev1.EventSource{Component: "kubelet", Host: "node-1"}}
	seriesEvent := &eventsv1.Event{ObjectMeta: objMeta("web.2", time.Hour), Regarding: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
		Reason: "ScalingReplicaSet", Note: "Scaled up", Type: "Normal", EventTime: metav1.NewMicroTime(now.Add(-2 * time.Hour)),
		Series: &eventsv1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(now.Add(-5 * time.Minute))}, ReportingController: "deployment-controller"}
	job := func(name string, completions, parallelism *int32, succeeded int32, cond batchv1.JobConditionType, started, finished time.Duration) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: objMeta(name, time.Hour), Spec: batchv1.JobSpec{Completions: completions, Parallelism: parallelism, Selector: selector, Template: template}}
		j.Status.Succeeded = succeeded
		if started > 0 {
			j.Status.StartTime = agoPtr(started)
		}
		if finished > 0 {
			j.Status.CompletionTime = agoPtr(finished)
		}
		if cond != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
		}
		return j
	}
	deletedJob := job("deleted", ptr(int32(1)), nil, 0, "", time.Minute, 0)
	deletedJob.DeletionTimestamp = agoPtr(time.Second)
	storage := func(q string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(q)}
	}
	controllerRef := true
	revision := &appsv1.ControllerRevision{ObjectMeta: objMeta("web-5d8f", time.Hour), Revision: 3}
	revision.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: &controllerRef}}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: objMeta("web-abc", time.Hour), AddressType: discoveryv1.AddressTypeIPv4,
		Ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}, {Port: ptr(int32(9000))}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.1"}}, {Addresses: []string{"10.42.0.2", "10.42.0.3"}}, {Addresses: []string{"10.42.0.4"}}}}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: objMeta("web", time.Hour), Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MinReplicas: ptr(int32(2)), MaxReplicas: 10,
		Metrics: []autoscalingv2.MetricSpec{
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{AverageUtilization: ptr(int32(80))}}},
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{AverageValue: ptr(resource.MustParse("200Mi"))}}},
			{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{Target: autoscalingv2.MetricTarget{AverageValue: ptr(resource.MustParse("1k"))}}},
		}},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, CurrentMetrics: []autoscalingv2.MetricStatus{
			{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr(int32(40))}}},
		}},
	}

	tests := []struct {
		name string
		obj  runtime.Object
		want []interface{}
	}{
		{"deployment", &appsv1.Deployment{ObjectMeta: objMeta("web", 49*time.Hour), Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector, Template: template},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
			[]interface{}{"web", "2/3", int64(3), int64(2), "2d1h", "web,log", "nginx:1,busybox", "app=web"}},
		{"replica set", &appsv1.ReplicaSet{ObjectMeta: objMeta("web-5d8f", time.Hour), Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: selector, Template: template},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}},
			[]interface{}{"web-5d8f", int64(3), int64(3), int64(1), "60m", "web,log", "nginx:1,busybox", "app=web"}},
		{"stateful set", &appsv1.StatefulSet{ObjectMeta: objMeta("db", 2*time.Hour), Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: template},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 3}},
			[]interface{}{"db", "3/3", "120m", "web,log", "nginx:1,busybox"}},
		{"daemon set", &appsv1.DaemonSet{ObjectMeta: objMeta("agent", 10*24*time.Hour), Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}},
			[]interface{}{"agent", int64(3), int64(3), int64(2), int64(3), int64(2), "disk=ssd", "10d", "web,log", "nginx:1,busybox", "app=web"}},
		{"controller revision", revision, []interface{}{"web-5d8f", "statefulset.apps/web", int64(3), "60m"}},
		{"node ready, cordoned, roles", node("cp", corev1.ConditionTrue, map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "", "kubernetes.io/role": "edge"}, true),
			[]interface{}{"cp", "Ready,SchedulingDisabled", "control-plane,edge,worker", "3d", "v1.37.2", "192.168.1.10", "<none>", "Debian GNU/Linux 12", "6.1.0", "visor://0.1"}},
		{"node not ready", node("n2", corev1.ConditionFalse, nil, false),
			[]interface{}{"n2", "NotReady", "<none>", "3d", "v1.37.2", "192.168.1.10", "<none>", "Debian GNU/Linux 12", "6.1.0", "visor://0.1"}},
		{"node without status", bare, []interface{}{"bare", "Unknown", "<none>", "60m", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{"cluster IP service", svc(corev1.ServiceTypeClusterIP, web, nil),
			[]interface{}{"svc", "ClusterIP", "10.43.0.10", "<none>", "80/TCP,443:30443/TCP", "90s", "app=web"}},
		{"external IP service", svc(corev1.ServiceTypeNodePort, web, []string{"1.2.3.4"}),
			[]interface{}{"svc", "NodePort", "10.43.0.10", "1.2.3.4", "80/TCP,443:30443/TCP", "90s", "app=web"}},
		{"pending load balancer", svc(corev1.ServiceTypeLoadBalancer, nil, nil),
			[]interface{}{"svc", "LoadBalancer", "10.43.0.10", "<pending>", "<none>", "90s", "app=web"}},
		{"load balancer", svc(corev1.ServiceTypeLoadBalancer, web, []string{"5.6.7.8"}, "10.0.0.9", "10.0.0.1", "10.0.0.9"),
			[]interface{}{"svc", "LoadBalancer", "10.43.0.10", "10.0.0.1,10.0.0.9,5.6.7.8", "80/TCP,443:30443/TCP", "90s", "app=web"}},
		{"external name", &corev1.Service{ObjectMeta: objMeta("db", time.Minute), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
			[]interface{}{"db", "ExternalName", "<none>", "db.example.com", "<none>", "60s", "<none>"}},
		{"endpoints", &corev1.Endpoints{ObjectMeta: objMeta("web", time.Hour), Subsets: []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{{IP: "10.42.0.1"}, {IP: "10.42.0.2"}}, Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}},
			[]interface{}{"web", "10.42.0.1:80,10.42.0.2:80,10.42.0.1:443 + 1 more...", "60m"}},
		{"no endpoints", &corev1.Endpoints{ObjectMeta: objMeta("none", time.Hour)}, []interface{}{"none", "<none>", "60m"}},
		{"endpoint slice", slice, []interface{}{"web-abc", "IPv4", "80,metrics,* + 1 more...", "10.42.0.1,10.42.0.2,10.42.0.3 + 1 more...", "60m"}},
		{"namespace", &corev1.Namespace{ObjectMeta: objMeta("prod", 400*24*time.Hour), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
			[]interface{}{"prod", "Active", "400d"}},
		{"config map", &corev1.ConfigMap{ObjectMeta: objMeta("cfg", time.Hour), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": nil}},
			[]interface{}{"cfg", int64(2), "60m"}},
		{"secret", &corev1.Secret{ObjectMeta: objMeta("tls", time.Hour), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			[]interface{}{"tls", "kubernetes.io/tls", int64(2), "60m"}},
		{"service account", &corev1.ServiceAccount{ObjectMeta: objMeta("default", time.Hour)}, []interface{}{"default", int64(0), "60m"}},
		{"event", event, []interface{}{"30s", "Warning", "BackOff", "pod/web-1", "spec.containers{web}", "kubelet, node-1", "Back-off restarting failed container", "60m", int64(12), "web.1"}},
		{"events.k8s.io event with series", seriesEvent, []interface{}{"5m", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller", "Scaled up", "120m", int64(4), "web.2"}},
		{"persistent volume", &corev1.PersistentVolume{ObjectMeta: objMeta("pv1", time.Hour), Spec: corev1.PersistentVolumeSpec{Capacity: storage("10Gi"),
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce}, PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			ClaimRef: &corev1.ObjectReference{Namespace: "default", Name: "data"}, StorageClassName: "local", VolumeMode: ptr(corev1.PersistentVolumeFilesystem)},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}},
			[]interface{}{"pv1", "10Gi", "RWO,RWX", "Retain", "Bound", "default/data", "local", "<unset>", "", "60m", "Filesystem"}},
		{"bound claim", &corev1.PersistentVolumeClaim{ObjectMeta: objMeta("data", time.Hour), Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1", StorageClassName: ptr("local")},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: storage("10Gi"), AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}},
			[]interface{}{"data", "Bound", "pv1", "10Gi", "RWO", "local", "<unset>", "60m", "<unset>"}},
		{"pending claim", &corev1.PersistentVolumeClaim{ObjectMeta: objMeta("new", time.Minute), Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
			[]interface{}{"new", "Pending", "", "", "", "", "<unset>", "60s", "<unset>"}},
		{"resource quota", &corev1.ResourceQuota{ObjectMeta: objMeta("q", time.Hour), Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "limits.memory": resource.MustParse("8Gi")},
			Used: corev1.ResourceList{"pods": resource.MustParse("3"), "requests.cpu": resource.MustParse("500m")}}},
			[]interface{}{"q", "pods: 3/10, requests.cpu: 500m/4", "limits.memory: 0/8Gi", "60m"}},
		{"limit range", &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr", CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)))}},
			[]interface{}{"lr", "2026-01-02T02:04:05Z"}},
		{"complete job", job("done", ptr(int32(1)), nil, 1, batchv1.JobComplete, 10*time.Minute, 8*time.Minute),
			[]interface{}{"done", "Complete", "1/1", "2m", "60m", "web,log", "nginx:1,busybox", "app=web"}},
		{"running work queue job", job("queue", nil, ptr(int32(3)), 1, "", 90*time.Second, 0),
			[]interface{}{"queue", "Running", "1/1 of 3", "90s", "60m", "web,log", "nginx:1,busybox", "app=web"}},
		{"unstarted job", job("new", nil, nil, 0, "", 0, 0),
			[]interface{}{"new", "Running", "0/1", "", "60m", "web,log", "nginx:1,busybox", "app=web"}},
		{"failed job", job("failed", ptr(int32(2)), nil, 1, batchv1.JobFailed, time.Minute, 0),
			[]interface{}{"failed", "Failed", "1/2", "60s", "60m", "web,log", "nginx:1,busybox", "app=web"}},
		{"suspended job", job("suspended", ptr(int32(1)), nil, 0, batchv1.JobSuspended, 0, 0),
			[]interface{}{"suspended", "Suspended", "0/1", "", "60m", "web,log", "nginx:1,busybox", "app=web"}},
		{"terminating job", deletedJob, []interface{}{"deleted", "Terminating", "0/1", "60s", "60m", "web,log", "nginx:1,busybox", "app=web"}},
		{"cron job", &batchv1.CronJob{ObjectMeta: objMeta("nightly", 48*time.Hour), Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", Suspend: ptr(false),
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Selector: selector, Template: template}}},
			Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "nightly-1"}}, LastScheduleTime: agoPtr(9 * time.Hour)}},
			[]interface{}{"nightly", "0 3 * * *", "<none>", "False", int64(1), "9h", "2d", "web,log", "nginx:1,busybox", "app=web"}},
		{"cron job never run", &batchv1.CronJob{ObjectMeta: objMeta("c", time.Minute), Spec: batchv1.CronJobSpec{Schedule: "@hourly", TimeZone: ptr("Europe/Paris")}},
			[]interface{}{"c", "@hourly", "Europe/Paris", "<unset>", int64(0), "<none>", "60s", "", "", "<none>"}},
		{"lease", &coordinationv1.Lease{ObjectMeta: objMeta("node-1", time.Hour), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1")}},
			[]interface{}{"node-1", "node-1", "60m"}},
		{"role", &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))}},
			[]interface{}{"reader", "2026-01-02T03:04:05Z"}},
		{"role binding", &rbacv1.RoleBinding{ObjectMeta: objMeta("read", time.Hour), RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "reader"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "User", Name: "bob"}, {Kind: "Group", Name: "devs"}, {Kind: "ServiceAccount", Namespace: "ci", Name: "runner"}}},
			[]interface{}{"read", "Role/reader", "60m", "alice, bob", "devs", "ci/runner"}},
		{"cluster role binding", &rbacv1.ClusterRoleBinding{ObjectMeta: objMeta("admin", time.Hour), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: "Group", Name: "system:masters"}}},
			[]interface{}{"admin", "ClusterRole/cluster-admin", "60m", "", "system:masters", ""}},
		{"default storage class", &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", CreationTimestamp: ago(time.Hour),
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}, Provisioner: "podvisor.io/local",
			VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer), AllowVolumeExpansion: ptr(true)},
			[]interface{}{"local (default)", "podvisor.io/local", "Delete", "WaitForFirstConsumer", true, "60m"}},
		{"runtime class", &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "visor", CreationTimestamp: ago(time.Hour)}, Handler: "visor"},
			[]interface{}{"visor", "visor", "60m"}},
		{"hpa", hpa, []interface{}{"web", "Deployment/web", "cpu: 40%/80%, memory: <unknown>/200Mi + 1 more...", "2", int64(10), int64(3), "60m"}},
		{"pdb", &policyv1.PodDisruptionBudget{ObjectMeta: objMeta("web", time.Hour), Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromString("50%"))},
			Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}},
			[]interface{}{"web", "50%", "N/A", int64(1), "60m"}},
		{"scale", &autoscalingv1.Scale{ObjectMeta: objMeta("web", time.Hour), Spec: autoscalingv1.ScaleSpec{Replicas: 3}, Status: autoscalingv1.ScaleStatus{Replicas: 2}},
			[]interface{}{"web", int64(3), int64(2), "60m"}},
		{"status", &metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Message: `pods "x" not found`},
			[]interface{}{"Failure", "NotFound", `pods "x" not found`}},
		{"no creation time", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, []interface{}{"x", int64(0), "<unknown>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := Table(tc.obj, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(table.Rows))
			}
			if diff := cmp.Diff(tc.want, table.Rows[0].Cells); diff != "" {
				t.Errorf("cells (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTableMetadata(t *testing.T) {
	remaining := int64(7)
	list := &corev1.PodList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "token", RemainingItemCount: &remaining},
		Items:    []corev1.Pod{*pod("a", corev1.PodRunning, []string{"c"}), *pod("b", corev1.PodPending, []string{"c"})},
	}
	table, err := Table(list, now)
	if err != nil {
		t.Fatal(err)
	}
	if table.ResourceVersion != "42" || table.Continue != "token" || table.RemainingItemCount == nil || *table.RemainingItemCount != 7 {
		t.Errorf("list metadata %+v", table.ListMeta)
	}
	if len(table.Rows) != 2 || table.Rows[1].Cells[0] != "b" {
		t.Errorf("rows %v", table.Rows)
	}

	single := pod("a", corev1.PodRunning, []string{"c"})
	single.ResourceVersion = "17"
	if table, err = Table(single, now); err != nil || table.ResourceVersion != "17" {
		t.Errorf("single object: %v, resourceVersion %q", err, table.ResourceVersion)
	}

	empty, err := Table(&appsv1.DeploymentList{}, now)
	if err != nil || empty.Rows == nil || len(empty.Rows) != 0 || len(empty.ColumnDefinitions) == 0 {
		t.Errorf("empty list: %v %+v", err, empty)
	}
}

func TestUnsupported(t *testing.T) {
	for _, obj := range []runtime.Object{&corev1.PodTemplate{}, &corev1.ReplicationController{}, &metav1.List{}} {
		t.Run(fmt.Sprintf("%T", obj), func(t *testing.T) {
			if _, err := Table(obj, now); !errors.Is(err, ErrUnsupported) {
				t.Errorf("Table(%T) error %v, want ErrUnsupported", obj, err)
			}
		})
	}
}
