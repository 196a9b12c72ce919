package validation

import (
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validPV() *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{"storage": resource.MustParse("10Gi")},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			VolumeMode:                    ptr(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/pv-1", Type: ptr(corev1.HostPathUnset)}},
		},
	}
}

func TestValidatePersistentVolume(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(pv *corev1.PersistentVolume)
		want   []string
	}{
		{name: "valid", mutate: func(pv *corev1.PersistentVolume) {}},
		{name: "local with affinity", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disk1"}}
			pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}}}}}}
		}},
		{name: "local without affinity", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disk1"}}
		}, want: want(required, "spec.nodeAffinity")},
		{name: "no access modes", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil }, want: want(required, "spec.accessModes")},
		{name: "bad access mode", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadEverything"}
		},
			want: want(notSupported, "spec.accessModes")},
		{name: "RWOP with others", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadOnlyMany}
		}, want: want(forbidden, "spec.accessModes")},
		{name: "no capacity", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil }, want: want(required, "spec.capacity")},
		{name: "capacity other than storage", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.Capacity["cpu"] = resource.MustParse("1") },
			want: want(notSupported, "spec.capacity")},
		{name: "no source", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{} },
			want: want(required, "spec")},
		{name: "two sources", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.NFS = &corev1.NFSVolumeSource{Server: "nfs", Path: "/x"} },
			want: want(forbidden, "spec.nfs")},
		{name: "reclaim policy", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = "Shred" },
			want: want(notSupported, "spec.persistentVolumeReclaimPolicy")},
		{name: "volume mode", mutate: func(pv *corev1.PersistentVolume) { pv.Spec.VolumeMode = ptr(corev1.PersistentVolumeMode("Raw")) },
			want: want(notSupported, "spec.volumeMode")},
		{name: "recycle root", mutate: func(pv *corev1.PersistentVolume) {
			pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRecycle
			pv.Spec.HostPath.Path = "/"
		}, want: want(forbidden, "spec.persistentVolumeReclaimPolicy")},
		{name: "name with slash", mutate: func(pv *corev1.PersistentVolume) { pv.Name = "a/b" }, want: want(invalid, "metadata.name")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pv := validPV()
			tc.mutate(pv)
			checkErrs(t, ValidatePersistentVolume(pv), tc.want)
		})
	}
	old := validPV()
	old.ResourceVersion = "1"
	up := old.DeepCopy()
	up.Spec.HostPath.Path = "/srv/other"
	up.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	checkErrs(t, ValidatePersistentVolumeUpdate(up, old), want(forbidden, "spec.persistentvolumesource"))
	st := old.DeepCopy()
	st.Status.Phase = "Lost"
	checkErrs(t, ValidatePersistentVolumeStatusUpdate(st, old), want(notSupported, "status.phase"))
}

func validPVC() *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": resource.MustParse("1Gi")}},
			VolumeMode:  ptr(corev1.PersistentVolumeFilesystem),
		},
	}
}

