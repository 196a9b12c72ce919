package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
			IPFamilyPolicy:        ptr(corev1.IPFamilyPolicySingleStack),
		},
	}
}

func nodePortService() *corev1.Service {
	s := validService()
	s.Spec.Type = corev1.ServiceTypeNodePort
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	s.Spec.Ports[0].NodePort = 30080
	return s
}

func lbService() *corev1.Service {
	s := nodePortService()
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	s.Spec.AllocateLoadBalancerNodePorts = ptr(true)
	return s
}

func TestValidateService(t *testing.T) {
	tests := []struct {
		name string
		svc  func() *corev1.Service
		opts ServiceOptions
		want []string
	}{
		{name: "cluster IP", svc: validService},
		{name: "allocated cluster IP", svc: func() *corev1.Service {
			s := validService()
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies = "10.43.0.10", []string{"10.43.0.10"}, []corev1.IPFamily{corev1.IPv4Protocol}
			return s
		}},
		{name: "node port", svc: nodePortService},
		{name: "load balancer", svc: lbService},
		{name: "headless without ports", svc: func() *corev1.Service {
			s := validService()
			s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil
			return s
		}},
		{name: "external name", svc: func() *corev1.Service {
			s := validService()
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone}
			return s
		}},
		{name: "name must be DNS-1035", svc: func() *corev1.Service { s := validService(); s.Name = "1web"; return s }, want: want(invalid, "metadata.name")},
		{name: "no ports", svc: func() *corev1.Service { s := validService(); s.Spec.Ports = nil; return s }, want: want(required, "spec.ports")},
		{name: "unknown type", svc: func() *corev1.Service { s := validService(); s.Spec.Type = "Magic"; return s }, want: want(notSupported, "spec.type")},
		{name: "second port unnamed", svc: func() *corev1.Service {
			s := validService()
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: "TCP"})
			return s
		}, want: want(required, "spec.ports[1].name")},
		{name: "duplicate port", svc: func() *corev1.Service {
			s := validService()
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "other", Port: 80, TargetPort: intstr.FromInt32(8081), Protocol: "TCP"})
			return s
		}, want: want(duplicate, "spec.ports[1]")},
		{name: "port out of range", svc: func() *corev1.Service { s := validService(); s.Spec.Ports[0].Port = 0; return s }, want: want(invalid, "spec.ports[0].port")},
		{name: "protocol unknown", svc: func() *corev1.Service { s := validService(); s.Spec.Ports[0].Protocol = "HTTP"; return s }, want: want(notSupported, "spec.ports[0].protocol")},
		{name: "target port name too long", svc: func() *corev1.Service {
			s := validService()
			s.Spec.Ports[0].TargetPort = intstr.FromString("a-very-long-port-name")
			return s
		}, want: want(invalid, "spec.ports[0].targetPort")},
		{name: "node port on ClusterIP", svc: func() *corev1.Service { s := validService(); s.Spec.Ports[0].NodePort = 30001; return s }, want: want(forbidden, "spec.ports[0].nodePort")},
		{name: "node port outside default range", svc: func() *corev1.Service { s := nodePortService(); s.Spec.Ports[0].NodePort = 8080; return s }, want: want(invalid, "spec.ports[0].nodePort")},
		{name: "node port inside configured range", svc: func() *corev1.Service { s := nodePortService(); s.Spec.Ports[0].NodePort = 8080; return s },
			opts: ServiceOptions{NodePortRange: PortRange{Base: 8000, Size: 1000}}},
		{name: "node port outside configured range", svc: nodePortService, opts: ServiceOptions{NodePortRange: PortRange{Base: 8000, Size: 1000}}, want: want(invalid, "spec.ports[0].nodePort")},
		{name: "duplicate node port", svc: func() *corev1.Service {
			s := nodePortService()
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "b", Port: 81, TargetPort: intstr.FromInt32(81), Protocol: "TCP", NodePort: 30080})
			return s
		}, want: want(duplicate, "spec.ports[1].nodePort")},
		{name: "bad cluster IP", svc: func() *corev1.Service { s := validService(); s.Spec.ClusterIP = "10.43.0.300"; return s }, want: want(invalid, "spec.clusterIP")},
		{name: "cluster IPs mismatch", svc: func() *corev1.Service {
			s := validService()
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.1", []string{"10.43.0.2"}
			return s
		}, want: want(invalid, "spec.clusterIPs")},
		{name: "single stack with two IPs", svc: func() *corev1.Service {
			s := validService()
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.1", []string{"10.43.0.1", "fd00::1"}
			return s
		}, want: want(invalid, "spec.ipFamilyPolicy")},
		{name: "IP family mismatch", svc: func() *corev1.Service {
			s := validService()
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies = "10.43.0.1", []string{"10.43.0.1"}, []corev1.IPFamily{corev1.IPv6Protocol}
			return s
		}, want: want(invalid, "spec.clusterIPs[0]")},
		{name: "unknown IP family", svc: func() *corev1.Service { s := validService(); s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"}; return s }, want: want(notSupported, "spec.ipFamilies[0]")},
		{name: "headless node port", svc: func() *corev1.Service { s := nodePortService(); s.Spec.ClusterIP = corev1.ClusterIPNone; return s }, want: want(invalid, "spec.clusterIPs[0]")},
		{name: "external name without name", svc: func() *corev1.Service {
			s := validService()
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, SessionAffinity: corev1.ServiceAffinityNone}
			return s
		}, want: want(required, "spec.externalName")},
		{name: "external name with cluster IP and policy", svc: func() *corev1.Service {
			s := validService()
			s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIP = corev1.ServiceTypeExternalName, "db.example.com", "10.43.0.1"
			return s
		}, want: want(forbidden, "spec.clusterIP", forbidden, "spec.ipFamilyPolicy")},
		{name: "missing internal traffic policy", svc: func() *corev1.Service { s := validService(); s.Spec.InternalTrafficPolicy = nil; return s }, want: want(required, "spec.internalTrafficPolicy")},
		{name: "external traffic policy on ClusterIP", svc: func() *corev1.Service {
			s := validService()
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			return s
		}, want: want(invalid, "spec.externalTrafficPolicy")},
		{name: "node port without external traffic policy", svc: func() *corev1.Service {
			s := nodePortService()
			s.Spec.ExternalTrafficPolicy = ""
			return s
		}, want: want(required, "spec.externalTrafficPolicy")},
		{name: "external traffic policy unknown", svc: func() *corev1.Service {
			s := nodePortService()
			s.Spec.ExternalTrafficPolicy = "Global"
			return s
		}, want: want(notSupported, "spec.externalTrafficPolicy")},
		{name: "health check port needs Local LB", svc: func() *corev1.Service {
			s := lbService()
			s.Spec.HealthCheckNodePort = 30500
			return s
		}, want: want(invalid, "spec.healthCheckNodePort")},
		{name: "source ranges on ClusterIP", svc: func() *corev1.Service {
			s := validService()
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
			return s
		}, want: want(forbidden, "spec.loadBalancerSourceRanges")},
		{name: "bad source range", svc: func() *corev1.Service {
			s := lbService()
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/33"}
			return s
		}, want: want(invalid, "spec.loadBalancerSourceRanges[0]")},
		{name: "LB without allocateLoadBalancerNodePorts", svc: func() *corev1.Service {
			s := lbService()
			s.Spec.AllocateLoadBalancerNodePorts = nil
			return s
		}, want: want(required, "spec.allocateLoadBalancerNodePorts")},
		{name: "loopback external IP", svc: func() *corev1.Service {
			s := validService()
			s.Spec.ExternalIPs = []string{"127.0.0.1"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			return s
		}, want: want(invalid, "spec.externalIPs[0]")},
		{name: "client IP affinity without config", svc: func() *corev1.Service {
			s := validService()
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			return s
		}, want: want(required, "spec.sessionAffinityConfig")},
		{name: "client IP timeout too long", svc: func() *corev1.Service {
			s := validService()
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(86401))}}
			return s
		}, want: want(invalid, "spec.sessionAffinityConfig.clientIP.timeoutSeconds")},
		{name: "selector label value", svc: func() *corev1.Service {
			s := validService()
			s.Spec.Selector = map[string]string{"app": "bad value"}
			return s
		}, want: want(invalid, "spec.selector")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, ValidateService(tc.svc(), tc.opts), tc.want)
		})
	}
}

