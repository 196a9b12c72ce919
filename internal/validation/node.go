package validation

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var supportedNodeAddressTypes = []corev1.NodeAddressType{corev1.NodeExternalDNS, corev1.NodeExternalIP,
	corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeInternalIP}

// ValidateNode checks a node on create: name, pod CIDRs, taints and the
// status a kubelet registers with.
func ValidateNode(node *corev1.Node) field.ErrorList {
	errs := ValidateObjectMeta(&node.ObjectMeta, false, NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validateNodeSpec(&node.Spec, field.NewPath("spec"))...)
	return append(errs, validateNodeStatus(&node.Status, field.NewPath("status"))...)
}

func validateNodeSpec(spec *corev1.NodeSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	cidrPath := sp.Child("podCIDRs")
	if spec.PodCIDR != "" && (len(spec.PodCIDRs) == 0 || spec.PodCIDRs[0] != spec.PodCIDR) {
		errs = append(errs, field.Invalid(sp.Child("podCIDR"), spec.PodCIDR, "must match the first entry of `podCIDRs`"))
	}
	if len(spec.PodCIDRs) > 2 {
		errs = append(errs, field.Invalid(cidrPath, spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	families := map[bool]bool{}
	for i, cidr := range spec.PodCIDRs {
		p := cidrPath.Index(i)
		if e := utilvalidation.IsValidCIDR(p, cidr); len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		is4 := netip.MustParsePrefix(cidr).Addr().Unmap().Is4()
		if families[is4] {
			errs = append(errs, field.Invalid(cidrPath, spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
		}
		families[is4] = true
	}
	return append(errs, validateTaints(spec.Taints, sp.Child("taints"))...)
}

func validateNodeStatus(st *corev1.NodeStatus, p *field.Path) field.ErrorList {
	errs := validateResourceList(st.Capacity, p.Child("capacity"))
	errs = append(errs, validateResourceList(st.Allocatable, p.Child("allocatable"))...)
	for i, a := range st.Addresses {
		ap := p.Child("addresses").Index(i)
		errs = append(errs, validateEnum(a.Type, true, supportedNodeAddressTypes, ap.Child("type"))...)
		if a.Address == "" {
			errs = append(errs, field.Required(ap.Child("address"), ""))
		}
	}
	if port := st.DaemonEndpoints.KubeletEndpoint.Port; port != 0 {
		errs = append(errs, validatePortNumber(port, p.Child("daemonEndpoints", "kubeletEndpoint", "Port"))...)
	}
	return errs
}

// ValidateNodeUpdate checks a node update: pod CIDRs and the provider ID
// may be set once, never changed.
func ValidateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&node.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validateNodeSpec(&node.Spec, sp)...)
	errs = append(errs, validateNodeStatus(&node.Status, field.NewPath("status"))...)
	if len(old.Spec.PodCIDRs) > 0 {
		errs = append(errs, validateSetOnce(node.Spec.PodCIDRs, old.Spec.PodCIDRs, sp.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid")...)
	}
	if old.Spec.ProviderID != "" {
		errs = append(errs, validateSetOnce(node.Spec.ProviderID, old.Spec.ProviderID, sp.Child("providerID"), "node updates may not change providerID except from \"\" to valid")...)
	}
	return errs
}

// validateSetOnce reports a change of a field that was already set.
func validateSetOnce(newVal, oldVal any, fldPath *field.Path, msg string) field.ErrorList {
	if len(validateImmutable(newVal, oldVal, fldPath)) > 0 {
		return field.ErrorList{field.Forbidden(fldPath, msg)}
	}
	return nil
}

// ValidateNodeStatusUpdate checks nodes/status.
func ValidateNodeStatusUpdate(node, old *corev1.Node) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&node.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateNodeStatus(&node.Status, field.NewPath("status"))...)
}
