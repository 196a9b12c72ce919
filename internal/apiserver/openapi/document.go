package openapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Service holds the built documents and serves them; see ServeHTTP. It is
// immutable after New and safe for concurrent use.
type Service struct {
	v2    *document
	index *document
	v3    map[string]*document // by name: "api/v1", "apis/apps/v1"

	models map[string]*spec.Schema
	stats  Stats
	built  time.Time
}

// Stats describes what New built.
type Stats struct {
	// BuildTime is how long New took, encodings included.
	BuildTime time.Duration
	// Definitions is the number of schema definitions.
	Definitions int
	// V2Bytes is the size of the v2 JSON document; V3Bytes the sum of the
	// v3 group-version JSON documents.
	V2Bytes, V3Bytes int
}

// New builds the OpenAPI documents of cfg's resources.
func New(cfg Config) (*Service, error) {
	return build(cfg, kubernetesMarkers(), kubernetesEnums())
}

// build builds the documents with the given markers; tests build without
// them to find what reflection alone misses.
func build(cfg Config, markers map[string]map[string]marker, enums map[string]enum) (*Service, error) {
	start := time.Now()
	defs, byGV, gvs, err := collect(cfg, markers, enums)
	if err != nil {
		return nil, err
	}
	info := &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: cfg.Version}}
	s := &Service{v3: map[string]*document{}, models: defs.defs, built: start}

	// v3: one document per group version with the definitions it reaches.
	index := struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}{Paths: map[string]struct {
		ServerRelativeURL string `json:"serverRelativeURL"`
	}{}}
	for _, gv := range gvs {
		doc := &spec3.OpenAPI{
			Version:             "3.0.0",
			Info:                info,
			Paths:               &spec3.Paths{Paths: map[string]*spec3.Path{}},
			Components:          &spec3.Components{Schemas: map[string]*spec.Schema{}, SecuritySchemes: spec3.SecuritySchemes{"BearerToken": bearerV3()}},
			SecurityRequirement: []map[string][]string{{"BearerToken": {}}},
		}
		var roots []string
		for _, p := range byGV[gv] {
			doc.Paths.Paths[p.path] = p.v3()
			for _, o := range p.ops {
				roots = append(roots, o.body, o.response)
			}
		}
		for _, name := range reachable(defs.defs, roots) {
			doc.Components.Schemas[name] = defs.defs[name]
		}
		body, err := doc.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encoding v3 document of %s: %w", gv, err)
		}
		d := newDocument(body, v3ProtoFromJSON)
		name := gvDocName(gv)
		s.v3[name] = d
		s.stats.V3Bytes += len(body)
		u := url.URL{Path: "/openapi/v3/" + name, RawQuery: url.Values{"hash": {d.etag}}.Encode()}
		index.Paths[name] = struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		}{u.String()}
	}
	body, err := json.Marshal(index)
	if err != nil {
		return nil, fmt.Errorf("encoding v3 index: %w", err)
	}
	s.index = newDocument(body, nil)

	// v2: one document with everything.
	swagger := &spec.Swagger{SwaggerProps: spec.SwaggerProps{
		Swagger:             "2.0",
		Info:                info,
		Paths:               &spec.Paths{Paths: map[string]spec.PathItem{}},
		Definitions:         spec.Definitions{},
		SecurityDefinitions: spec.SecurityDefinitions{"BearerToken": bearerV2()},
		Security:            []map[string][]string{{"BearerToken": {}}},
	}}
	for _, gv := range gvs {
		for _, p := range byGV[gv] {
			swagger.Paths.Paths[p.path] = p.v2()
		}
	}
	for name, d := range defs.defs {
		if v2, ok := defs.v2[name]; ok {
			swagger.Definitions[name] = *v2
			continue
		}
		swagger.Definitions[name] = toV2(*d)
	}
	if body, err = swagger.MarshalJSON(); err != nil {
		return nil, fmt.Errorf("encoding v2 document: %w", err)
	}
	s.v2 = newDocument(body, v2ProtoFromJSON)
	s.stats.V2Bytes = len(body)
	s.stats.Definitions = len(defs.defs)
	s.stats.BuildTime = time.Since(start)
	return s, nil
}

// collect defines the schemas and path items of cfg's resources, grouped
// by group version; gvs lists the group versions in document-name order.
func collect(cfg Config, markers map[string]map[string]marker, enums map[string]enum) (*definitions, map[schema.GroupVersion][]*pathItem, []schema.GroupVersion, error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, nil, fmt.Errorf("openapi config: %w", err)
	}
	defs := newDefinitions(cfg.Scheme, markers, enums)
	pb, err := newPathBuilder(cfg.Scheme, defs)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("building meta definitions: %w", err)
	}
	byGV := map[schema.GroupVersion][]*pathItem{}
	var gvs []schema.GroupVersion
	for _, r := range cfg.Resources {
		gv := r.Kind.GroupVersion()
		if _, ok := byGV[gv]; !ok {
			gvs = append(gvs, gv)
			byGV[gv] = []*pathItem{rootPath(gv)}
		}
		items, err := pb.resourcePaths(r)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("resource %s %s: %w", gv, r.Plural, err)
		}
		byGV[gv] = append(byGV[gv], items...)
	}
	for _, items := range byGV {
		for _, p := range items {
			p.hoist()
		}
	}
	sort.Slice(gvs, func(i, j int) bool { return gvDocName(gvs[i]) < gvDocName(gvs[j]) })
	return defs, byGV, gvs, nil
}

// Models returns the v3 schemas of every definition, keyed by definition
// name, as managedfields.NewTypeConverter takes them. Callers must not
// modify them.
func (s *Service) Models() map[string]*spec.Schema { return s.models }

// Stats returns what New built and how long it took.
func (s *Service) Stats() Stats { return s.stats }

// GroupVersions returns the names of the v3 group-version documents, e.g.
// "api/v1", "apis/apps/v1", sorted.
func (s *Service) GroupVersions() []string {
	names := make([]string, 0, len(s.v3))
	for name := range s.v3 {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func bearerV2() *spec.SecurityScheme {
	return &spec.SecurityScheme{SecuritySchemeProps: spec.SecuritySchemeProps{
		Description: "Bearer Token authentication", Type: "apiKey", Name: "authorization", In: "header",
	}}
}

func bearerV3() *spec3.SecurityScheme {
	return &spec3.SecurityScheme{SecuritySchemeProps: spec3.SecuritySchemeProps{
		Description: "Bearer Token authentication", Type: "apiKey", Name: "authorization", In: "header",
	}}
}

// reachable returns, sorted, the definitions named in roots and every
// definition they reference, transitively.
func reachable(defs map[string]*spec.Schema, roots []string) []string {
	seen := map[string]bool{}
	var visit func(name string)
	var walk func(s *spec.Schema)
	visit = func(name string) {
		if name == "" || seen[name] {
			return
		}
		d, ok := defs[name]
		if !ok {
			return
		}
		seen[name] = true
		walk(d)
	}
	walk = func(s *spec.Schema) {
		if ref := s.Ref.String(); ref != "" {
			visit(strings.TrimPrefix(ref, v3RefPrefix))
		}
		for i := range s.AllOf {
			walk(&s.AllOf[i])
		}
		for i := range s.OneOf {
			walk(&s.OneOf[i])
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(s.Items.Schema)
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			walk(s.AdditionalProperties.Schema)
		}
		for _, p := range s.Properties {
			walk(&p)
		}
	}
	for _, r := range roots {
		visit(r)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
