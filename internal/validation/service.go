package validation

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedServiceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	supportedSessionAffinity   = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	supportedExternalTraffic   = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	supportedInternalTraffic   = []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	supportedIPFamilyPolicies  = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
	supportedIPFamilies        = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	supportedTrafficDistrib    = []string{corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameNode, corev1.ServiceTrafficDistributionPreferSameZone}
	supportedLoadBalancerModes = []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP}
)

// maxClientIPAffinitySeconds bounds sessionAffinityConfig.clientIP.timeoutSeconds.
const maxClientIPAffinitySeconds = 86400

// PortRange is an inclusive range of ports, such as the node port range.
type PortRange struct {
	Base, Size int32
}

// defaultNodePortRange is Kubernetes' default --service-node-port-range.
var defaultNodePortRange = PortRange{Base: 30000, Size: 2768}

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port int32) bool {
	return port >= r.Base && port < r.Base+r.Size
}

// String formats the range as "30000-32767".
func (r PortRange) String() string {
	return fmt.Sprintf("%d-%d", r.Base, r.Base+r.Size-1)
}

// ServiceOptions is the cluster configuration Service validation depends
// on.
type ServiceOptions struct {
	// NodePortRange is where explicit node ports must lie; the zero value
	// means Kubernetes' default 30000-32767.
	NodePortRange PortRange
}

func (o ServiceOptions) nodePorts() PortRange {
	if o.NodePortRange.Size == 0 {
		return defaultNodePortRange
	}
	return o.NodePortRange
}

// ValidateService checks a service on create: a DNS-1035 name, type,
// ports (unique, named when several, node ports in range and only where
// the type allows them), cluster IPs and IP families, selector, session
// affinity, external IPs and traffic policies, and the fields that only a
// LoadBalancer may carry. Cluster IPs and node ports left empty are the
// allocator's to fill in after validation.
func ValidateService(svc *corev1.Service, opts ServiceOptions) field.ErrorList {
	errs := ValidateObjectMeta(&svc.ObjectMeta, true, NameIsDNS1035Label, field.NewPath("metadata"))
	return append(errs, validateServiceSpec(svc, opts, field.NewPath("spec"))...)
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

func externallyAccessible(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0)
}

