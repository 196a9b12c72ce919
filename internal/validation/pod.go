package validation

import (
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedRestartPolicies   = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}
	supportedDNSPolicies       = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
	supportedPreemptionPolices = []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}
	supportedOSNames           = []corev1.OSName{corev1.Linux, corev1.Windows}
)

// Limits of spec.dnsConfig, as the resolver imposes them.
const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
)

// ValidatePod checks a pod on create: metadata, the whole spec, images
// present in every container, and no ephemeral containers yet.
func ValidatePod(pod *corev1.Pod) field.ErrorList {
	errs := ValidateObjectMeta(&pod.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	errs = append(errs, validatePodSpec(&pod.Spec, true, specPath)...)
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if len(pod.Spec.SchedulingGates) > 0 && pod.Spec.NodeName != "" {
		errs = append(errs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return errs
}

// ValidatePodTemplateSpec checks the pod template of a workload; images
// may be empty there, for tools that fill them in later.
func ValidatePodTemplateSpec(tmpl *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	errs := validateTemplateObjectMeta(&tmpl.ObjectMeta, fldPath.Child("metadata"))
	errs = append(errs, validatePodSpec(&tmpl.Spec, false, fldPath.Child("spec"))...)
	if len(tmpl.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// validatePodSpec checks a pod spec; isPod is false for templates.
func validatePodSpec(spec *corev1.PodSpec, isPod bool, fldPath *field.Path) field.ErrorList {
	volumes, errs := validateVolumes(spec.Volumes, fldPath.Child("volumes"))
	pc := podContext{volumes: volumes, hostNetwork: spec.HostNetwork, isPod: isPod}
	var names duplicates[string]
	errs = append(errs, validateContainers(spec.Containers, pc, &names, fldPath.Child("containers"))...)
	errs = append(errs, validateInitContainers(spec.InitContainers, pc, &names, fldPath.Child("initContainers"))...)
	errs = append(errs, validateHostPorts(spec, fldPath)...)
	errs = append(errs, validateEnum(spec.RestartPolicy, true, supportedRestartPolicies, fldPath.Child("restartPolicy"))...)
	errs = append(errs, validateDNSPolicy(spec, fldPath)...)
	errs = append(errs, validateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	errs = append(errs, validatePodSecurityContext(spec, fldPath)...)
	errs = append(errs, validateAffinity(spec.Affinity, fldPath.Child("affinity"))...)
	errs = append(errs, validateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	errs = append(errs, validateTopologySpreadConstraints(spec.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	errs = append(errs, validatePodResources(spec.Resources, fldPath.Child("resources"))...)
	errs = append(errs, validateResourceList(spec.Overhead, fldPath.Child("overhead"))...)
	if spec.ServiceAccountName != "" {
		errs = append(errs, validateNameRef(spec.ServiceAccountName, NameIsDNSSubdomain, fldPath.Child("serviceAccountName"))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, validateNameRef(spec.NodeName, NameIsDNSSubdomain, fldPath.Child("nodeName"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, fmt.Sprintf("must be between 1 and %d, inclusive", math.MaxInt32)))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNS1123Label(spec.Hostname, fldPath.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNS1123Label(spec.Subdomain, fldPath.Child("subdomain"))...)
	}
	for i, ha := range spec.HostAliases {
		p := fldPath.Child("hostAliases").Index(i)
		errs = append(errs, validateIP(ha.IP, p.Child("ip"))...)
		for j, h := range ha.Hostnames {
			errs = append(errs, validateDNS1123Subdomain(h, p.Child("hostnames").Index(j))...)
		}
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, validateNameRef(spec.PriorityClassName, NameIsDNSSubdomain, fldPath.Child("priorityClassName"))...)
	}
	if spec.PreemptionPolicy != nil {
		errs = append(errs, validateEnum(*spec.PreemptionPolicy, true, supportedPreemptionPolices, fldPath.Child("preemptionPolicy"))...)
	}
	if spec.RuntimeClassName != nil {
		errs = append(errs, validateNameRef(*spec.RuntimeClassName, NameIsDNSSubdomain, fldPath.Child("runtimeClassName"))...)
	}
	if spec.OS != nil {
		errs = append(errs, validateEnum(spec.OS.Name, true, supportedOSNames, fldPath.Child("os", "name"))...)
	}
	if spec.TerminationGracePeriodSeconds != nil && *spec.TerminationGracePeriodSeconds < 0 {
		// Kubernetes turns a negative grace period into 1 on create; a
		// stored negative value would mean "kill at once" to some
		// kubelets and "wait forever" to others.
		errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *spec.TerminationGracePeriodSeconds, isNegativeErrorMsg))
	}
	for i, rg := range spec.ReadinessGates {
		errs = append(errs, validateQualifiedName(string(rg.ConditionType), fldPath.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	var gates duplicates[string]
	for i, g := range spec.SchedulingGates {
		p := fldPath.Child("schedulingGates").Index(i)
		errs = append(errs, validateQualifiedName(g.Name, p.Child("name"))...)
		if gates.add(g.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), g.Name))
		}
	}
	var claims duplicates[string]
	for i, c := range spec.ResourceClaims {
		p := fldPath.Child("resourceClaims").Index(i)
		errs = append(errs, validateDNS1123Label(c.Name, p.Child("name"))...)
		if claims.add(c.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		}
	}
	return errs
}

// validateDNSPolicy checks dnsPolicy and dnsConfig: policy None needs
// nameservers of its own.
func validateDNSPolicy(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	errs := validateEnum(spec.DNSPolicy, true, supportedDNSPolicies, fldPath.Child("dnsPolicy"))
	cfg := spec.DNSConfig
	if spec.DNSPolicy == corev1.DNSNone {
		if cfg == nil {
			return append(errs, field.Required(fldPath.Child("dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None"))
		}
		if len(cfg.Nameservers) == 0 {
			errs = append(errs, field.Required(fldPath.Child("dnsConfig", "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
		}
	}
	if cfg == nil {
		return errs
	}
	p := fldPath.Child("dnsConfig")
	if len(cfg.Nameservers) > maxDNSNameservers {
		errs = append(errs, field.Invalid(p.Child("nameservers"), cfg.Nameservers, fmt.Sprintf("must not have more than %v nameservers", maxDNSNameservers)))
	}
	for i, ns := range cfg.Nameservers {
		errs = append(errs, validateIP(ns, p.Child("nameservers").Index(i))...)
	}
	if len(cfg.Searches) > maxDNSSearchPaths {
		errs = append(errs, field.Invalid(p.Child("searches"), cfg.Searches, fmt.Sprintf("must not have more than %v search paths", maxDNSSearchPaths)))
	}
	if n := len(strings.Join(cfg.Searches, " ")); n > maxDNSSearchListChars {
		errs = append(errs, field.Invalid(p.Child("searches"), cfg.Searches, fmt.Sprintf("must not have more than %v characters (including spaces) in the search list", maxDNSSearchListChars)))
	}
	for i, s := range cfg.Searches {
		if s == "." {
			continue
		}
		errs = append(errs, validateDNS1123Subdomain(strings.TrimSuffix(s, "."), p.Child("searches").Index(i))...)
	}
	for i, o := range cfg.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(p.Child("options").Index(i).Child("name"), "must not be empty"))
		}
	}
	return errs
}

// validateHostPorts refuses two containers of the pod claiming the same
// host port, protocol and address.
func validateHostPorts(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	type key struct {
		ip    string
		port  int32
		proto corev1.Protocol
	}
	var seen duplicates[key]
	check := func(ctrs []corev1.Container, p *field.Path) {
		for i, c := range ctrs {
			for j, port := range c.Ports {
				if port.HostPort == 0 {
					continue
				}
				ip := port.HostIP
				if ip == "" {
					ip = "0.0.0.0"
				}
				if seen.add(key{ip, port.HostPort, port.Protocol}) {
					errs = append(errs, field.Duplicate(p.Index(i).Child("ports").Index(j).Child("hostPort"), fmt.Sprintf("%s/%d/%s", ip, port.HostPort, port.Protocol)))
				}
			}
		}
	}
	check(spec.InitContainers, fldPath.Child("initContainers"))
	check(spec.Containers, fldPath.Child("containers"))
	return errs
}
