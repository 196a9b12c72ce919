package apiserver

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/apply"
	"github.com/podvisor/podvisor/internal/apiserver/openapi"
	"github.com/podvisor/podvisor/internal/registry"
)

// subresourceOptions are the query-parameter kinds of the proxied
// subresources, for OpenAPI.
var subresourceOptions = map[string]string{
	"log": "PodLogOptions", "exec": "PodExecOptions", "attach": "PodAttachOptions",
	"portforward": "PodPortForwardOptions",
}

// openapiResources describes the served resources for the OpenAPI
// documents.
func (s *Server) openapiResources() []openapi.Resource {
	var out []openapi.Resource
	for _, res := range s.resources {
		if res.store == nil {
			// The create-only reviews have no list kind to describe.
			continue
		}
		r := openapi.Resource{Kind: res.info.GVK(), Plural: res.info.Resource, Namespaced: res.info.Namespaced, Verbs: res.verbs()}
		if ret, ok := res.store.Strategy().(registry.DeletedObjectReturner); ok {
			r.DeleteReturnsObject = ret.ReturnDeletedObject()
		}
		names := make([]string, 0, len(res.subresources))
		for n := range res.subresources {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			sub := res.subresources[n]
			os := openapi.Subresource{Name: n, Kind: sub.kind, Verbs: sub.verbs}
			if sub.proxied {
				os.Verbs = []string{openapi.VerbConnect}
				if n == "log" {
					os.Verbs = []string{openapi.VerbGet}
				}
				if opt, ok := subresourceOptions[n]; ok && res.info.Resource == "pods" {
					os.Options = corev1.SchemeGroupVersion.WithKind(opt)
				}
				os.Kind = schema.GroupVersionKind{}
				if n == "log" {
					os.Kind = corev1.SchemeGroupVersion.WithKind("Pod")
				}
			}
			r.Subresources = append(r.Subresources, os)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind.String()+out[i].Plural < out[j].Kind.String()+out[j].Plural })
	return out
}

// buildSchema builds the OpenAPI documents and, from their models, the
// field manager of server-side apply.
func (s *Server) buildSchema(scheme *runtime.Scheme) error {
	var err error
	s.openapi, err = openapi.New(openapi.Config{Scheme: scheme, Resources: s.openapiResources(), Version: strings.TrimSuffix(GitVersion, "+podvisor")})
	if err != nil {
		return fmt.Errorf("building the OpenAPI documents: %w", err)
	}
	var eps []apply.Endpoint
	for _, res := range s.resources {
		if res.store == nil {
			continue
		}
		ep := apply.Endpoint{Kind: res.info.GVK()}
		if st, ok := res.store.Strategy().(registry.StatusStrategy); ok && st.HasStatusSubresource() {
			ep.ResetFields = [][]string{{"status"}}
			eps = append(eps, apply.Endpoint{Kind: res.info.GVK(), Subresource: "status", ResetFields: [][]string{{"spec"}}})
		}
		eps = append(eps, ep)
	}
	s.fields, err = apply.New(apply.Config{Models: s.openapi.Models(), Scheme: scheme, Endpoints: eps})
	if err != nil {
		return fmt.Errorf("building the field manager: %w", err)
	}
	st := s.openapi.Stats()
	s.log.Debug("OpenAPI documents built", "definitions", st.Definitions, "v2Bytes", st.V2Bytes, "v3Bytes", st.V3Bytes, "took", st.BuildTime.String())
	return nil
}

// fieldManager adapts the apply manager for the stores: it records who set
// which fields on every ordinary write.
type fieldManager struct {
	m   *apply.Manager
	log *slog.Logger
}

// Update implements rest.FieldManager.
func (f fieldManager) Update(live, obj runtime.Object, subresource, manager string) runtime.Object {
	out, err := f.m.Update(live, obj, subresource, manager)
	if err != nil {
		f.log.Info("tracking managed fields", "manager", manager, "err", err)
	}
	return out
}
