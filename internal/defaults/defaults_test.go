package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func p[T any](v T) *T { return &v }

// TestDefaults applies Object to each input and compares with the expected
// object; then applies it again and expects no change.
func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   runtime.Object
		want runtime.Object
	}{
		{
			name: "pull policy from tag",
			in: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "a", Image: "nginx"}, {Name: "b", Image: "nginx:latest"}, {Name: "c", Image: "nginx:1.27"},
				{Name: "d", Image: "localhost:5000/app"}, {Name: "e", Image: "app@sha256:0123"}, {Name: "f", Image: "app:v1@sha256:0123"},
				{Name: "g", Image: "nginx", ImagePullPolicy: corev1.PullNever},
			}}},
			want: &corev1.Pod{Spec: podSpecDefaults(corev1.PodSpec{Containers: []corev1.Container{
				containerDefaults(corev1.Container{Name: "a", Image: "nginx", ImagePullPolicy: corev1.PullAlways}),
				containerDefaults(corev1.Container{Name: "b", Image: "nginx:latest", ImagePullPolicy: corev1.PullAlways}),
				containerDefaults(corev1.Container{Name: "c", Image: "nginx:1.27", ImagePullPolicy: corev1.PullIfNotPresent}),
				containerDefaults(corev1.Container{Name: "d", Image: "localhost:5000/app", ImagePullPolicy: corev1.PullAlways}),
				containerDefaults(corev1.Container{Name: "e", Image: "app@sha256:0123", ImagePullPolicy: corev1.PullIfNotPresent}),
				containerDefaults(corev1.Container{Name: "f", Image: "app:v1@sha256:0123", ImagePullPolicy: corev1.PullIfNotPresent}),
				containerDefaults(corev1.Container{Name: "g", Image: "nginx", ImagePullPolicy: corev1.PullNever}),
			}}, true)},
		},
		{
			name: "pod explicit values kept",
			in: &corev1.Pod{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, DNSPolicy: corev1.DNSDefault, SchedulerName: "custom",
				TerminationGracePeriodSeconds: p(int64(5)), EnableServiceLinks: p(false),
				SecurityContext: &corev1.PodSecurityContext{RunAsUser: p(int64(1000))},
				Containers: []corev1.Container{{Name: "a", Image: "x:1", ImagePullPolicy: corev1.PullAlways, TerminationMessagePath: "/tmp/msg",
					TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					Ports:                    []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("1")},
						Requests: corev1.ResourceList{"cpu": resource.MustParse("100m")}},
					LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTPS}},
						TimeoutSeconds: 5, PeriodSeconds: 30, SuccessThreshold: 1, FailureThreshold: 10}}},
				Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: p(int32(0o400))}}}},
			}},
			want: &corev1.Pod{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, DNSPolicy: corev1.DNSDefault, SchedulerName: "custom",
				TerminationGracePeriodSeconds: p(int64(5)), EnableServiceLinks: p(false),
				SecurityContext: &corev1.PodSecurityContext{RunAsUser: p(int64(1000))},
				Containers: []corev1.Container{{Name: "a", Image: "x:1", ImagePullPolicy: corev1.PullAlways, TerminationMessagePath: "/tmp/msg",
					TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					Ports:                    []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("1")},
						Requests: corev1.ResourceList{"cpu": resource.MustParse("100m")}},
					LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/hz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTPS}},
						TimeoutSeconds: 5, PeriodSeconds: 30, SuccessThreshold: 1, FailureThreshold: 10}}},
				Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: p(int32(0o400))}}}},
			}},
		},
		{
			name: "host network ports and grpc probe",
			in: &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "a", Image: "x:1",
				Ports:          []corev1.ContainerPort{{ContainerPort: 9100}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}},
				Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
			}}}},
			want: &corev1.Pod{Spec: podSpecDefaults(corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{containerDefaults(corev1.Container{Name: "a", Image: "x:1",
				ImagePullPolicy: corev1.PullIfNotPresent,
				Ports:           []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100, Protocol: corev1.ProtocolTCP}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090, Service: p("")}},
					TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: corev1.URISchemeHTTP}}},
			})}}, true)},
		},
		{
			name: "pod-level resources",
			in: &corev1.Pod{Spec: corev1.PodSpec{
				Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")}},
				Containers: []corev1.Container{
					{Name: "a", Image: "x:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("100m")}}},
					{Name: "b", Image: "x:1", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("200m")}}},
				},
			}},
			want: &corev1.Pod{Spec: podSpecDefaults(corev1.PodSpec{
				Resources: &corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")},
					Requests: corev1.ResourceList{"cpu": resource.MustParse("300m"), "memory": resource.MustParse("1Gi")},
				},
				Containers: []corev1.Container{
					containerDefaults(corev1.Container{Name: "a", Image: "x:1", ImagePullPolicy: corev1.PullIfNotPresent, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("100m")}}}),
					containerDefaults(corev1.Container{Name: "b", Image: "x:1", ImagePullPolicy: corev1.PullIfNotPresent, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("200m")}}}),
				},
			}, true)},
		},
		{
			name: "resource quantities rounded to milli",
			in: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "x:1", ImagePullPolicy: corev1.PullIfNotPresent,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("0.0001")}}}}}},
			want: &corev1.Pod{Spec: podSpecDefaults(corev1.PodSpec{Containers: []corev1.Container{containerDefaults(corev1.Container{Name: "a", Image: "x:1", ImagePullPolicy: corev1.PullIfNotPresent,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("1m")}}})}}, true)},
		},
		{
			name: "service ClientIP and LoadBalancer",
			in: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP,
				Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}}},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}, {Hostname: "lb.example.com"}}}}},
			want: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: p(int32(10800))}},
				Ports:                 []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")}},
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: p(corev1.ServiceInternalTrafficPolicyCluster),
				AllocateLoadBalancerNodePorts: p(true), IPFamilyPolicy: p(corev1.IPFamilyPolicySingleStack)},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.1", IPMode: p(corev1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example.com"}}}}},
		},
		{
			name: "service ExternalName and headless without selector",
			in: &corev1.ServiceList{Items: []corev1.Service{
				{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
				{Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
			}},
			want: &corev1.ServiceList{Items: []corev1.Service{
				{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone}},
				{Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
					InternalTrafficPolicy: p(corev1.ServiceInternalTrafficPolicyCluster)}},
			}},
		},
		{
			name: "namespace",
			in:   &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{corev1.LabelMetadataName: "spoofed", "x": "y"}}},
			want: &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{corev1.LabelMetadataName: "team-a", "x": "y"}},
				Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		},
		{
			name: "secrets",
			in:   &corev1.SecretList{Items: []corev1.Secret{{}, {Type: corev1.SecretTypeTLS}}},
			want: &corev1.SecretList{Items: []corev1.Secret{{Type: corev1.SecretTypeOpaque}, {Type: corev1.SecretTypeTLS}}},
		},
		{
			name: "config map",
			in:   &corev1.ConfigMap{},
			want: &corev1.ConfigMap{Data: map[string]string{}},
		},
		{
			name: "persistent volume",
			in: &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}}}},
			want: &corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/srv", Type: p(corev1.HostPathUnset)}},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain, VolumeMode: p(corev1.PersistentVolumeFilesystem)},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}},
		},
		{
			name: "persistent volume claim block mode kept",
			in:   &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{VolumeMode: p(corev1.PersistentVolumeBlock)}},
			want: &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{VolumeMode: p(corev1.PersistentVolumeBlock)},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
		},
		{
			name: "endpoints",
			in:   &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}},
			want: &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}},
		},
		{
			name: "node allocatable",
			in:   &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("2")}}},
			want: &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("2")}, Allocatable: corev1.ResourceList{"cpu": resource.MustParse("2")}}},
		},
		{
			name: "limit range",
			in: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
				Max: corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")},
				Min: corev1.ResourceList{"memory": resource.MustParse("64Mi"), "ephemeral-storage": resource.MustParse("1Gi")}}}}},
			want: &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
				Max:            corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")},
				Min:            corev1.ResourceList{"memory": resource.MustParse("64Mi"), "ephemeral-storage": resource.MustParse("1Gi")},
				Default:        corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")},
				DefaultRequest: corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi"), "ephemeral-storage": resource.MustParse("1Gi")}}}}},
		},
		{
			name: "daemon set",
			in:   &appsv1.DaemonSet{},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxUnavailable: p(intstr.FromInt32(1)), MaxSurge: p(intstr.FromInt32(0))}},
				RevisionHistoryLimit: p(int32(10)), Template: corev1.PodTemplateSpec{Spec: podSpecDefaults(corev1.PodSpec{}, false)}}},
		},
		{
			name: "daemon set OnDelete",
			in:   &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}, RevisionHistoryLimit: p(int32(2))}},
			want: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
				RevisionHistoryLimit: p(int32(2)), Template: corev1.PodTemplateSpec{Spec: podSpecDefaults(corev1.PodSpec{}, false)}}},
		},
		{
			name: "deployment Recreate and explicit values",
			in: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: p(int32(0)), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				RevisionHistoryLimit: p(int32(0)), ProgressDeadlineSeconds: p(int32(60))}},
			want: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: p(int32(0)), Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				RevisionHistoryLimit: p(int32(0)), ProgressDeadlineSeconds: p(int32(60)), Template: corev1.PodTemplateSpec{Spec: podSpecDefaults(corev1.PodSpec{}, false)}}},
		},
		{
			name: "replica set",
			in:   &appsv1.ReplicaSet{},
			want: &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: p(int32(1)), Template: corev1.PodTemplateSpec{Spec: podSpecDefaults(corev1.PodSpec{}, false)}}},
		},
		{
			name: "stateful set OnDelete",
			in:   &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}, PodManagementPolicy: appsv1.ParallelPodManagement}},
			want: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
				PodManagementPolicy: appsv1.ParallelPodManagement, Replicas: p(int32(1)), RevisionHistoryLimit: p(int32(10)),
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
				Template:                             corev1.PodTemplateSpec{Spec: podSpecDefaults(corev1.PodSpec{}, false)}}},
		},
		{
			name: "job with parallelism only and failure policy",
			in: &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: p(int32(3)), PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}}}},
			want: &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: p(int32(3)), BackoffLimit: p(int32(6)), CompletionMode: p(batchv1.NonIndexedCompletion),
				Suspend: p(false), PodReplacementPolicy: p(batchv1.Failed),
				PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
					Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}}},
				Template: corev1.PodTemplateSpec{Spec: podSpecDefaults(corev1.PodSpec{}, false)}}},
		},
		{
			name: "job with per-index backoff",
			in: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"own": "label"}}, Spec: batchv1.JobSpec{Completions: p(int32(4)), BackoffLimitPerIndex: p(int32(1)),
				CompletionMode: p(batchv1.IndexedCompletion), Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tmpl": "label"}}}}},
			want: &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"own": "label"}}, Spec: batchv1.JobSpec{Completions: p(int32(4)), Parallelism: p(int32(1)),
				BackoffLimitPerIndex: p(int32(1)), BackoffLimit: p(int32(2147483647)), CompletionMode: p(batchv1.IndexedCompletion), Suspend: p(false),
				PodReplacementPolicy: p(batchv1.TerminatingOrFailed),
				Template:             corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tmpl": "label"}}, Spec: podSpecDefaults(corev1.PodSpec{}, false)}}},
		},
		{
			name: "cron job explicit values",
			in: &batchv1.CronJob{Spec: batchv1.CronJobSpec{ConcurrencyPolicy: batchv1.ForbidConcurrent, Suspend: p(true),
				SuccessfulJobsHistoryLimit: p(int32(0)), FailedJobsHistoryLimit: p(int32(0))}},
			want: &batchv1.CronJob{Spec: batchv1.CronJobSpec{ConcurrencyPolicy: batchv1.ForbidConcurrent, Suspend: p(true),
				SuccessfulJobsHistoryLimit: p(int32(0)), FailedJobsHistoryLimit: p(int32(0)),
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: podSpecDefaults(corev1.PodSpec{}, false)}}}}},
		},
		{
			name: "autoscaler without metrics",
			in:   &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5}},
			want: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, MinReplicas: p(int32(1)),
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: p(int32(80))}}}}}},
		},
		{
			name: "autoscaler behavior filled in",
			in: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: p(int32(2)), MaxReplicas: 5,
				Metrics:  []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType}},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: p(int32(60))}}}},
			want: &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: p(int32(2)), MaxReplicas: 5,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType}},
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: p(int32(0)), SelectPolicy: p(autoscalingv2.MaxChangePolicySelect),
						Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}, {Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
					ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: p(int32(60)), SelectPolicy: p(autoscalingv2.MaxChangePolicySelect),
						Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
				}}},
		},
		{
			name: "storage class",
			in:   &storagev1.StorageClass{Provisioner: "x"},
			want: &storagev1.StorageClass{Provisioner: "x", ReclaimPolicy: p(corev1.PersistentVolumeReclaimDelete), VolumeBindingMode: p(storagev1.VolumeBindingImmediate)},
		},
		{
			name: "endpoint slice",
			in:   &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: p(int32(80))}}},
			want: &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: p(int32(80)), Name: p(""), Protocol: p(corev1.ProtocolTCP)}}},
		},
		{
			name: "role binding subjects",
			in: &rbacv1.RoleBinding{RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"}, Subjects: []rbacv1.Subject{
				{Kind: rbacv1.UserKind, Name: "jane"}, {Kind: rbacv1.GroupKind, Name: "devs"}, {Kind: rbacv1.ServiceAccountKind, Name: "sa", Namespace: "ns"}}},
			want: &rbacv1.RoleBinding{RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "r"}, Subjects: []rbacv1.Subject{
				{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}, {Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"},
				{Kind: rbacv1.ServiceAccountKind, Name: "sa", Namespace: "ns"}}},
		},
		{
			name: "cluster role binding",
			in:   &rbacv1.ClusterRoleBinding{RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "jane"}}},
			want: &rbacv1.ClusterRoleBinding{RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.DeepCopyObject()
			Object(got)
			if diff := semanticDiff(tc.want, got); diff != "" {
				t.Errorf("defaults (-want +got):\n%s", diff)
			}
			again := got.DeepCopyObject()
			Object(again)
			if diff := semanticDiff(got, again); diff != "" {
				t.Errorf("not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

// podSpecDefaults adds the pod-spec-level defaults to spec; isPod adds the
// pod-only ones.
func podSpecDefaults(spec corev1.PodSpec, isPod bool) corev1.PodSpec {
	spec.RestartPolicy = corev1.RestartPolicyAlways
	spec.DNSPolicy = corev1.DNSClusterFirst
	spec.SchedulerName = corev1.DefaultSchedulerName
	spec.SecurityContext = &corev1.PodSecurityContext{}
	spec.TerminationGracePeriodSeconds = p(int64(30))
	if isPod {
		spec.EnableServiceLinks = p(true)
	}
	return spec
}

// containerDefaults adds the container defaults other than the pull policy.
func containerDefaults(c corev1.Container) corev1.Container {
	c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	return c
}

func TestVolumeDefaults(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "none"},
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		{Name: "hp", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x", Type: p(corev1.HostPathDirectory)}}},
		{Name: "eph", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}},
		{Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "tools:latest"}}},
		{Name: "rbd", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{}}},
		{Name: "iscsi", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{}}},
	}}}
	Pod(pod)
	v := pod.Spec.Volumes
	checks := []struct {
		name string
		ok   bool
	}{
		{"no source becomes emptyDir", v[0].EmptyDir != nil},
		{"configMap mode 0644", v[1].ConfigMap.DefaultMode != nil && *v[1].ConfigMap.DefaultMode == 0o644},
		{"secret mode 0644", v[2].Secret.DefaultMode != nil && *v[2].Secret.DefaultMode == 0o644},
		{"hostPath explicit type kept", *v[3].HostPath.Type == corev1.HostPathDirectory},
		{"ephemeral claim Filesystem", *v[4].Ephemeral.VolumeClaimTemplate.Spec.VolumeMode == corev1.PersistentVolumeFilesystem},
		{"image pull Always for latest", v[5].Image.PullPolicy == corev1.PullAlways},
		{"rbd pool/user/keyring", v[6].RBD.RBDPool == "rbd" && v[6].RBD.RadosUser == "admin" && v[6].RBD.Keyring == "/etc/ceph/keyring"},
		{"iscsi interface", v[7].ISCSI.ISCSIInterface == "default"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: got %+v", c.name, v)
		}
	}
}

