package validation

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedPodManagement      = []appsv1.PodManagementPolicyType{appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement}
	supportedStatefulStrategies = []appsv1.StatefulSetUpdateStrategyType{appsv1.OnDeleteStatefulSetStrategyType,
		appsv1.RollingUpdateStatefulSetStrategyType}
	supportedRetentionPolicies = []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		appsv1.RetainPersistentVolumeClaimRetentionPolicyType}
)

// ValidateStatefulSet checks a stateful set on create.
func ValidateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	errs := ValidateObjectMeta(&ss.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateStatefulSetSpec(&ss.Spec, field.NewPath("spec"))...)
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, sp *field.Path) field.ErrorList {
	errs := validateEnum(spec.PodManagementPolicy, true, supportedPodManagement, sp.Child("podManagementPolicy"))
	up := sp.Child("updateStrategy")
	errs = append(errs, validateEnum(spec.UpdateStrategy.Type, true, supportedStatefulStrategies, up.Child("type"))...)
	switch spec.UpdateStrategy.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(up.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			rp := up.Child("rollingUpdate")
			errs = append(errs, validateNonnegativePtr(ru.Partition, rp.Child("partition"))...)
			if ru.MaxUnavailable != nil {
				errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, true, rp.Child("maxUnavailable"))...)
				if isZeroIntOrPercent(ru.MaxUnavailable) {
					errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "must be greater than 0"))
				}
			}
		}
	}
	if pol := spec.PersistentVolumeClaimRetentionPolicy; pol != nil {
		pp := sp.Child("persistentVolumeClaimRetentionPolicy")
		errs = append(errs, validateEnum(pol.WhenDeleted, true, supportedRetentionPolicies, pp.Child("whenDeleted"))...)
		errs = append(errs, validateEnum(pol.WhenScaled, true, supportedRetentionPolicies, pp.Child("whenScaled"))...)
	}
	if spec.ServiceName != "" {
		errs = append(errs, validateNameRef(spec.ServiceName, NameIsDNS1035Label, sp.Child("serviceName"))...)
	}
	if spec.Ordinals != nil {
		errs = append(errs, validateNonnegative(int64(spec.Ordinals.Start), sp.Child("ordinals", "start"))...)
	}
	errs = append(errs, validateNonnegativePtr(spec.Replicas, sp.Child("replicas"))...)
	errs = append(errs, validateNonnegative(int64(spec.MinReadySeconds), sp.Child("minReadySeconds"))...)
	errs = append(errs, validateNonnegativePtr(spec.RevisionHistoryLimit, sp.Child("revisionHistoryLimit"))...)
	errs = append(errs, validateWorkloadSelector(spec.Selector, spec.Template.Labels, "statefulset", sp)...)
	errs = append(errs, validateWorkloadTemplate(templateWithClaims(spec), "StatefulSet", sp.Child("template"))...)
	var names duplicates[string]
	for i := range spec.VolumeClaimTemplates {
		vct := &spec.VolumeClaimTemplates[i]
		p := sp.Child("volumeClaimTemplates").Index(i)
		if vct.Name == "" {
			errs = append(errs, field.Required(p.Child("metadata", "name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(vct.Name, p.Child("metadata", "name"))...)
			if names.add(vct.Name) {
				errs = append(errs, field.Duplicate(p.Child("metadata", "name"), vct.Name))
			}
		}
		errs = append(errs, validateTemplateObjectMeta(&vct.ObjectMeta, p.Child("metadata"))...)
		errs = append(errs, validatePVCSpec(&vct.Spec, p.Child("spec"))...)
	}
	return errs
}

// templateWithClaims returns the pod template as each pod gets it: with a
// volume per claim template, so that mounts of claimed volumes resolve.
func templateWithClaims(spec *appsv1.StatefulSetSpec) *corev1.PodTemplateSpec {
	if len(spec.VolumeClaimTemplates) == 0 {
		return &spec.Template
	}
	tmpl := spec.Template.DeepCopy()
	have := map[string]bool{}
	for _, v := range tmpl.Spec.Volumes {
		have[v.Name] = true
	}
	for _, vct := range spec.VolumeClaimTemplates {
		if vct.Name == "" || have[vct.Name] {
			continue
		}
		tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: vct.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: vct.Name},
		}})
	}
	return tmpl
}

// ValidateStatefulSetUpdate checks a stateful set update: only replicas,
// ordinals, template, update strategy, revision history limit, claim
// retention policy and minReadySeconds may change.
func ValidateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validateStatefulSetSpec(&ss.Spec, sp)...)
	munged := old.Spec.DeepCopy()
	munged.Replicas = ss.Spec.Replicas
	munged.Ordinals = ss.Spec.Ordinals
	munged.Template = ss.Spec.Template
	munged.UpdateStrategy = ss.Spec.UpdateStrategy
	munged.RevisionHistoryLimit = ss.Spec.RevisionHistoryLimit
	munged.PersistentVolumeClaimRetentionPolicy = ss.Spec.PersistentVolumeClaimRetentionPolicy
	munged.MinReadySeconds = ss.Spec.MinReadySeconds
	if !equality.Semantic.DeepEqual(munged, &ss.Spec) {
		errs = append(errs, field.Forbidden(sp, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

// ValidateStatefulSetStatusUpdate checks statefulsets/status.
func ValidateStatefulSetStatusUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	st := &ss.Status
	p := field.NewPath("status")
	for _, c := range []struct {
		name string
		v    int64
	}{{"replicas", int64(st.Replicas)}, {"readyReplicas", int64(st.ReadyReplicas)},
		{"currentReplicas", int64(st.CurrentReplicas)}, {"updatedReplicas", int64(st.UpdatedReplicas)},
		{"availableReplicas", int64(st.AvailableReplicas)}, {"observedGeneration", st.ObservedGeneration}} {
		errs = append(errs, validateNonnegative(c.v, p.Child(c.name))...)
	}
	for _, c := range []struct {
		name string
		v    int32
	}{{"readyReplicas", st.ReadyReplicas}, {"currentReplicas", st.CurrentReplicas}, {"updatedReplicas", st.UpdatedReplicas}} {
		if c.v > st.Replicas {
			errs = append(errs, field.Invalid(p.Child(c.name), c.v, "cannot be greater than status.replicas"))
		}
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	errs = append(errs, validateCollisionCount(st.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
	return errs
}
