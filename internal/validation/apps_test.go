package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       validPodSpec(),
	}
}

func validDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr(intstr.FromString("25%")), MaxSurge: ptr(intstr.FromString("25%")),
			}},
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
	}
}

func TestValidateDeployment(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []string
	}{
		{name: "valid", mutate: func(d *appsv1.Deployment) {}},
		{name: "template image may be empty", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }},
		{name: "recreate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) }, want: want(invalid, "spec.replicas")},
		{name: "no selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil }, want: want(required, "spec.selector")},
		{name: "empty selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, want: want(invalid, "spec.selector")},
		{name: "selector does not match", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "api"}
		}, want: want(invalid, "spec.template.metadata.labels")},
		{name: "restart policy Never", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want: want(notSupported, "spec.template.spec.restartPolicy")},
		{name: "active deadline", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(10)) },
			want: want(forbidden, "spec.template.spec.activeDeadlineSeconds")},
		{name: "recreate with rolling update", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			want: want(forbidden, "spec.strategy.rollingUpdate")},
		{name: "unknown strategy", mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }, want: want(notSupported, "spec.strategy.type")},
		{name: "both zero", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(0))
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("0%"))
		}, want: want(invalid, "spec.strategy.rollingUpdate.maxUnavailable")},
		{name: "max unavailable over 100%", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromString("150%"))
		}, want: want(invalid, "spec.strategy.rollingUpdate.maxUnavailable")},
		{name: "max surge not a percent", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("lots"))
		}, want: want(invalid, "spec.strategy.rollingUpdate.maxSurge")},
		{name: "negative history", mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr(int32(-1)) }, want: want(invalid, "spec.revisionHistoryLimit")},
		{name: "negative min ready", mutate: func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 }, want: want(invalid, "spec.minReadySeconds")},
		{name: "progress deadline not above min ready", mutate: func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			want: want(invalid, "spec.progressDeadlineSeconds")},
		{name: "bad container in template", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "" },
			want: want(required, "spec.template.spec.containers[0].name")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := validDeployment()
			tc.mutate(d)
			checkErrs(t, ValidateDeployment(d), tc.want)
		})
	}
}

func TestValidateDeploymentUpdate(t *testing.T) {
	old := validDeployment()
	old.ResourceVersion = "7"
	d := old.DeepCopy()
	d.Spec.Replicas = ptr(int32(5))
	d.Spec.Template.Spec.Containers[0].Image = "busybox:1.37"
	checkErrs(t, ValidateDeploymentUpdate(d, old), nil)

	d = old.DeepCopy()
	d.Spec.Selector.MatchLabels["tier"] = "front"
	d.Spec.Template.Labels["tier"] = "front"
	checkErrs(t, ValidateDeploymentUpdate(d, old), want(invalid, "spec.selector"))
}

func TestValidateDeploymentStatusUpdate(t *testing.T) {
	old := validDeployment()
	old.ResourceVersion = "7"
	old.Status.CollisionCount = ptr(int32(2))
	d := old.DeepCopy()
	d.Status = appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, CollisionCount: ptr(int32(2))}
	checkErrs(t, ValidateDeploymentStatusUpdate(d, old), nil)
	d.Status = appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 2, UnavailableReplicas: -1, CollisionCount: ptr(int32(1))}
	checkErrs(t, ValidateDeploymentStatusUpdate(d, old), want(invalid, "status.updatedReplicas", invalid, "status.availableReplicas",
		invalid, "status.unavailableReplicas", invalid, "status.collisionCount"))
}

func TestValidateReplicaSet(t *testing.T) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "default"},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(int32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: validTemplate()},
	}
	checkErrs(t, ValidateReplicaSet(rs), nil)
	bad := rs.DeepCopy()
	bad.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
	checkErrs(t, ValidateReplicaSet(bad), want(invalid, "spec.selector.matchExpressions[0].operator"))

	rs.ResourceVersion = "1"
	up := rs.DeepCopy()
	up.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
	up.Spec.Template.Labels["x"] = "y"
	checkErrs(t, ValidateReplicaSetUpdate(up, rs), want(invalid, "spec.selector"))

	st := rs.DeepCopy()
	st.Status = appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}
	checkErrs(t, ValidateReplicaSetStatusUpdate(st, rs), want(invalid, "status.fullyLabeledReplicas"))
}

func validStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr(int32(3)),
			ServiceName:         "db",
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template:            validTemplate(),
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(int32(0))}},
			RevisionHistoryLimit: ptr(int32(10)),
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": resource.MustParse("1Gi")}}},
			}},
		},
	}
}

