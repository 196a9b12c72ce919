package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
)

// groupOrder is the order groups are advertised in, as Kubernetes does:
// kubectl prefers earlier groups when a short name is ambiguous (core
// events before events.k8s.io events).
var groupOrder = []string{
	"", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io", "autoscaling",
	"batch", "policy", "rbac.authorization.k8s.io", "storage.k8s.io", "coordination.k8s.io",
	"node.k8s.io", "discovery.k8s.io",
}

// groupInfo is one API group and its versions, preferred first.
type groupInfo struct {
	name     string
	versions []string
}

// discovery holds the discovery documents, encoded once.
type discovery struct {
	// docs by path: /api, /apis, /apis/<g>, /api/v1, /apis/<g>/<v>.
	docs map[string][]byte
	// aggregated: /api and /apis in apidiscovery.k8s.io/v2 form.
	aggregated map[string][]byte
	etags      map[string]string
}

var standardVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

func (res *resource) verbs() metav1.Verbs {
	if res.store == nil {
		return metav1.Verbs{"create"}
	}
	return standardVerbs
}

func (s *Server) buildDiscovery() (*discovery, error) {
	d := &discovery{docs: map[string][]byte{}, aggregated: map[string][]byte{}, etags: map[string]string{}}
	byGV := map[schema.GroupVersion][]*resource{}
	for gvr, res := range s.resources {
		byGV[gvr.GroupVersion()] = append(byGV[gvr.GroupVersion()], res)
	}
	rank := func(g string) int {
		for i, n := range groupOrder {
			if n == g {
				return i
			}
		}
		return len(groupOrder)
	}
	seen := map[string]*groupInfo{}
	for gv := range byGV {
		gi := seen[gv.Group]
		if gi == nil {
			gi = &groupInfo{name: gv.Group}
			seen[gv.Group] = gi
		}
		gi.versions = append(gi.versions, gv.Version)
	}
	for _, gi := range seen {
		sort.Slice(gi.versions, func(i, j int) bool { return gi.versions[i] > gi.versions[j] })
		s.groups = append(s.groups, *gi)
	}
	sort.Slice(s.groups, func(i, j int) bool {
		ri, rj := rank(s.groups[i].name), rank(s.groups[j].name)
		if ri != rj {
			return ri < rj
		}
		return s.groups[i].name < s.groups[j].name
	})

	put := func(path string, v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		d.docs[path] = data
		return nil
	}
	// /api
	if err := put("/api", &metav1.APIVersions{
		TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
		Versions:                   []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: s.cfg.ExternalHost}},
	}); err != nil {
		return nil, err
	}
	groupList := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	var coreAgg, groupsAgg apidiscoveryv2.APIGroupDiscoveryList
	coreAgg.TypeMeta = metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}
	groupsAgg.TypeMeta = coreAgg.TypeMeta
	for _, g := range s.groups {
		agg := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.name}}
		var gvs []metav1.GroupVersionForDiscovery
		for _, v := range g.versions {
			gv := schema.GroupVersion{Group: g.name, Version: v}
			gvs = append(gvs, metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: v})
			list, aggV := s.resourceList(gv, byGV[gv])
			path := "/apis/" + gv.String()
			if g.name == "" {
				path = "/api/v1"
			}
			if err := put(path, list); err != nil {
				return nil, err
			}
			agg.Versions = append(agg.Versions, aggV)
		}
		if g.name == "" {
			coreAgg.Items = append(coreAgg.Items, agg)
			continue
		}
		groupsAgg.Items = append(groupsAgg.Items, agg)
		apiGroup := metav1.APIGroup{Name: g.name, Versions: gvs, PreferredVersion: gvs[0]}
		groupList.Groups = append(groupList.Groups, apiGroup)
		apiGroup.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
		if err := put("/apis/"+g.name, &apiGroup); err != nil {
			return nil, err
		}
	}
	if err := s.addExternalDiscovery(put, groupList, &groupsAgg); err != nil {
		return nil, err
	}
	if err := put("/apis", groupList); err != nil {
		return nil, err
	}
	for path, v := range map[string]any{"/api": &coreAgg, "/apis": &groupsAgg} {
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		d.aggregated[path] = data
	}
	for path, data := range d.docs {
		d.etags[path] = etag(data)
	}
	for path, data := range d.aggregated {
		d.etags["agg:"+path] = etag(data)
	}
	return d, nil
}