func TestValidatePersistentVolumeClaim(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *corev1.PersistentVolumeClaim)
		want   []string
	}{
		{name: "valid", mutate: func(c *corev1.PersistentVolumeClaim) {}},
		{name: "no storage", mutate: func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }, want: want(required, "spec.resources[storage]")},
		{name: "zero storage", mutate: func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests["storage"] = resource.MustParse("0") },
			want: want(invalid, "spec.resources.requests[storage]")},
		{name: "storage class name", mutate: func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = ptr("Fast_SSD") },
			want: want(invalid, "spec.storageClassName")},
		{name: "selector", mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn}}}
		}, want: want(required, "spec.selector.matchExpressions[0].values")},
		{name: "data source kind", mutate: func(c *corev1.PersistentVolumeClaim) {
			c.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "Secret", Name: "x"}
		}, want: want(notSupported, "spec.dataSource")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validPVC()
			tc.mutate(c)
			checkErrs(t, ValidatePersistentVolumeClaim(c), tc.want)
		})
	}

	old := validPVC()
	old.ResourceVersion = "1"
	bind := old.DeepCopy()
	bind.Spec.VolumeName = "pv-1"
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(bind, old), nil)
	mode := old.DeepCopy()
	mode.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(mode, old), want(forbidden, "spec"))
	grow := old.DeepCopy()
	grow.Spec.Resources.Requests["storage"] = resource.MustParse("2Gi")
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(grow, old), want(forbidden, "spec"))
	noClass := old.DeepCopy()
	noClass.Spec.StorageClassName = nil
	gold, empty := "gold", ""
	retro := noClass.DeepCopy()
	retro.Spec.StorageClassName = &gold
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(retro, noClass), nil)
	retroEmpty := noClass.DeepCopy()
	retroEmpty.Spec.StorageClassName = &empty
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(retroEmpty, noClass), want(forbidden, "spec"))
	silver := old.DeepCopy()
	silver.Spec.StorageClassName = ptr("silver")
	change := silver.DeepCopy()
	change.Spec.StorageClassName = &gold
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(change, silver), want(forbidden, "spec"))

	bound := old.DeepCopy()
	bound.Spec.VolumeName = "pv-1"
	bound.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{"storage": resource.MustParse("1Gi")}}
	grow = bound.DeepCopy()
	grow.Spec.Resources.Requests["storage"] = resource.MustParse("2Gi")
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(grow, bound), nil)
	shrink := bound.DeepCopy()
	shrink.Spec.Resources.Requests["storage"] = resource.MustParse("500Mi")
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(shrink, bound), want(forbidden, "spec.resources.requests.storage"))
	rebind := bound.DeepCopy()
	rebind.Spec.VolumeName = "pv-2"
	checkErrs(t, ValidatePersistentVolumeClaimUpdate(rebind, bound), want(forbidden, "spec"))

	st := bound.DeepCopy()
	st.Status.Phase = "Gone"
	checkErrs(t, ValidatePersistentVolumeClaimStatusUpdate(st, bound), want(notSupported, "status.phase"))
}

func TestValidateResourceQuota(t *testing.T) {
	q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "default"}, Spec: corev1.ResourceQuotaSpec{
		Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "requests.cpu": resource.MustParse("4"), "count/deployments.apps": resource.MustParse("5"),
			"requests.example.com/gpu": resource.MustParse("2")},
		Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeNotTerminating},
	}}
	checkErrs(t, ValidateResourceQuota(q), nil)
	bad := q.DeepCopy()
	bad.Spec.Hard["widgets"] = resource.MustParse("1")
	bad.Spec.Hard["pods"] = resource.MustParse("-1")
	bad.Spec.Scopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, "Sometimes"}
	checkErrs(t, ValidateResourceQuota(bad), want(invalid, "spec.hard[widgets]", invalid, "spec.hard[pods]", notSupported, "spec.scopes[2]", invalid, "spec.scopes"))
	sel := q.DeepCopy()
	sel.Spec.Scopes = nil
	sel.Spec.ScopeSelector = &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
		{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn},
		{ScopeName: corev1.ResourceQuotaScopeBestEffort, Operator: corev1.ScopeSelectorOpIn, Values: []string{"x"}},
	}}
	checkErrs(t, ValidateResourceQuota(sel), want(required, "spec.scopeSelector.matchExpressions[0].values", invalid, "spec.scopeSelector.matchExpressions[1].operator"))

	q.ResourceVersion = "1"
	up := q.DeepCopy()
	up.Spec.Scopes = nil
	checkErrs(t, ValidateResourceQuotaUpdate(up, q), want(invalid, "spec.scopes"))
	st := q.DeepCopy()
	st.Status.Used = corev1.ResourceList{"pods": resource.MustParse("-1")}
	checkErrs(t, ValidateResourceQuotaStatusUpdate(st, q), want(invalid, "status.used[pods]"))
}