func TestValidateStatefulSet(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *appsv1.StatefulSet)
		want   []string
	}{
		{name: "valid", mutate: func(s *appsv1.StatefulSet) {}},
		{name: "mount of a claimed volume", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}},
		{name: "mount of an unknown volume", mutate: func(s *appsv1.StatefulSet) {
			s.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "logs", MountPath: "/logs"}}
		}, want: want(notFound, "spec.template.spec.containers[0].volumeMounts[0].name")},
		{name: "pod management", mutate: func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }, want: want(notSupported, "spec.podManagementPolicy")},
		{name: "update strategy", mutate: func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = "" }, want: want(required, "spec.updateStrategy.type")},
		{name: "OnDelete with rolling update", mutate: func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType },
			want: want(invalid, "spec.updateStrategy.rollingUpdate")},
		{name: "negative partition", mutate: func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(-1)) },
			want: want(invalid, "spec.updateStrategy.rollingUpdate.partition")},
		{name: "retention policy", mutate: func(s *appsv1.StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Keep" },
			want: want(notSupported, "spec.persistentVolumeClaimRetentionPolicy.whenScaled")},
		{name: "claim template without storage", mutate: func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests = nil },
			want: want(required, "spec.volumeClaimTemplates[0].spec.resources[storage]")},
		{name: "claim template without access modes", mutate: func(s *appsv1.StatefulSet) { s.Spec.VolumeClaimTemplates[0].Spec.AccessModes = nil },
			want: want(required, "spec.volumeClaimTemplates[0].spec.accessModes")},
		{name: "negative ordinal start", mutate: func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: -1} },
			want: want(invalid, "spec.ordinals.start")},
		{name: "selector mismatch", mutate: func(s *appsv1.StatefulSet) { s.Spec.Template.Labels = map[string]string{"app": "x"} },
			want: want(invalid, "spec.template.metadata.labels")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validStatefulSet()
			tc.mutate(s)
			checkErrs(t, ValidateStatefulSet(s), tc.want)
		})
	}
}

func TestValidateStatefulSetUpdate(t *testing.T) {
	old := validStatefulSet()
	old.ResourceVersion = "4"
	s := old.DeepCopy()
	s.Spec.Replicas = ptr(int32(5))
	s.Spec.Template.Spec.Containers[0].Image = "busybox:1.37"
	s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr(int32(2))
	checkErrs(t, ValidateStatefulSetUpdate(s, old), nil)

	s = old.DeepCopy()
	s.Spec.ServiceName = "other"
	checkErrs(t, ValidateStatefulSetUpdate(s, old), want(forbidden, "spec"))

	s = old.DeepCopy()
	s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests["storage"] = resource.MustParse("2Gi")
	checkErrs(t, ValidateStatefulSetUpdate(s, old), want(forbidden, "spec"))

	st := old.DeepCopy()
	st.Status = appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 3, AvailableReplicas: 1}
	checkErrs(t, ValidateStatefulSetStatusUpdate(st, old), want(invalid, "status.readyReplicas"))
}

func validDaemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{
				MaxUnavailable: ptr(intstr.FromInt32(1)), MaxSurge: ptr(intstr.FromInt32(0))}},
			RevisionHistoryLimit: ptr(int32(10)),
		},
	}
}

func TestValidateDaemonSet(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.DaemonSet)
		want   []string
	}{
		{name: "valid", mutate: func(d *appsv1.DaemonSet) {}},
		{name: "surge instead", mutate: func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(0))
			d.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr(intstr.FromString("10%"))
		}},
		{name: "both zero", mutate: func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(0))
		},
			want: want(invalid, "spec.updateStrategy.rollingUpdate.maxUnavailable")},
		{name: "both set", mutate: func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.RollingUpdate.MaxSurge = ptr(intstr.FromInt32(1)) },
			want: want(invalid, "spec.updateStrategy.rollingUpdate.maxSurge")},
		{name: "strategy", mutate: func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.Type = "Rolling" }, want: want(notSupported, "spec.updateStrategy.type")},
		{name: "no selector", mutate: func(d *appsv1.DaemonSet) { d.Spec.Selector = nil }, want: want(required, "spec.selector")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := validDaemonSet()
			tc.mutate(d)
			checkErrs(t, ValidateDaemonSet(d), tc.want)
		})
	}
	old := validDaemonSet()
	old.ResourceVersion = "1"
	up := old.DeepCopy()
	up.Spec.Selector.MatchLabels = map[string]string{"app": "web", "v": "2"}
	up.Spec.Template.Labels["v"] = "2"
	checkErrs(t, ValidateDaemonSetUpdate(up, old), want(invalid, "spec.selector"))
	st := old.DeepCopy()
	st.Status.NumberReady = -1
	checkErrs(t, ValidateDaemonSetStatusUpdate(st, old), want(invalid, "status.numberReady"))
}

func TestValidateScale(t *testing.T) {
	s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}
	checkErrs(t, ValidateScale(s), nil)
	s.Spec.Replicas = -1
	checkErrs(t, ValidateScale(s), want(invalid, "spec.replicas"))
}
