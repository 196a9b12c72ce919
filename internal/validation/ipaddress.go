package validation

import (
	"net/netip"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// NameIsIPAddress validates an IPAddress object's name: an IP address in
// canonical form ("10.43.0.1", "fd00::1").
func NameIsIPAddress(name string, _ bool) []string {
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return []string{err.Error()}
	}
	if ip.String() != name {
		return []string{"must be a canonical format IP address"}
	}
	return nil
}

// ValidateIPAddress checks an IPAddress: its name is an address and it
// names the object it is allocated to (resource and name required).
func ValidateIPAddress(ip *networkingv1.IPAddress) field.ErrorList {
	errs := ValidateObjectMeta(&ip.ObjectMeta, false, NameIsIPAddress, field.NewPath("metadata"))
	p := field.NewPath("spec", "parentRef")
	ref := ip.Spec.ParentRef
	if ref == nil {
		return append(errs, field.Required(p, ""))
	}
	if ref.Group != "" {
		errs = append(errs, validateDNS1123Subdomain(ref.Group, p.Child("group"))...)
	}
	segment := func(v string, required bool, fp *field.Path) {
		if v == "" {
			if required {
				errs = append(errs, field.Required(fp, ""))
			}
			return
		}
		for _, msg := range NameIsPathSegment(v, false) {
			errs = append(errs, field.Invalid(fp, v, msg))
		}
	}
	segment(ref.Resource, true, p.Child("resource"))
	segment(ref.Namespace, false, p.Child("namespace"))
	segment(ref.Name, true, p.Child("name"))
	return errs
}

// ValidateIPAddressUpdate checks an update: the parent reference is
// immutable.
func ValidateIPAddressUpdate(ip, old *networkingv1.IPAddress) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&ip.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateImmutable(ip.Spec.ParentRef, old.Spec.ParentRef, field.NewPath("spec", "parentRef"))...)
}