func etag(data []byte) string {
	h := sha256.Sum256(data)
	return `"` + hex.EncodeToString(h[:16]) + `"`
}

// resourceList builds the discovery documents of one group version.
func (s *Server) resourceList(gv schema.GroupVersion, ress []*resource) (*metav1.APIResourceList, apidiscoveryv2.APIVersionDiscovery) {
	sort.Slice(ress, func(i, j int) bool { return ress[i].info.Resource < ress[j].info.Resource })
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	agg := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
	for _, res := range ress {
		info := res.info
		scope := apidiscoveryv2.ScopeCluster
		if info.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		singular := strings.ToLower(info.Kind)
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: info.Resource, SingularName: singular, Namespaced: info.Namespaced, Kind: info.Kind,
			Verbs: res.verbs(), ShortNames: info.ShortNames, Categories: info.Categories,
		})
		ar := apidiscoveryv2.APIResourceDiscovery{
			Resource: info.Resource, SingularResource: singular, Scope: scope, Verbs: res.verbs(),
			ShortNames: info.ShortNames, Categories: info.Categories,
			ResponseKind: &metav1.GroupVersionKind{Group: info.Group, Version: info.Version, Kind: info.Kind},
		}
		names := make([]string, 0, len(res.subresources))
		for n := range res.subresources {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			sub := res.subresources[n]
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: info.Resource + "/" + n, Namespaced: info.Namespaced, Kind: sub.kind.Kind,
				Group: sub.kind.Group, Version: sub.kind.Version, Verbs: sub.verbs,
			})
			ar.Subresources = append(ar.Subresources, apidiscoveryv2.APISubresourceDiscovery{
				Subresource:  n,
				ResponseKind: &metav1.GroupVersionKind{Group: sub.kind.Group, Version: sub.kind.Version, Kind: sub.kind.Kind},
				Verbs:        sub.verbs,
			})
		}
		agg.Resources = append(agg.Resources, ar)
	}
	return list, agg
}

const aggregatedType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated reports whether Accept asks for aggregated discovery
// (v2) before plain JSON.
func wantsAggregated(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		p := strings.ReplaceAll(strings.TrimSpace(part), " ", "")
		if strings.Contains(p, "as=APIGroupDiscoveryList") && strings.Contains(p, "g=apidiscovery.k8s.io") && strings.Contains(p, "v=v2") && !strings.Contains(p, "v=v2beta1") {
			return strings.HasPrefix(p, "application/json")
		}
		if strings.HasPrefix(p, codec.JSON) || strings.HasPrefix(p, "*/*") {
			return false
		}
	}
	return false
}

// serveDiscovery answers a discovery path; false if path is not one.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) bool {
	path := strings.TrimSuffix(r.URL.Path, "/")
	if data, ok := s.disco.aggregated[path]; ok && wantsAggregated(r.Header.Get("Accept")) {
		tag := s.disco.etags["agg:"+path]
		w.Header().Set("Vary", "Accept")
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return true
		}
		w.Header().Set("Content-Type", aggregatedType)
		w.WriteHeader(http.StatusOK)
		w.Write(data)
		return true
	}
	data, ok := s.disco.docs[path]
	if !ok {
		return false
	}
	if _, err := codec.Negotiate(r.Header.Get("Accept"), false); err != nil {
		s.writeError(w, r, err)
		return true
	}
	w.Header().Set("Vary", "Accept")
	w.Header().Set("ETag", s.disco.etags[path])
	w.Header().Set("Content-Type", codec.JSON)
	w.WriteHeader(http.StatusOK)
	w.Write(data)
	return true
}
