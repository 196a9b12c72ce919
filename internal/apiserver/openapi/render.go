package openapi

import (
	"net/http"
	"sort"

	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

const v2RefPrefix = "#/definitions/"

// types are the media types an operation answers with.
func (m mediaKind) types() []string {
	switch m {
	case mediaList, mediaWatch:
		return []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
	case mediaConnect:
		return []string{"*/*"}
	case mediaLog:
		return []string{"text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	}
	return []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
}

// patchMedia are the media types a patch operation accepts.
func patchMedia() []string {
	return []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
}

func sortParams(ps []param) []param {
	out := append([]param{}, ps...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (o *operation) extensions() spec.Extensions {
	ext := spec.Extensions{}
	if o.action != "" {
		ext[extAction] = o.action
	}
	if !o.gvk.Empty() {
		ext[extGVK] = map[string]interface{}{"group": o.gvk.Group, "version": o.gvk.Version, "kind": o.gvk.Kind}
	}
	return ext
}

// responseSchema is the v3 schema of an operation's answer.
func (o *operation) responseSchema(prefix string) *spec.Schema {
	if o.response == "" {
		return &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
	}
	return &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(prefix + o.response)}}
}

// --- OpenAPI v3 ---

func (q param) v3() *spec3.Parameter {
	return &spec3.Parameter{ParameterProps: spec3.ParameterProps{
		Name: q.name, In: q.in, Description: q.description, Required: q.required,
		Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{q.typ}, UniqueItems: true}},
	}}
}

func v3Params(ps []param) []*spec3.Parameter {
	var out []*spec3.Parameter
	for _, q := range sortParams(ps) {
		out = append(out, q.v3())
	}
	return out
}

func (o *operation) v3() *spec3.Operation {
	op := &spec3.Operation{OperationProps: spec3.OperationProps{
		Tags: []string{o.tag}, Description: o.description, OperationId: o.id,
		Parameters: v3Params(o.params),
		Responses:  &spec3.Responses{ResponsesProps: spec3.ResponsesProps{StatusCodeResponses: map[int]*spec3.Response{}}},
	}}
	op.Extensions = o.extensions()
	if o.body != "" {
		body := &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(v3RefPrefix + o.body)}}
		types := []string{"*/*"}
		if o.patch {
			types = patchMedia()
		}
		content := map[string]*spec3.MediaType{}
		for _, t := range types {
			content[t] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: body}}
		}
		op.RequestBody = &spec3.RequestBody{RequestBodyProps: spec3.RequestBodyProps{Content: content, Required: o.bodyNeeded}}
	}
	for _, code := range o.codes {
		content := map[string]*spec3.MediaType{}
		for _, t := range o.media.types() {
			content[t] = &spec3.MediaType{MediaTypeProps: spec3.MediaTypeProps{Schema: o.responseSchema(v3RefPrefix)}}
		}
		op.Responses.StatusCodeResponses[code] = &spec3.Response{ResponseProps: spec3.ResponseProps{Description: http.StatusText(code), Content: content}}
	}
	op.Responses.StatusCodeResponses[http.StatusUnauthorized] = &spec3.Response{ResponseProps: spec3.ResponseProps{Description: http.StatusText(http.StatusUnauthorized)}}
	return op
}

func (p *pathItem) v3() *spec3.Path {
	path := &spec3.Path{PathProps: spec3.PathProps{Parameters: v3Params(p.params)}}
	for i := range p.ops {
		o := p.ops[i].v3()
		switch p.ops[i].method {
		case "get":
			path.Get = o
		case "put":
			path.Put = o
		case "post":
			path.Post = o
		case "patch":
			path.Patch = o
		case "delete":
			path.Delete = o
		}
	}
	return path
}

// --- OpenAPI v2 ---

func (q param) v2() spec.Parameter {
	return spec.Parameter{
		ParamProps:        spec.ParamProps{Name: q.name, In: q.in, Description: q.description, Required: q.required},
		SimpleSchema:      spec.SimpleSchema{Type: q.typ},
		CommonValidations: spec.CommonValidations{UniqueItems: true},
	}
}

func v2Params(ps []param) []spec.Parameter {
	var out []spec.Parameter
	for _, q := range sortParams(ps) {
		out = append(out, q.v2())
	}
	return out
}

func (o *operation) v2() *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		Description: o.description, Tags: []string{o.tag}, ID: o.id, Schemes: []string{"https"},
		Consumes: []string{"*/*"}, Produces: o.media.types(),
		Responses: &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}},
	}}
	op.Extensions = o.extensions()
	if o.patch {
		op.Consumes = patchMedia()
	}
	if o.body != "" {
		op.Parameters = append(op.Parameters, spec.Parameter{ParamProps: spec.ParamProps{
			Name: "body", In: "body", Required: o.bodyNeeded,
			Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(v2RefPrefix + o.body)}},
		}})
	}
	op.Parameters = append(op.Parameters, v2Params(o.params)...)
	for _, code := range o.codes {
		op.Responses.StatusCodeResponses[code] = spec.Response{ResponseProps: spec.ResponseProps{
			Description: http.StatusText(code), Schema: o.responseSchema(v2RefPrefix),
		}}
	}
	op.Responses.StatusCodeResponses[http.StatusUnauthorized] = spec.Response{ResponseProps: spec.ResponseProps{Description: http.StatusText(http.StatusUnauthorized)}}
	return op
}

func (p *pathItem) v2() spec.PathItem {
	path := spec.PathItem{PathItemProps: spec.PathItemProps{Parameters: v2Params(p.params)}}
	for i := range p.ops {
		o := p.ops[i].v2()
		switch p.ops[i].method {
		case "get":
			path.Get = o
		case "put":
			path.Put = o
		case "post":
			path.Post = o
		case "patch":
			path.Patch = o
		case "delete":
			path.Delete = o
		}
	}
	return path
}

// toV2 rewrites a v3 schema for a v2 document: references point into
// #/definitions/, and references with siblings lose their allOf wrapping
// (v2 allows siblings).
func toV2(s spec.Schema) spec.Schema {
	if ref := s.Ref.String(); ref != "" {
		s.Ref = spec.MustCreateRef(v2RefPrefix + ref[len(v3RefPrefix):])
	}
	if len(s.AllOf) == 1 && s.AllOf[0].Ref.String() != "" && s.Ref.String() == "" {
		s.Ref = toV2(s.AllOf[0]).Ref
		s.AllOf = nil
	}
	s.AllOf = toV2All(s.AllOf)
	s.OneOf = toV2All(s.OneOf)
	if s.Items != nil && s.Items.Schema != nil {
		items := toV2(*s.Items.Schema)
		s.Items = &spec.SchemaOrArray{Schema: &items}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		values := toV2(*s.AdditionalProperties.Schema)
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &values}
	}
	if len(s.Properties) > 0 {
		props := make(map[string]spec.Schema, len(s.Properties))
		for k, v := range s.Properties {
			props[k] = toV2(v)
		}
		s.Properties = props
	}
	return s
}

func toV2All(list []spec.Schema) []spec.Schema {
	if list == nil {
		return nil
	}
	out := make([]spec.Schema, len(list))
	for i := range list {
		out[i] = toV2(list[i])
	}
	return out
}
