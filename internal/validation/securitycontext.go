package validation

import (
	"regexp"

	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedProcMounts        = []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount}
	supportedSeccompTypes      = []corev1.SeccompProfileType{corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined}
	supportedAppArmorTypes     = []corev1.AppArmorProfileType{corev1.AppArmorProfileTypeLocalhost, corev1.AppArmorProfileTypeRuntimeDefault, corev1.AppArmorProfileTypeUnconfined}
	supportedFSGroupPolicies   = []corev1.PodFSGroupChangePolicy{corev1.FSGroupChangeAlways, corev1.FSGroupChangeOnRootMismatch}
	supportedSupplementalGroup = []corev1.SupplementalGroupsPolicy{corev1.SupplementalGroupsPolicyMerge, corev1.SupplementalGroupsPolicyStrict}
	supportedSELinuxChange     = []corev1.PodSELinuxChangePolicy{corev1.SELinuxChangePolicyMountOption, corev1.SELinuxChangePolicyRecursive}

	// A sysctl name: dot- or slash-separated segments of [a-z0-9_-].
	sysctlRegexp = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)
)

// maxSysctlNameLen bounds a sysctl name.
const maxSysctlNameLen = 253

// validateUserID checks a uid.
func validateUserID(uid *int64, fldPath *field.Path) field.ErrorList {
	if uid == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsValidUserID(*uid) {
		errs = append(errs, field.Invalid(fldPath, *uid, msg))
	}
	return errs
}

// validateGroupID checks a gid.
func validateGroupID(gid *int64, fldPath *field.Path) field.ErrorList {
	if gid == nil {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsValidGroupID(*gid) {
		errs = append(errs, field.Invalid(fldPath, *gid, msg))
	}
	return errs
}

// validateSeccompProfile checks a seccomp profile: a localhost profile
// names its file, the others name none.
func validateSeccompProfile(sp *corev1.SeccompProfile, fldPath *field.Path) field.ErrorList {
	if sp == nil {
		return nil
	}
	errs := validateEnum(sp.Type, true, supportedSeccompTypes, fldPath.Child("type"))
	if sp.Type == corev1.SeccompProfileTypeLocalhost {
		if sp.LocalhostProfile == nil || *sp.LocalhostProfile == "" {
			errs = append(errs, field.Required(fldPath.Child("localhostProfile"), "must be set when seccomp type is Localhost"))
		} else {
			errs = append(errs, validateLocalDescendingPath(*sp.LocalhostProfile, fldPath.Child("localhostProfile"))...)
		}
	} else if sp.LocalhostProfile != nil {
		errs = append(errs, field.Invalid(fldPath.Child("localhostProfile"), *sp.LocalhostProfile, "can only be set when seccomp type is Localhost"))
	}
	return errs
}

// validateAppArmorProfile checks an AppArmor profile like a seccomp one.
func validateAppArmorProfile(ap *corev1.AppArmorProfile, fldPath *field.Path) field.ErrorList {
	if ap == nil {
		return nil
	}
	errs := validateEnum(ap.Type, true, supportedAppArmorTypes, fldPath.Child("type"))
	if ap.Type == corev1.AppArmorProfileTypeLocalhost {
		if ap.LocalhostProfile == nil || *ap.LocalhostProfile == "" {
			errs = append(errs, field.Required(fldPath.Child("localhostProfile"), "must be set when AppArmor type is Localhost"))
		}
	} else if ap.LocalhostProfile != nil {
		errs = append(errs, field.Invalid(fldPath.Child("localhostProfile"), *ap.LocalhostProfile, "can only be set when AppArmor type is Localhost"))
	}
	return errs
}

// validateContainerSecurityContext checks a container's securityContext.
func validateContainerSecurityContext(sc *corev1.SecurityContext, fldPath *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	errs := validateUserID(sc.RunAsUser, fldPath.Child("runAsUser"))
	errs = append(errs, validateGroupID(sc.RunAsGroup, fldPath.Child("runAsGroup"))...)
	if sc.ProcMount != nil {
		errs = append(errs, validateEnum(*sc.ProcMount, true, supportedProcMounts, fldPath.Child("procMount"))...)
	}
	errs = append(errs, validateSeccompProfile(sc.SeccompProfile, fldPath.Child("seccompProfile"))...)
	errs = append(errs, validateAppArmorProfile(sc.AppArmorProfile, fldPath.Child("appArmorProfile"))...)
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(fldPath, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Add {
				if c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN" {
					errs = append(errs, field.Invalid(fldPath, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
				}
			}
		}
	}
	return errs
}

// validatePodSecurityContext checks spec.securityContext and its
// interplay with the host namespaces.
func validatePodSecurityContext(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace && spec.HostPID {
		errs = append(errs, field.Invalid(fldPath.Child("shareProcessNamespace"), true, "ShareProcessNamespace and HostPID cannot both be enabled"))
	}
	if spec.HostUsers != nil && !*spec.HostUsers {
		for _, c := range []struct {
			name string
			on   bool
		}{{"hostNetwork", spec.HostNetwork}, {"hostPID", spec.HostPID}, {"hostIPC", spec.HostIPC}} {
			if c.on {
				errs = append(errs, field.Forbidden(fldPath.Child(c.name), "when `hostUsers` is false"))
			}
		}
	}
	sc := spec.SecurityContext
	if sc == nil {
		return errs
	}
	p := fldPath.Child("securityContext")
	errs = append(errs, validateUserID(sc.RunAsUser, p.Child("runAsUser"))...)
	errs = append(errs, validateGroupID(sc.RunAsGroup, p.Child("runAsGroup"))...)
	errs = append(errs, validateGroupID(sc.FSGroup, p.Child("fsGroup"))...)
	for i, g := range sc.SupplementalGroups {
		errs = append(errs, validateGroupID(&g, p.Child("supplementalGroups").Index(i))...)
	}
	if sc.SupplementalGroupsPolicy != nil {
		errs = append(errs, validateEnum(*sc.SupplementalGroupsPolicy, true, supportedSupplementalGroup, p.Child("supplementalGroupsPolicy"))...)
	}
	if sc.FSGroupChangePolicy != nil {
		errs = append(errs, validateEnum(*sc.FSGroupChangePolicy, true, supportedFSGroupPolicies, p.Child("fsGroupChangePolicy"))...)
	}
	if sc.SELinuxChangePolicy != nil {
		errs = append(errs, validateEnum(*sc.SELinuxChangePolicy, true, supportedSELinuxChange, p.Child("seLinuxChangePolicy"))...)
	}
	errs = append(errs, validateSeccompProfile(sc.SeccompProfile, p.Child("seccompProfile"))...)
	errs = append(errs, validateAppArmorProfile(sc.AppArmorProfile, p.Child("appArmorProfile"))...)
	var names duplicates[string]
	for i, s := range sc.Sysctls {
		sp := p.Child("sysctls").Index(i)
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(sp.Child("name"), ""))
		case len(s.Name) > maxSysctlNameLen:
			errs = append(errs, field.TooLong(sp.Child("name"), s.Name, maxSysctlNameLen))
		case !sysctlRegexp.MatchString(s.Name):
			errs = append(errs, field.Invalid(sp.Child("name"), s.Name, "must have at most 253 characters and match regex "+sysctlRegexp.String()))
		}
		if names.add(s.Name) {
			errs = append(errs, field.Duplicate(sp.Child("name"), s.Name))
		}
	}
	return errs
}