func TestValidateLimitRange(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "limits", Namespace: "default"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:           corev1.LimitTypeContainer,
		Min:            corev1.ResourceList{"cpu": resource.MustParse("100m")},
		Max:            corev1.ResourceList{"cpu": resource.MustParse("2")},
		Default:        corev1.ResourceList{"cpu": resource.MustParse("1")},
		DefaultRequest: corev1.ResourceList{"cpu": resource.MustParse("500m")},
	}, {
		Type: corev1.LimitTypePersistentVolumeClaim, Max: corev1.ResourceList{"storage": resource.MustParse("10Gi")},
	}}}}
	checkErrs(t, ValidateLimitRange(lr), nil)
	tests := []struct {
		name   string
		mutate func(l *corev1.LimitRange)
		want   []string
	}{
		{name: "min above max", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Min["cpu"] = resource.MustParse("3") },
			want: want(invalid, "spec.limits[0].min[cpu]", invalid, "spec.limits[0].defaultRequest[cpu]", invalid, "spec.limits[0].default[cpu]")},
		{name: "default above max", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].Default["cpu"] = resource.MustParse("4") },
			want: want(invalid, "spec.limits[0].default[cpu]")},
		{name: "default request above default", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[0].DefaultRequest["cpu"] = resource.MustParse("1500m") },
			want: want(invalid, "spec.limits[0].defaultRequest[cpu]")},
		{name: "ratio below one", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[0].MaxLimitRequestRatio = corev1.ResourceList{"cpu": resource.MustParse("500m")}
		}, want: want(invalid, "spec.limits[0].maxLimitRequestRatio[cpu]")},
		{name: "duplicate type", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[1].Type = corev1.LimitTypeContainer },
			want: want(duplicate, "spec.limits[1].type")},
		{name: "pod with default", mutate: func(l *corev1.LimitRange) {
			l.Spec.Limits[1] = corev1.LimitRangeItem{Type: corev1.LimitTypePod, Default: corev1.ResourceList{"cpu": resource.MustParse("1")}}
		}, want: want(forbidden, "spec.limits[1].default")},
		{name: "unknown type", mutate: func(l *corev1.LimitRange) { l.Spec.Limits[1].Type = "Node" }, want: want(notSupported, "spec.limits[1].type")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := lr.DeepCopy()
			tc.mutate(l)
			checkErrs(t, ValidateLimitRange(l), tc.want)
		})
	}
}

func TestValidateLease(t *testing.T) {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1"), LeaseDurationSeconds: ptr(int32(40))}}
	checkErrs(t, ValidateLease(l), nil)
	bad := l.DeepCopy()
	bad.Spec.LeaseDurationSeconds = ptr(int32(0))
	bad.Spec.LeaseTransitions = ptr(int32(-1))
	bad.Spec.PreferredHolder = ptr("x")
	checkErrs(t, ValidateLease(bad), want(invalid, "spec.leaseDurationSeconds", invalid, "spec.leaseTransitions", forbidden, "spec.preferredHolder"))
	l.ResourceVersion = "1"
	up := l.DeepCopy()
	up.Spec.HolderIdentity = ptr("node-2")
	checkErrs(t, ValidateLeaseUpdate(up, l), nil)
}

func TestValidateRBAC(t *testing.T) {
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader", Namespace: "default"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}}}
	checkErrs(t, ValidateRole(role), nil)
	badRole := role.DeepCopy()
	badRole.Rules = append(badRole.Rules, rbacv1.PolicyRule{Resources: []string{"pods"}}, rbacv1.PolicyRule{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}})
	checkErrs(t, ValidateRole(badRole), want(required, "rules[1].verbs", required, "rules[1].apiGroups", invalid, "rules[2].nonResourceURLs"))

	cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:health"}, Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}}}}
	checkErrs(t, ValidateClusterRole(cr), nil)
	agg := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}, AggregationRule: &rbacv1.AggregationRule{}}
	checkErrs(t, ValidateClusterRole(agg), want(required, "aggregationRule.clusterRoleSelectors"))
	agg.AggregationRule.ClusterRoleSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-monitoring": "true"}}}
	checkErrs(t, ValidateClusterRole(agg), nil)
	mixed := cr.DeepCopy()
	mixed.Rules[0].Resources = []string{"pods"}
	checkErrs(t, ValidateClusterRole(mixed), want(invalid, "rules[0].nonResourceURLs"))

	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read-pods", Namespace: "default"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"},
			{Kind: rbacv1.ServiceAccountKind, Name: "default"}}}
	checkErrs(t, ValidateRoleBinding(rb), nil)
	badRB := rb.DeepCopy()
	badRB.RoleRef.Kind = "Policy"
	badRB.Subjects = append(badRB.Subjects, rbacv1.Subject{Kind: "Robot", Name: "r"}, rbacv1.Subject{Kind: rbacv1.GroupKind, Name: "devs"})
	checkErrs(t, ValidateRoleBinding(badRB), want(notSupported, "roleRef.kind", notSupported, "subjects[2].kind", notSupported, "subjects[3].apiGroup"))
	rb.ResourceVersion = "1"
	up := rb.DeepCopy()
	up.RoleRef.Name = "pod-writer"
	checkErrs(t, ValidateRoleBindingUpdate(up, rb), want(invalid, "roleRef"))

	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "admins"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "admin"}}}
	checkErrs(t, ValidateClusterRoleBinding(crb), want(required, "subjects[0].namespace"))
	crb.Subjects[0].Namespace = "kube-system"
	checkErrs(t, ValidateClusterRoleBinding(crb), nil)
	crb.RoleRef.Kind = "Role"
	checkErrs(t, ValidateClusterRoleBinding(crb), want(notSupported, "roleRef.kind"))
	crb.RoleRef.Kind = "ClusterRole"
	crb.ResourceVersion = "1"
	up2 := crb.DeepCopy()
	up2.RoleRef.Name = "view"
	checkErrs(t, ValidateClusterRoleBindingUpdate(up2, crb), want(invalid, "roleRef"))
}