func TestCreateTimeSteps(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/x"}}}
	NamespaceOnCreate(ns)
	NamespaceOnCreate(ns)
	if got := ns.Spec.Finalizers; len(got) != 2 || got[1] != corev1.FinalizerKubernetes {
		t.Errorf("finalizers = %v, want [example.com/x kubernetes]", got)
	}
	// Defaults never put the finalizer back once the namespace controller
	// removed it.
	ns.Spec.Finalizers = nil
	Namespace(ns)
	if len(ns.Spec.Finalizers) != 0 {
		t.Errorf("Namespace re-added finalizers %v", ns.Spec.Finalizers)
	}

	manual := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "m", UID: "u"}, Spec: batchv1.JobSpec{ManualSelector: p(true),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "m"}}}}
	before := manual.DeepCopy()
	JobSelector(manual)
	if diff := semanticDiff(before, manual); diff != "" {
		t.Errorf("JobSelector changed a manual-selector job:\n%s", diff)
	}

	own := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", UID: "u1", Labels: map[string]string{"team": "a"}},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job-name": "custom"}}}}}
	JobSelector(own)
	if got := own.Labels; len(got) != 1 || got["team"] != "a" {
		t.Errorf("job labels = %v, want its own", got)
	}
	wantTmpl := map[string]string{"job-name": "custom", batchv1.JobNameLabel: "j", "controller-uid": "u1", batchv1.ControllerUidLabel: "u1"}
	if diff := semanticDiff(&corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: wantTmpl}}, &corev1.PodTemplateSpec{ObjectMeta: own.Spec.Template.ObjectMeta}); diff != "" {
		t.Errorf("template labels (-want +got):\n%s", diff)
	}
}

func TestObjectUnknownType(t *testing.T) {
	if Object(&metav1.Status{}) {
		t.Errorf("Object claimed to know metav1.Status")
	}
	if !Object(&corev1.ServiceAccount{}) {
		t.Errorf("Object does not know ServiceAccount")
	}
}