func validateServiceSpec(svc *corev1.Service, opts ServiceOptions, sp *field.Path) field.ErrorList {
	spec := &svc.Spec
	errs := validateEnum(spec.Type, true, supportedServiceTypes, sp.Child("type"))
	externalName := spec.Type == corev1.ServiceTypeExternalName

	if externalName {
		if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(sp.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		if len(spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(sp.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(sp.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		if len(spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(sp.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		cname := strings.TrimSuffix(spec.ExternalName, ".")
		if cname == "" {
			errs = append(errs, field.Required(sp.Child("externalName"), ""))
		} else {
			errs = append(errs, validateDNS1123Subdomain(cname, sp.Child("externalName"))...)
		}
	} else {
		errs = append(errs, validateClusterIPs(svc, sp)...)
		if spec.InternalTrafficPolicy == nil {
			errs = append(errs, field.Required(sp.Child("internalTrafficPolicy"), ""))
		} else {
			errs = append(errs, validateEnum(*spec.InternalTrafficPolicy, true, supportedInternalTraffic, sp.Child("internalTrafficPolicy"))...)
		}
	}

	if len(spec.Ports) == 0 && !isHeadless(svc) && !externalName {
		errs = append(errs, field.Required(sp.Child("ports"), ""))
	}
	errs = append(errs, validateServicePorts(svc, opts, sp.Child("ports"))...)
	errs = append(errs, validateLabels(spec.Selector, sp.Child("selector"))...)

	errs = append(errs, validateEnum(spec.SessionAffinity, true, supportedSessionAffinity, sp.Child("sessionAffinity"))...)
	switch spec.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		cp := sp.Child("sessionAffinityConfig")
		cfg := spec.SessionAffinityConfig
		switch {
		case cfg == nil:
			errs = append(errs, field.Required(cp, "when session affinity type is ClientIP"))
		case cfg.ClientIP == nil:
			errs = append(errs, field.Required(cp.Child("clientIP"), "when session affinity type is ClientIP"))
		case cfg.ClientIP.TimeoutSeconds == nil:
			errs = append(errs, field.Required(cp.Child("clientIP", "timeoutSeconds"), "when session affinity type is ClientIP"))
		default:
			errs = append(errs, validateInt32Range(*cfg.ClientIP.TimeoutSeconds, 1, maxClientIPAffinitySeconds, cp.Child("clientIP", "timeoutSeconds"))...)
		}
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Invalid(sp.Child("sessionAffinityConfig"), spec.SessionAffinityConfig, "must not be set when session affinity is None"))
		}
	}

	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validateNonSpecialIP(ip, sp.Child("externalIPs").Index(i))...)
	}

	lb := spec.Type == corev1.ServiceTypeLoadBalancer
	if !lb {
		if len(spec.LoadBalancerSourceRanges) > 0 {
			errs = append(errs, field.Forbidden(sp.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
		}
		if spec.AllocateLoadBalancerNodePorts != nil {
			errs = append(errs, field.Forbidden(sp.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
		}
		if spec.LoadBalancerClass != nil {
			errs = append(errs, field.Forbidden(sp.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		}
		if spec.LoadBalancerIP != "" {
			errs = append(errs, field.Forbidden(sp.Child("loadBalancerIP"), "may only be used when `type` is 'LoadBalancer'"))
		}
	} else {
		if spec.AllocateLoadBalancerNodePorts == nil {
			errs = append(errs, field.Required(sp.Child("allocateLoadBalancerNodePorts"), ""))
		}
		if spec.LoadBalancerClass != nil {
			errs = append(errs, validateQualifiedName(*spec.LoadBalancerClass, sp.Child("loadBalancerClass"))...)
		}
		if spec.LoadBalancerIP != "" {
			errs = append(errs, validateIP(spec.LoadBalancerIP, sp.Child("loadBalancerIP"))...)
		}
		for i, cidr := range spec.LoadBalancerSourceRanges {
			errs = append(errs, utilvalidation.IsValidCIDR(sp.Child("loadBalancerSourceRanges").Index(i), strings.TrimSpace(cidr))...)
		}
	}

	if externallyAccessible(svc) {
		errs = append(errs, validateEnum(spec.ExternalTrafficPolicy, true, supportedExternalTraffic, sp.Child("externalTrafficPolicy"))...)
	} else if spec.ExternalTrafficPolicy != "" {
		errs = append(errs, field.Invalid(sp.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
	}
	if spec.HealthCheckNodePort != 0 {
		p := sp.Child("healthCheckNodePort")
		if !lb || spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
			errs = append(errs, field.Invalid(p, spec.HealthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		} else {
			errs = append(errs, validatePortNumber(spec.HealthCheckNodePort, p)...)
		}
	}
	if spec.TrafficDistribution != nil {
		errs = append(errs, validateEnum(*spec.TrafficDistribution, true, supportedTrafficDistrib, sp.Child("trafficDistribution"))...)
	}
	return errs
}

// validateServicePorts checks spec.ports.
func validateServicePorts(svc *corev1.Service, opts ServiceOptions, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	type portKey struct {
		port  int32
		proto corev1.Protocol
	}
	var names duplicates[string]
	var ports, nodePorts duplicates[portKey]
	for i, port := range spec.Ports {
		p := fldPath.Index(i)
		if len(spec.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if port.Name != "" {
			errs = append(errs, validateDNS1123Label(port.Name, p.Child("name"))...)
			if names.add(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			}
		}
		errs = append(errs, validatePortNumber(port.Port, p.Child("port"))...)
		errs = append(errs, validateEnum(port.Protocol, true, supportedPortProtocols, p.Child("protocol"))...)
		if spec.Type != corev1.ServiceTypeExternalName {
			errs = append(errs, validatePortNumOrName(port.TargetPort, p.Child("targetPort"))...)
		}
		if port.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
		if ports.add(portKey{port.Port, port.Protocol}) {
			errs = append(errs, field.Duplicate(p, fmt.Sprintf("%d/%s", port.Port, port.Protocol)))
		}
		if port.NodePort == 0 {
			continue
		}
		np := p.Child("nodePort")
		switch spec.Type {
		case corev1.ServiceTypeClusterIP:
			errs = append(errs, field.Forbidden(np, "may not be used when `type` is 'ClusterIP'"))
			continue
		case corev1.ServiceTypeExternalName:
			errs = append(errs, field.Forbidden(np, "may not be used when `type` is 'ExternalName'"))
			continue
		}
		if r := opts.nodePorts(); !r.Contains(port.NodePort) {
			errs = append(errs, field.Invalid(np, port.NodePort, "provided port is not in the valid range. The range of valid ports is "+r.String()))
		}
		if nodePorts.add(portKey{port.NodePort, port.Protocol}) {
			errs = append(errs, field.Duplicate(np, port.NodePort))
		}
	}
	return errs
}

// validateClusterIPs checks clusterIP, clusterIPs, ipFamilies and
// ipFamilyPolicy together.
func validateClusterIPs(svc *corev1.Service, sp *field.Path) field.ErrorList {
	spec := &svc.Spec
	var errs field.ErrorList
	ipsPath := sp.Child("clusterIPs")
	if spec.ClusterIP != "" && len(spec.ClusterIPs) > 0 && spec.ClusterIP != spec.ClusterIPs[0] {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "first value must match `clusterIP`"))
	}
	if spec.ClusterIP != "" && spec.ClusterIP != corev1.ClusterIPNone {
		errs = append(errs, validateIP(spec.ClusterIP, sp.Child("clusterIP"))...)
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may only hold up to 2 values"))
	}
	var fams []corev1.IPFamily
	for i, ip := range spec.ClusterIPs {
		p := ipsPath.Index(i)
		if ip == corev1.ClusterIPNone {
			if len(spec.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(p, ip, "'None' must be the first and only value"))
			}
			continue
		}
		if e := validateIP(ip, p); len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		fam := corev1.IPv4Protocol
		if !netip.MustParseAddr(ip).Unmap().Is4() {
			fam = corev1.IPv6Protocol
		}
		if i > 0 && fam == fams[0] {
			errs = append(errs, field.Invalid(ipsPath, spec.ClusterIPs, "may not have IPs of the same family"))
		}
		if i < len(spec.IPFamilies) && spec.IPFamilies[i] != fam {
			errs = append(errs, field.Invalid(p, ip, fmt.Sprintf("expected an %s value as indicated by `ipFamilies[%d]`", spec.IPFamilies[i], i)))
		}
		fams = append(fams, fam)
	}
	if isHeadless(svc) && (spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer) {
		errs = append(errs, field.Invalid(sp.Child("clusterIPs").Index(0), corev1.ClusterIPNone, fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
	}

	famPath := sp.Child("ipFamilies")
	if len(spec.IPFamilies) > 2 {
		errs = append(errs, field.Invalid(famPath, spec.IPFamilies, "may only hold up to 2 values"))
	}
	var seen duplicates[corev1.IPFamily]
	for i, f := range spec.IPFamilies {
		errs = append(errs, validateEnum(f, true, supportedIPFamilies, famPath.Index(i))...)
		if seen.add(f) {
			errs = append(errs, field.Duplicate(famPath.Index(i), f))
		}
	}
	if spec.IPFamilyPolicy != nil {
		pp := sp.Child("ipFamilyPolicy")
		errs = append(errs, validateEnum(*spec.IPFamilyPolicy, true, supportedIPFamilyPolicies, pp)...)
		if *spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack {
			if len(spec.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(pp, *spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
			}
			if len(spec.IPFamilies) > 1 {
				errs = append(errs, field.Invalid(pp, *spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
			}
		}
	}
	return errs
}

// ValidateServiceUpdate checks a service update: the allocated cluster IPs
// and the primary IP family stay as they are while the service is not
// ExternalName before and after; a LoadBalancer keeps its class.
func ValidateServiceUpdate(svc, old *corev1.Service, opts ServiceOptions) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validateServiceSpec(svc, opts, sp)...)
	ext := corev1.ServiceTypeExternalName
	if svc.Spec.Type != ext && old.Spec.Type != ext {
		if len(old.Spec.ClusterIPs) > 0 && (len(svc.Spec.ClusterIPs) == 0 || svc.Spec.ClusterIPs[0] != old.Spec.ClusterIPs[0]) {
			errs = append(errs, field.Invalid(sp.Child("clusterIPs").Index(0), svc.Spec.ClusterIPs, "may not change once set"))
		} else if old.Spec.ClusterIP != "" && svc.Spec.ClusterIP != old.Spec.ClusterIP {
			errs = append(errs, field.Invalid(sp.Child("clusterIP"), svc.Spec.ClusterIP, "may not change once set"))
		}
		if len(old.Spec.IPFamilies) > 0 && len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] != old.Spec.IPFamilies[0] {
			errs = append(errs, field.Invalid(sp.Child("ipFamilies").Index(0), svc.Spec.IPFamilies[0], "may not change once set"))
		}
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		errs = append(errs, validateImmutable(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass, sp.Child("loadBalancerClass"))...)
	}
	return errs
}

// ValidateServiceStatusUpdate checks services/status: load balancer
// ingress points (an IP or a hostname that is not an IP, the IP mode only
// with an IP) and conditions.
func ValidateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	p := field.NewPath("status", "loadBalancer", "ingress")
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		ip := p.Index(i)
		if ing.IP != "" {
			errs = append(errs, validateIP(ing.IP, ip.Child("ip"))...)
		}
		if ing.IPMode != nil {
			if ing.IP == "" {
				errs = append(errs, field.Required(ip.Child("ip"), "must be specified when `ipMode` is set"))
			}
			errs = append(errs, validateEnum(*ing.IPMode, true, supportedLoadBalancerModes, ip.Child("ipMode"))...)
		}
		if ing.Hostname != "" {
			errs = append(errs, validateDNS1123Subdomain(ing.Hostname, ip.Child("hostname"))...)
			if _, err := netip.ParseAddr(ing.Hostname); err == nil {
				errs = append(errs, field.Invalid(ip.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
		for j, port := range ing.Ports {
			pp := ip.Child("ports").Index(j)
			errs = append(errs, validatePortNumber(port.Port, pp.Child("port"))...)
			errs = append(errs, validateEnum(port.Protocol, true, supportedPortProtocols, pp.Child("protocol"))...)
		}
	}
	errs = append(errs, validateConditions(svc.Status.Conditions, field.NewPath("status", "conditions"))...)
	return errs
}