func TestValidateStorageClass(t *testing.T) {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, Provisioner: "podvisor.io/local-path",
		ReclaimPolicy: ptr(corev1.PersistentVolumeReclaimDelete), VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer),
		Parameters: map[string]string{"path": "/var/lib/podvisor/storage"}}
	checkErrs(t, ValidateStorageClass(sc), nil)
	bad := sc.DeepCopy()
	bad.Provisioner = ""
	bad.ReclaimPolicy = ptr(corev1.PersistentVolumeReclaimRecycle)
	bad.VolumeBindingMode = nil
	bad.AllowedTopologies = []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{Key: "zone"}}}}
	checkErrs(t, ValidateStorageClass(bad), want(required, "provisioner", notSupported, "reclaimPolicy", required, "volumeBindingMode",
		required, "allowedTopologies[0].matchLabelExpressions[0].values"))
	sc.ResourceVersion = "1"
	up := sc.DeepCopy()
	up.Parameters["path"] = "/elsewhere"
	up.VolumeBindingMode = ptr(storagev1.VolumeBindingImmediate)
	checkErrs(t, ValidateStorageClassUpdate(up, sc), want(forbidden, "parameters", invalid, "volumeBindingMode"))
}

func TestValidateRuntimeClass(t *testing.T) {
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "visor"}, Handler: "visor",
		Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{"memory": resource.MustParse("64Mi")}}}
	checkErrs(t, ValidateRuntimeClass(rc), nil)
	bad := rc.DeepCopy()
	bad.Handler = "Visor.Sandbox"
	bad.Overhead.PodFixed["memory"] = resource.MustParse("-1")
	bad.Scheduling = &nodev1.Scheduling{Tolerations: []corev1.Toleration{{Key: "k", Operator: "Maybe"}}}
	checkErrs(t, ValidateRuntimeClass(bad), want(invalid, "handler", invalid, "overhead.podFixed.limits[memory]", notSupported, "scheduling.tolerations[0].operator"))
	rc.ResourceVersion = "1"
	up := rc.DeepCopy()
	up.Handler = "runc"
	checkErrs(t, ValidateRuntimeClassUpdate(up, rc), want(invalid, "handler"))
}

func validHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr(int32(1)), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(80))}}}},
		},
	}
}

