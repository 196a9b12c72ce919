// Package services is the strategy for core/v1 services: defaults (type
// ClusterIP, TCP ports, target port = port), port and type checks, an
// immutable cluster IP, status. Cluster IPs and node ports themselves are
// allocated by the API server in the create transaction. Imported by the
// API server.
package services

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/registry"
)

// Strategy is the services strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy {
	return &Strategy{registry.Base{Namespaced: true, HasStatus: true, NameFn: apivalidation.NameIsDNS1035Label}}
}

var (
	_ registry.Strategy       = (*Strategy)(nil)
	_ registry.StatusStrategy = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Version: "v1", Resource: "services", Kind: "Service", Namespaced: true,
		ShortNames: []string{"svc"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.Service{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.ServiceList{} }

// Default implements registry.Strategy.Default.
func (*Strategy) Default(obj runtime.Object) {
	svc := obj.(*corev1.Service)
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if svc.Spec.SessionAffinity == "" {
		svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.InternalTrafficPolicy == nil {
		c := corev1.ServiceInternalTrafficPolicyCluster
		svc.Spec.InternalTrafficPolicy = &c
	}
	if (svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer) && svc.Spec.ExternalTrafficPolicy == "" {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.AllocateLoadBalancerNodePorts == nil {
		t := true
		svc.Spec.AllocateLoadBalancerNodePorts = &t
	}
}

// Validate implements registry.Strategy.Validate.
func (s *Strategy) Validate(obj runtime.Object) field.ErrorList {
	svc := obj.(*corev1.Service)
	errs := s.Base.Validate(obj)
	spec := field.NewPath("spec")
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		if len(svc.Spec.Ports) == 0 && svc.Spec.ClusterIP != corev1.ClusterIPNone {
			errs = append(errs, field.Required(spec.Child("ports"), ""))
		}
	case corev1.ServiceTypeExternalName:
		if svc.Spec.ExternalName == "" {
			errs = append(errs, field.Required(spec.Child("externalName"), ""))
		}
	default:
		errs = append(errs, field.NotSupported(spec.Child("type"), svc.Spec.Type, []string{"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}))
	}
	names := map[string]bool{}
	for i, p := range svc.Spec.Ports {
		pp := spec.Child("ports").Index(i)
		if len(svc.Spec.Ports) > 1 && p.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		}
		if p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			if names[p.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			names[p.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
		}
		switch p.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, []string{"SCTP", "TCP", "UDP"}))
		}
		if p.NodePort != 0 && svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		errs = append(errs, field.Forbidden(spec.Child("clusterIPs"), "may not be set for ExternalName services"))
	}
	for k, v := range svc.Spec.Selector {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(spec.Child("selector"), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(spec.Child("selector"), v, msg))
		}
	}
	return errs
}

// ValidateUpdate implements registry.Strategy.ValidateUpdate: the cluster
// IP may not change (except to or from an ExternalName service).
func (s *Strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	svc, o := obj.(*corev1.Service), old.(*corev1.Service)
	errs := append(s.Validate(obj), registry.MetaUpdateErrors(obj, old)...)
	if o.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.Type != corev1.ServiceTypeExternalName &&
		svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != o.Spec.ClusterIP {
		errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIP,
			fmt.Sprintf("may not change once set (was %q)", o.Spec.ClusterIP)))
	}
	return errs
}

// PrepareForUpdate implements registry.Strategy.PrepareForUpdate: an
// update that leaves out the cluster IP keeps the allocated one.
func (s *Strategy) PrepareForUpdate(obj, old runtime.Object) {
	s.Base.PrepareForUpdate(obj, old)
	svc, o := obj.(*corev1.Service), old.(*corev1.Service)
	if svc.Spec.ClusterIP == "" && svc.Spec.Type != corev1.ServiceTypeExternalName && o.Spec.Type != corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = o.Spec.ClusterIP, o.Spec.ClusterIPs
	}
}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	svc := obj.(*corev1.Service)
	return registry.MetaAttrs(obj, fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)})
}