func TestValidateServiceNodePortMessage(t *testing.T) {
	s := nodePortService()
	s.Spec.Ports[0].NodePort = 80
	errs := ValidateService(s, ServiceOptions{})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "30000-32767") {
		t.Errorf("got %v, want one error naming the range 30000-32767", errs)
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	allocated := func() *corev1.Service {
		s := validService()
		s.ResourceVersion = "5"
		s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies = "10.43.0.10", []string{"10.43.0.10"}, []corev1.IPFamily{corev1.IPv4Protocol}
		return s
	}
	tests := []struct {
		name   string
		mutate func(s *corev1.Service)
		want   []string
	}{
		{name: "ports change", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 81 }},
		{name: "to NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}},
		{name: "cluster IP changed", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.11", []string{"10.43.0.11"}
		}, want: want(invalid, "spec.clusterIPs[0]")},
		{name: "to ExternalName", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "x.example.com", SessionAffinity: corev1.ServiceAffinityNone}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := allocated()
			s := allocated()
			tc.mutate(s)
			checkErrs(t, ValidateServiceUpdate(s, old, ServiceOptions{}), tc.want)
		})
	}
}

func TestValidateServiceStatusUpdate(t *testing.T) {
	old := lbService()
	old.ResourceVersion = "2"
	s := old.DeepCopy()
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10", IPMode: ptr(corev1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example.com"}}
	checkErrs(t, ValidateServiceStatusUpdate(s, old), nil)
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "x"}, {Hostname: "10.0.0.1"}, {IPMode: ptr(corev1.LoadBalancerIPModeProxy)}}
	checkErrs(t, ValidateServiceStatusUpdate(s, old), want(invalid, "status.loadBalancer.ingress[0].ip",
		invalid, "status.loadBalancer.ingress[1].hostname", required, "status.loadBalancer.ingress[2].ip"))
}