func TestValidateHorizontalPodAutoscaler(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(h *autoscalingv2.HorizontalPodAutoscaler)
		want   []string
	}{
		{name: "valid", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {}},
		{name: "behavior", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptr(int32(300)), SelectPolicy: ptr(autoscalingv2.MinChangePolicySelect),
				Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 1, PeriodSeconds: 60}}}}
		}},
		{name: "min zero", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr(int32(0)) }, want: want(invalid, "spec.minReplicas")},
		{name: "max below min", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MinReplicas = ptr(int32(5))
			h.Spec.MaxReplicas = 3
		},
			want: want(invalid, "spec.maxReplicas")},
		{name: "no target", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{}
		},
			want: want(required, "spec.scaleTargetRef.kind", required, "spec.scaleTargetRef.name")},
		{name: "metric source mismatch", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
		},
			want: want(forbidden, "spec.metrics[0].resource", required, "spec.metrics[0].pods")},
		{name: "resource target value", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target = autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: ptr(resource.MustParse("1"))}
		}, want: want(forbidden, "spec.metrics[0].resource.target.value", required, "spec.metrics[0].resource.target.averageUtilization")},
		{name: "utilization zero", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target.AverageUtilization = ptr(int32(0))
		},
			want: want(invalid, "spec.metrics[0].resource.target.averageUtilization")},
		{name: "bad policy", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: ptr(int32(4000)),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: "Nodes", Value: 0, PeriodSeconds: 0}}}}
		}, want: want(invalid, "spec.behavior.scaleUp.stabilizationWindowSeconds", notSupported, "spec.behavior.scaleUp.policies[0].type",
			invalid, "spec.behavior.scaleUp.policies[0].value", invalid, "spec.behavior.scaleUp.policies[0].periodSeconds")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := validHPA()
			tc.mutate(h)
			checkErrs(t, ValidateHorizontalPodAutoscaler(h), tc.want)
		})
	}
	old := validHPA()
	old.ResourceVersion = "1"
	st := old.DeepCopy()
	st.Status.DesiredReplicas = -1
	checkErrs(t, ValidateHorizontalPodAutoscalerStatusUpdate(st, old), want(invalid, "status.desiredReplicas"))
	checkErrs(t, ValidateHorizontalPodAutoscalerUpdate(old.DeepCopy(), old), nil)
}

func TestValidatePodDisruptionBudget(t *testing.T) {
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromString("50%")), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	checkErrs(t, ValidatePodDisruptionBudget(pdb), nil)
	bad := pdb.DeepCopy()
	bad.Spec.MaxUnavailable = ptr(intstr.FromInt32(-1))
	bad.Spec.UnhealthyPodEvictionPolicy = ptr(policyv1.UnhealthyPodEvictionPolicyType("Never"))
	checkErrs(t, ValidatePodDisruptionBudget(bad), want(invalid, "spec", invalid, "spec.maxUnavailable", notSupported, "spec.unhealthyPodEvictionPolicy"))
	pct := pdb.DeepCopy()
	pct.Spec.MinAvailable = ptr(intstr.FromString("120%"))
	checkErrs(t, ValidatePodDisruptionBudget(pct), want(invalid, "spec.minAvailable"))
	pdb.ResourceVersion = "1"
	up := pdb.DeepCopy()
	up.Spec.MinAvailable = ptr(intstr.FromInt32(2))
	checkErrs(t, ValidatePodDisruptionBudgetUpdate(up, pdb), nil)
	st := pdb.DeepCopy()
	st.Status.DisruptionsAllowed = -1
	checkErrs(t, ValidatePodDisruptionBudgetStatusUpdate(st, pdb), want(invalid, "status.disruptionsAllowed"))
}

func TestValidateReviews(t *testing.T) {
	ra := &authorizationv1.ResourceAttributes{Namespace: "default", Verb: "get", Resource: "pods"}
	checkErrs(t, ValidateSubjectAccessReview(&authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: ra}}), nil)
	checkErrs(t, ValidateSubjectAccessReview(&authorizationv1.SubjectAccessReview{}), want(required, "spec.resourceAttributes", invalid, "spec.user"))
	checkErrs(t, ValidateSelfSubjectAccessReview(&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: ra, NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/healthz", Verb: "get"}}}),
		want(invalid, "spec.nonResourceAttributes"))
	lsar := &authorizationv1.LocalSubjectAccessReview{ObjectMeta: metav1.ObjectMeta{Namespace: "other"},
		Spec: authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: ra}}
	checkErrs(t, ValidateLocalSubjectAccessReview(lsar), want(invalid, "spec.resourceAttributes.namespace"))
	checkErrs(t, ValidateSelfSubjectRulesReview(&authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "Bad"}}),
		want(invalid, "spec.namespace"))
	checkErrs(t, ValidateTokenReview(&authenticationv1.TokenReview{}), want(required, "spec.token"))
	checkErrs(t, ValidateTokenReview(&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "abc"}}), nil)
}
