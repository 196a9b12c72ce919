package validation

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of an EndpointSlice.
const (
	maxSliceEndpoints = 1000
	maxSliceAddresses = 100
	maxSlicePorts     = 20000
)

var supportedAddressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4,
	discoveryv1.AddressTypeIPv6}

// ValidateEndpoints checks an Endpoints object on create.
func ValidateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := ValidateObjectMeta(&ep.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateEndpointSubsets(ep.Subsets, field.NewPath("subsets"))...)
}

// validateEndpointSubsets checks each subset: some addresses (ready or
// not), usable IPs, ports named when there are several.
func validateEndpointSubsets(subsets []corev1.EndpointSubset, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ss := range subsets {
		p := fldPath.Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j, a := range ss.Addresses {
			errs = append(errs, validateEndpointAddress(a, p.Child("addresses").Index(j))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateEndpointAddress(a, p.Child("notReadyAddresses").Index(j))...)
		}
		var names duplicates[string]
		for j, port := range ss.Ports {
			pp := p.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				errs = append(errs, validateDNS1123Label(port.Name, pp.Child("name"))...)
				if names.add(port.Name) {
					errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
				}
			}
			errs = append(errs, validatePortNumber(port.Port, pp.Child("port"))...)
			errs = append(errs, validateEnum(port.Protocol, true, supportedPortProtocols, pp.Child("protocol"))...)
			if port.AppProtocol != nil {
				errs = append(errs, validateQualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
			}
		}
	}
	return errs
}

func validateEndpointAddress(a corev1.EndpointAddress, p *field.Path) field.ErrorList {
	errs := validateNonSpecialIP(a.IP, p.Child("ip"))
	if a.Hostname != "" {
		errs = append(errs, validateDNS1123Label(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, validateNameRef(*a.NodeName, NameIsDNSSubdomain, p.Child("nodeName"))...)
	}
	return errs
}

// ValidateEndpointsUpdate checks an Endpoints update.
func ValidateEndpointsUpdate(ep, old *corev1.Endpoints) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateEndpointSubsets(ep.Subsets, field.NewPath("subsets"))...)
}

// ValidateEndpointSlice checks an EndpointSlice on create: an address type,
// endpoints whose addresses are of that type, and unique named ports.
func ValidateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := ValidateObjectMeta(&es.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateEndpointSliceBody(es)...)
}

func validateEndpointSliceBody(es *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateEnum(es.AddressType, true, supportedAddressTypes, field.NewPath("addressType"))
	epPath := field.NewPath("endpoints")
	if len(es.Endpoints) > maxSliceEndpoints {
		errs = append(errs, field.TooMany(epPath, len(es.Endpoints), maxSliceEndpoints))
	}
	for i, ep := range es.Endpoints {
		p := epPath.Index(i)
		ap := p.Child("addresses")
		switch {
		case len(ep.Addresses) == 0:
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		case len(ep.Addresses) > maxSliceAddresses:
			errs = append(errs, field.TooMany(ap, len(ep.Addresses), maxSliceAddresses))
		}
		for j, addr := range ep.Addresses {
			errs = append(errs, validateSliceAddress(es.AddressType, addr, ap.Index(j))...)
		}
		if ep.Hostname != nil {
			errs = append(errs, validateDNS1123Label(*ep.Hostname, p.Child("hostname"))...)
		}
		if ep.NodeName != nil {
			errs = append(errs, validateNameRef(*ep.NodeName, NameIsDNSSubdomain, p.Child("nodeName"))...)
		}
		if ep.Zone != nil {
			errs = append(errs, validateLabelValue(*ep.Zone, p.Child("zone"))...)
		}
		if ep.Hints != nil {
			for j, z := range ep.Hints.ForZones {
				errs = append(errs, validateLabelValue(z.Name, p.Child("hints", "forZones").Index(j).Child("name"))...)
			}
		}
		if len(ep.DeprecatedTopology) > 0 {
			errs = append(errs, validateLabels(ep.DeprecatedTopology, p.Child("deprecatedTopology"))...)
		}
	}
	portsPath := field.NewPath("ports")
	if len(es.Ports) > maxSlicePorts {
		errs = append(errs, field.TooMany(portsPath, len(es.Ports), maxSlicePorts))
	}
	var names duplicates[string]
	for i, port := range es.Ports {
		p := portsPath.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			errs = append(errs, validateDNS1123Label(name, p.Child("name"))...)
		}
		if names.add(name) {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		if port.Port != nil {
			errs = append(errs, validatePortNumber(*port.Port, p.Child("port"))...)
		}
		if port.Protocol == nil {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		} else {
			errs = append(errs, validateEnum(*port.Protocol, true, supportedPortProtocols, p.Child("protocol"))...)
		}
		if port.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return errs
}

func validateSliceAddress(t discoveryv1.AddressType, addr string, p *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		errs := validateIP(addr, p)
		if len(errs) > 0 {
			return errs
		}
		is4 := netip.MustParseAddr(addr).Unmap().Is4()
		if t == discoveryv1.AddressTypeIPv4 && !is4 {
			return field.ErrorList{field.Invalid(p, addr, "must be an IPv4 address")}
		}
		if t == discoveryv1.AddressTypeIPv6 && is4 {
			return field.ErrorList{field.Invalid(p, addr, "must be an IPv6 address")}
		}
		return validateNonSpecialIP(addr, p)
	case discoveryv1.AddressTypeFQDN:
		return validateDNS1123Subdomain(addr, p)
	}
	return nil
}

// ValidateEndpointSliceUpdate checks an EndpointSlice update: the address
// type is fixed.
func ValidateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&es.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateEndpointSliceBody(es)...)
	return append(errs, validateImmutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}
