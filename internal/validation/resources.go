package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource names a container may request without a domain prefix.
var standardContainerResources = map[corev1.ResourceName]bool{
	corev1.ResourceCPU:              true,
	corev1.ResourceMemory:           true,
	corev1.ResourceEphemeralStorage: true,
}

// isHugePageResource reports hugepages-<size> names.
func isHugePageResource(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isNativeResource reports names without a domain or in kubernetes.io.
func isNativeResource(name corev1.ResourceName) bool {
	s := string(name)
	return !strings.Contains(s, "/") || strings.Contains(s, "kubernetes.io/")
}

// isExtendedResource reports device-plugin style resources (example.com/gpu):
// whole numbers, never overcommitted.
func isExtendedResource(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validateQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name), nil)) == 0
}

// validateContainerResourceName checks a key of a container's requests or
// limits.
func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := validateQualifiedName(string(name), fldPath)
	if len(errs) != 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") && !standardContainerResources[name] && !isHugePageResource(name) {
		return field.ErrorList{field.Invalid(fldPath, name, "must be a standard resource for containers")}
	}
	if isHugePageResource(name) {
		size := strings.TrimPrefix(string(name), corev1.ResourceHugePagesPrefix)
		if q, err := resource.ParseQuantity(size); err != nil || q.Sign() <= 0 {
			return field.ErrorList{field.Invalid(fldPath, name, "must be hugepages-<size> with a positive size")}
		}
	}
	return nil
}

// validateResourceQuantity checks one quantity of a requests/limits map.
func validateResourceQuantity(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	errs := validateQuantityNonnegative(q, fldPath)
	if isExtendedResource(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fldPath, q.String(), "must be an integer"))
	}
	return errs
}

// validateContainerResources checks a container's resources: names,
// non-negative quantities, requests no greater than limits, extended
// resources requested exactly at their limit, hugepages only alongside cpu
// or memory.
func validateContainerResources(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	hugePages, cpuOrMemory := false, false
	for name, q := range r.Limits {
		p := limPath.Key(string(name))
		errs = append(errs, validateContainerResourceName(name, p)...)
		errs = append(errs, validateResourceQuantity(name, q, p)...)
		if isHugePageResource(name) {
			hugePages = true
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			cpuOrMemory = true
		}
	}
	for name, q := range r.Requests {
		p := reqPath.Key(string(name))
		errs = append(errs, validateContainerResourceName(name, p)...)
		errs = append(errs, validateResourceQuantity(name, q, p)...)
		lim, hasLimit := r.Limits[name]
		switch {
		case hasLimit && q.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		case isExtendedResource(name) && !hasLimit:
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		case isExtendedResource(name) && q.Cmp(lim) != 0:
			errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, lim.String())))
		}
		if isHugePageResource(name) {
			hugePages = true
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			cpuOrMemory = true
		}
	}
	if hugePages && !cpuOrMemory {
		errs = append(errs, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	for i, claim := range r.Claims {
		p := fldPath.Child("claims").Index(i)
		if claim.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
	}
	return errs
}

// validatePodResources checks spec.resources (pod-level requests and
// limits): only cpu, memory and hugepages.
func validatePodResources(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	supported := []string{string(corev1.ResourceCPU), string(corev1.ResourceMemory), corev1.ResourceHugePagesPrefix + "<size>"}
	check := func(list corev1.ResourceList, p *field.Path) {
		for name, q := range list {
			kp := p.Key(string(name))
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory && !isHugePageResource(name) {
				errs = append(errs, field.NotSupported(kp, name, supported))
				continue
			}
			errs = append(errs, validateQuantityNonnegative(q, kp)...)
		}
	}
	check(r.Limits, fldPath.Child("limits"))
	check(r.Requests, fldPath.Child("requests"))
	for name, q := range r.Requests {
		if lim, ok := r.Limits[name]; ok && q.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(fldPath.Child("requests").Key(string(name)), q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	if len(r.Claims) != 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("claims"), "claims may not be set for Resources at pod-level"))
	}
	return errs
}

// validateResourceList checks a plain resource map (overhead, node
// capacity): qualified names and non-negative quantities.
func validateResourceList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range list {
		p := fldPath.Key(string(name))
		errs = append(errs, validateQualifiedName(string(name), p)...)
		errs = append(errs, validateQuantityNonnegative(q, p)...)
	}
	return errs
}
