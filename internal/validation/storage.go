package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of a StorageClass's parameters.
const (
	maxStorageClassParameters    = 512
	maxStorageClassParameterSize = 256 * (1 << 10)
)

var (
	supportedClassReclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete,
		corev1.PersistentVolumeReclaimRetain}
	supportedBindingModes = []storagev1.VolumeBindingMode{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer}
)

// ValidateStorageClass checks a storage class on create: a provisioner
// name, at most 512 parameters of 256 KiB in all, reclaim policy, binding
// mode and allowed topologies.
func ValidateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	errs := ValidateObjectMeta(&sc.ObjectMeta, false, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateStorageClassBody(sc)...)
}

func validateStorageClassBody(sc *storagev1.StorageClass) field.ErrorList {
	var errs field.ErrorList
	pp := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(pp, ""))
	} else {
		errs = append(errs, validateQualifiedName(strings.ToLower(sc.Provisioner), pp)...)
	}
	paramPath := field.NewPath("parameters")
	if len(sc.Parameters) > maxStorageClassParameters {
		errs = append(errs, field.TooMany(paramPath, len(sc.Parameters), maxStorageClassParameters))
	}
	size := 0
	for k, v := range sc.Parameters {
		if k == "" {
			errs = append(errs, field.Invalid(paramPath, k, "field can not be empty"))
		}
		size += len(k) + len(v)
	}
	if size > maxStorageClassParameterSize {
		errs = append(errs, field.TooLong(paramPath, "", maxStorageClassParameterSize))
	}
	if sc.ReclaimPolicy != nil {
		errs = append(errs, validateEnum(*sc.ReclaimPolicy, true, supportedClassReclaimPolicies, field.NewPath("reclaimPolicy"))...)
	}
	if sc.VolumeBindingMode == nil {
		errs = append(errs, field.Required(field.NewPath("volumeBindingMode"), ""))
	} else {
		errs = append(errs, validateEnum(*sc.VolumeBindingMode, true, supportedBindingModes, field.NewPath("volumeBindingMode"))...)
	}
	tp := field.NewPath("allowedTopologies")
	for i, term := range sc.AllowedTopologies {
		var keys duplicates[string]
		for j, e := range term.MatchLabelExpressions {
			ep := tp.Index(i).Child("matchLabelExpressions").Index(j)
			errs = append(errs, validateQualifiedName(e.Key, ep.Child("key"))...)
			if keys.add(e.Key) {
				errs = append(errs, field.Duplicate(ep.Child("key"), e.Key))
			}
			if len(e.Values) == 0 {
				errs = append(errs, field.Required(ep.Child("values"), "must have at least one value"))
			}
			for k, v := range e.Values {
				errs = append(errs, validateLabelValue(v, ep.Child("values").Index(k))...)
			}
		}
	}
	return errs
}

// ValidateStorageClassUpdate checks a storage class update: provisioner,
// parameters, reclaim policy and binding mode are fixed.
func ValidateStorageClassUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&sc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateStorageClassBody(sc)...)
	if !mapsEqual(sc.Parameters, old.Parameters) {
		errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != old.Provisioner {
		errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	errs = append(errs, validateImmutable(sc.ReclaimPolicy, old.ReclaimPolicy, field.NewPath("reclaimPolicy"))...)
	errs = append(errs, validateImmutable(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return errs
}

// ValidateRuntimeClass checks a runtime class on create: the handler is a
// DNS label (it names a runtime to the node), overhead quantities are
// valid, scheduling constraints are well formed.
func ValidateRuntimeClass(rc *nodev1.RuntimeClass) field.ErrorList {
	errs := ValidateObjectMeta(&rc.ObjectMeta, false, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateRuntimeClassBody(rc)...)
}

func validateRuntimeClassBody(rc *nodev1.RuntimeClass) field.ErrorList {
	var errs field.ErrorList
	if rc.Handler == "" {
		errs = append(errs, field.Required(field.NewPath("handler"), ""))
	} else {
		errs = append(errs, validateDNS1123Label(rc.Handler, field.NewPath("handler"))...)
	}
	if rc.Overhead != nil {
		errs = append(errs, validatePodResources(&corev1.ResourceRequirements{Limits: rc.Overhead.PodFixed}, field.NewPath("overhead", "podFixed"))...)
	}
	if s := rc.Scheduling; s != nil {
		errs = append(errs, validateLabels(s.NodeSelector, field.NewPath("scheduling", "nodeSelector"))...)
		errs = append(errs, validateTolerations(s.Tolerations, field.NewPath("scheduling", "tolerations"))...)
	}
	return errs
}

// ValidateRuntimeClassUpdate checks a runtime class update: the handler is
// fixed.
func ValidateRuntimeClassUpdate(rc, old *nodev1.RuntimeClass) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&rc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateRuntimeClassBody(rc)...)
	return append(errs, validateImmutable(rc.Handler, old.Handler, field.NewPath("handler"))...)
}
