package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"time"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/kubeletproxy"
	"github.com/podvisor/podvisor/internal/apiserver/metricsapi"
	"github.com/podvisor/podvisor/internal/storage"
)

// KubeletConfig lets the server reach node kubelets: pods/log, exec,
// attach, portforward and nodes/proxy are proxied to them, and the
// metrics API (metrics.k8s.io) is served from their stats.
type KubeletConfig struct {
	// ClientCertificate is the API server's kubelet client certificate.
	ClientCertificate tls.Certificate
	// KubeletCAs verifies kubelets' serving certificates (nil: not
	// verified, as Kubernetes without --kubelet-certificate-authority).
	KubeletCAs *x509.CertPool
	// MetricsWindow is the kubelets' stats interval; 0 is 10s.
	MetricsWindow time.Duration
}

// ExternalGroup is an API group served by a handler of its own (the
// metrics API): discovery lists it, and the pipeline authenticates and
// authorizes its requests as resource requests before handing them over.
type ExternalGroup struct {
	Group metav1.APIGroup
	// Resources has one list per version of Group.
	Resources []metav1.APIResourceList
	Handler   http.Handler
}

// setUpKubelets builds the kubelet proxy and the metrics API group from
// cfg.Kubelet (called by New when it is set).
func (s *Server) setUpKubelets(k *KubeletConfig) error {
	kc, err := kubeletproxy.New(kubeletproxy.Config{ClientCertificate: k.ClientCertificate, KubeletCAs: k.KubeletCAs},
		kubeletproxy.Deps{Nodes: storeLister{s}, Logger: s.log})
	if err != nil {
		return err
	}
	if s.deps.Proxy == nil {
		s.deps.Proxy = kc
	}
	api, err := metricsapi.New(metricsapi.Config{Window: k.MetricsWindow},
		metricsapi.Deps{Summaries: kc, Lister: storeLister{s}, Logger: s.log, Now: s.now})
	if err != nil {
		return err
	}
	s.external = append(s.external, ExternalGroup{Group: metricsapi.Group(), Resources: []metav1.APIResourceList{metricsapi.Resources()}, Handler: api})
	return nil
}

// externalFor returns the external group serving group, or nil.
func (s *Server) externalFor(group string) *ExternalGroup {
	for i := range s.external {
		if s.external[i].Group.Name == group {
			return &s.external[i]
		}
	}
	return nil
}

// addExternalDiscovery lists the external groups in the discovery
// documents (legacy and aggregated).
func (s *Server) addExternalDiscovery(put func(string, any) error, groupList *metav1.APIGroupList, agg *apidiscoveryv2.APIGroupDiscoveryList) error {
	for _, g := range s.external {
		groupList.Groups = append(groupList.Groups, metav1.APIGroup{Name: g.Group.Name, Versions: g.Group.Versions, PreferredVersion: g.Group.PreferredVersion})
		if err := put("/apis/"+g.Group.Name, &g.Group); err != nil {
			return err
		}
		ad := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.Group.Name}}
		for _, rl := range g.Resources {
			rl := rl
			if err := put("/apis/"+rl.GroupVersion, &rl); err != nil {
				return err
			}
			gv, err := schema.ParseGroupVersion(rl.GroupVersion)
			if err != nil {
				return fmt.Errorf("external group %s: %w", g.Group.Name, err)
			}
			v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
			for _, r := range rl.APIResources {
				scope := apidiscoveryv2.ScopeCluster
				if r.Namespaced {
					scope = apidiscoveryv2.ScopeNamespace
				}
				v.Resources = append(v.Resources, apidiscoveryv2.APIResourceDiscovery{
					Resource: r.Name, SingularResource: r.SingularName, Scope: scope, Verbs: r.Verbs,
					ResponseKind: &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: r.Kind},
				})
			}
			ad.Versions = append(ad.Versions, v)
		}
		agg.Items = append(agg.Items, ad)
	}
	return nil
}

// streamingUpgrade reports a GET upgrade of pods/exec, pods/attach or
// pods/portforward (kubectl's WebSocket transport), which Kubernetes
// authorizes with create as well as get, so that read-only access to
// those subresources never runs commands.
func streamingUpgrade(ri *requestInfo, r *http.Request) bool {
	if !ri.IsResource || ri.APIGroup != "" || ri.Resource != "pods" || ri.Verb != "get" {
		return false
	}
	switch ri.Subresource {
	case "exec", "attach", "portforward":
	default:
		return false
	}
	return strings.TrimSpace(r.Header.Get("Upgrade")) != ""
}

// storeLister reads nodes and pods from the server's stores (watch
// caches) for the kubelet proxy and the metrics API.
type storeLister struct{ s *Server }

func (l storeLister) store(resource string) (*resource, error) {
	res := l.s.byGR[schema.GroupResource{Resource: resource}]
	if res == nil || res.store == nil {
		return nil, fmt.Errorf("no %s store", resource)
	}
	return res, nil
}

// GetNode implements kubeletproxy.NodeGetter.GetNode.
func (l storeLister) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	res, err := l.store("nodes")
	if err != nil {
		return nil, err
	}
	e, err := res.store.Get(ctx, "", name, "")
	if err != nil {
		return nil, err
	}
	n, ok := e.Obj.(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("node %s: unexpected %T", name, e.Obj)
	}
	return n, nil
}

func (l storeLister) list(ctx context.Context, resource, ns string) ([]*storage.Entry, error) {
	res, err := l.store(resource)
	if err != nil {
		return nil, err
	}
	lr, err := res.store.List(ctx, ns, &metav1.ListOptions{}, storage.Predicate{})
	if err != nil {
		return nil, err
	}
	return lr.Items, nil
}

// ListNodes implements metricsapi.Lister.ListNodes.
func (l storeLister) ListNodes(ctx context.Context) ([]*corev1.Node, error) {
	es, err := l.list(ctx, "nodes", "")
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Node, 0, len(es))
	for _, e := range es {
		if n, ok := e.Obj.(*corev1.Node); ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// ListPods implements metricsapi.Lister.ListPods.
func (l storeLister) ListPods(ctx context.Context, ns string) ([]*corev1.Pod, error) {
	es, err := l.list(ctx, "pods", ns)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(es))
	for _, e := range es {
		if p, ok := e.Obj.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out, nil
}
