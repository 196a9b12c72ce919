package openapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Extension names Kubernetes puts in its OpenAPI documents.
const (
	extGVK           = "x-kubernetes-group-version-kind"
	extAction        = "x-kubernetes-action"
	extPatchStrategy = "x-kubernetes-patch-strategy"
	extPatchMergeKey = "x-kubernetes-patch-merge-key"
	extListType      = "x-kubernetes-list-type"
	extListMapKeys   = "x-kubernetes-list-map-keys"
	extMapType       = "x-kubernetes-map-type"
)

const v3RefPrefix = "#/components/schemas/"

// Interfaces of the special apimachinery types (Quantity, IntOrString, Time,
// MicroTime) that say how they appear in OpenAPI, and of generated helpers.
type (
	openAPITypeFormat interface {
		OpenAPISchemaType() []string
		OpenAPISchemaFormat() string
	}
	openAPIV3OneOf    interface{ OpenAPIV3OneOfTypes() []string }
	openAPIModelNamer interface{ OpenAPIModelName() string }
	swaggerDocumented interface{ SwaggerDoc() map[string]string }
)

// specialDescription describes the apimachinery types that have no
// SwaggerDoc method.
func specialDescription(name string) string {
	switch name {
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return "Quantity is a fixed-point representation of a number, serialized as a string such as \"100m\", \"1.5Gi\" or \"2\": a signed number with an optional binary (Ki, Mi, Gi, Ti, Pi, Ei), decimal (m, k, M, G, T, P, E) or decimal exponent (e3) suffix."
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return "IntOrString is a type that can hold an int32 or a string. When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type."
	case "io.k8s.apimachinery.pkg.apis.meta.v1.Time":
		return "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON, as an RFC 3339 timestamp with second precision."
	case "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime":
		return "MicroTime is version of Time with microsecond level precision."
	case "io.k8s.apimachinery.pkg.apis.meta.v1.Duration":
		return "Duration is a wrapper around time.Duration which supports correct marshaling to YAML and JSON, as a string such as \"1h30m\"."
	case "io.k8s.apimachinery.pkg.runtime.RawExtension":
		return "RawExtension holds an embedded object of any kind, identified by its own apiVersion and kind."
	case "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent":
		return "Event represents a single event to a watched resource."
	case "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList":
		return "APIResourceList is a list of APIResource, it is used to expose the name of the resources supported in a specific group and version, and if the resource is namespaced."
	}
	return ""
}

// definitions collects the v3 schema of every Go type reachable from the
// types it is asked about, keyed by Kubernetes' definition name.
type definitions struct {
	// gvks maps each Go type to the kinds the scheme registers it as.
	gvks map[reflect.Type][]schema.GroupVersionKind
	// markers adds what only k8s.io/api's comments say (list types, map
	// types, defaults); nil builds schemas from reflection alone.
	markers map[string]map[string]marker
	// enums are the +enum string types, by Go package path and type name.
	enums map[string]enum

	names map[reflect.Type]string
	// defs are the v3 schemas; v2 holds the v2 form of the definitions whose
	// v2 form is not a mechanical rewrite of the v3 one.
	defs map[string]*spec.Schema
	v2   map[string]*spec.Schema
}

func newDefinitions(scheme *runtime.Scheme, markers map[string]map[string]marker, enums map[string]enum) *definitions {
	d := &definitions{
		gvks:    map[reflect.Type][]schema.GroupVersionKind{},
		markers: markers,
		enums:   enums,
		names:   map[reflect.Type]string{},
		defs:    map[string]*spec.Schema{},
		v2:      map[string]*spec.Schema{},
	}
	for gvk, t := range scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		d.gvks[t] = append(d.gvks[t], gvk)
	}
	for _, list := range d.gvks {
		sort.Slice(list, func(i, j int) bool {
			if list[i].Group != list[j].Group {
				return list[i].Group < list[j].Group
			}
			if list[i].Version != list[j].Version {
				return list[i].Version < list[j].Version
			}
			return list[i].Kind < list[j].Kind
		})
	}
	return d
}

// definitionName is the name Kubernetes gives t's definition, e.g.
// io.k8s.api.core.v1.Pod.
func definitionName(t reflect.Type) string {
	if n, ok := reflect.New(t).Interface().(openAPIModelNamer); ok {
		return n.OpenAPIModelName()
	}
	return util.ToRESTFriendlyName(t.PkgPath() + "." + t.Name())
}

// define makes sure the named struct type t has a definition and returns its
// name.
func (d *definitions) define(t reflect.Type) (string, error) {
	if name, ok := d.names[t]; ok {
		return name, nil
	}
	name := definitionName(t)
	d.names[t] = name
	s, v2, err := d.typeSchema(t, name)
	if err != nil {
		delete(d.names, t)
		return "", fmt.Errorf("type %s: %w", name, err)
	}
	if gvks := d.gvks[t]; len(gvks) > 0 {
		list := make([]interface{}, 0, len(gvks))
		for _, gvk := range gvks {
			list = append(list, map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
		}
		addExtension(s, extGVK, list)
		if v2 != nil {
			addExtension(v2, extGVK, list)
		}
	}
	if m, ok := d.markers[name][""]; ok && m.MapType != "" {
		addExtension(s, extMapType, m.MapType)
	}
	d.defs[name] = s
	if v2 != nil {
		d.v2[name] = v2
	}
	return name, nil
}

// typeSchema returns the v3 schema of the named type t, and its v2 schema
// when that differs by more than how references are written.
func (d *definitions) typeSchema(t reflect.Type, name string) (v3, v2 *spec.Schema, err error) {
	p := reflect.New(t).Interface()
	if tf, ok := p.(openAPITypeFormat); ok {
		v2 = &spec.Schema{SchemaProps: spec.SchemaProps{
			Description: specialDescription(name),
			Type:        tf.OpenAPISchemaType(),
			Format:      tf.OpenAPISchemaFormat(),
		}}
		v3 = &spec.Schema{SchemaProps: spec.SchemaProps{Description: v2.Description, Format: v2.Format}}
		if oneOf, ok := p.(openAPIV3OneOf); ok {
			for _, typ := range oneOf.OpenAPIV3OneOfTypes() {
				v3.OneOf = append(v3.OneOf, spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{typ}}})
			}
		} else {
			v3.Type = v2.Type
		}
		return v3, v2, nil
	}
	if t == reflect.TypeFor[metav1.Duration]() {
		return &spec.Schema{SchemaProps: spec.SchemaProps{Description: specialDescription(name), Type: []string{"string"}}}, nil, nil
	}
	if t.Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("is a %s, not a struct", t.Kind())
	}
	s := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}}}
	if doc, ok := p.(swaggerDocumented); ok {
		s.Description = doc.SwaggerDoc()[""]
	} else {
		s.Description = specialDescription(name)
	}
	if err := d.addFields(s, t, name); err != nil {
		return nil, nil, err
	}
	return s, nil, nil
}

// addFields adds the JSON fields of struct t, flattening inlined members, to
// s; markers are looked up under owner, the definition being built.
func (d *definitions) addFields(s *spec.Schema, t reflect.Type, owner string) error {
	var docs map[string]string
	if doc, ok := reflect.New(t).Interface().(swaggerDocumented); ok {
		docs = doc.SwaggerDoc()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := parseJSONTag(f)
		if tag.skip {
			continue
		}
		if tag.inline {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() != reflect.Struct {
				return fmt.Errorf("field %s: inlined %s is not a struct", f.Name, ft)
			}
			if err := d.addFields(s, ft, owner); err != nil {
				return err
			}
			continue
		}
		prop, err := d.fieldSchema(f.Type, tag.omitEmpty, true)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		prop.Description = docs[tag.name]
		if e, ok := d.enums[typeKey(f.Type)]; ok {
			prop.Description = e.describe(prop.Description)
		}
		if ps := f.Tag.Get("patchStrategy"); ps != "" {
			addExtension(&prop, extPatchStrategy, ps)
		}
		if pk := f.Tag.Get("patchMergeKey"); pk != "" {
			addExtension(&prop, extPatchMergeKey, pk)
		}
		m := d.markers[owner][tag.name]
		m.apply(&prop)
		if s.Properties == nil {
			s.Properties = map[string]spec.Schema{}
		}
		s.Properties[tag.name] = wrapRef(prop)
		if (!tag.omitEmpty && !m.Optional) || m.Required {
			s.Required = append(s.Required, tag.name)
		}
	}
	return nil
}

// fieldSchema is the schema of a value of type t. top is true for a struct
// member (whose description and extensions the caller adds) and false for
// list items and map values.
func (d *definitions) fieldSchema(t reflect.Type, omitEmpty, top bool) (spec.Schema, error) {
	var s spec.Schema
	switch t.Kind() {
	case reflect.Pointer:
		inner, err := d.fieldSchema(t.Elem(), true, top)
		if err != nil {
			return s, err
		}
		inner.Default = nil
		return inner, nil
	case reflect.Struct:
		name, err := d.define(t)
		if err != nil {
			return s, err
		}
		s.Ref = spec.MustCreateRef(v3RefPrefix + name)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			s.Type, s.Format = []string{"string"}, "byte"
			break
		}
		items, err := d.fieldSchema(t.Elem(), false, false)
		if err != nil {
			return s, err
		}
		items = wrapRef(items)
		s.Type = []string{"array"}
		s.Items = &spec.SchemaOrArray{Schema: &items}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return s, fmt.Errorf("map key %s is not a string", t.Key())
		}
		values, err := d.fieldSchema(t.Elem(), false, false)
		if err != nil {
			return s, err
		}
		values = wrapRef(values)
		s.Type = []string{"object"}
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &values}
	case reflect.Interface:
		s.Type = []string{"object"}
	default:
		typ, format, ok := scalarTypeFormat(t.Kind())
		if !ok {
			return s, fmt.Errorf("unsupported kind %s", t.Kind())
		}
		s.Type = []string{typ}
		s.Format = format
		if e, ok := d.enums[typeKey(t)]; ok {
			s.Enum = e.enumValues()
		}
	}
	s.Default = enforcedDefault(t, omitEmpty)
	return s, nil
}

// typeKey names a (pointed to) named type by package path and name, as the
// enum table does: "k8s.io/api/core/v1.PullPolicy".
func typeKey(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == "" {
		return ""
	}
	return t.PkgPath() + "." + t.Name()
}

// enforcedDefault is the default Kubernetes' openapi-gen gives a value of
// type t: the zero value of a scalar that is always serialized, {} for a
// struct (never omitted by encoding/json), nothing for pointers, lists, maps
// and types with their own JSON decoding (their zero value is null).
func enforcedDefault(t reflect.Type, omitEmpty bool) interface{} {
	unmarshaler := reflect.TypeFor[json.Unmarshaler]()
	if t.Implements(unmarshaler) || reflect.PointerTo(t).Implements(unmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Array, reflect.Interface:
		return nil
	case reflect.Struct:
		if t.NumField() == 1 && t.Field(0).Anonymous {
			return enforcedDefault(t.Field(0).Type, omitEmpty)
		}
		return map[string]interface{}{}
	}
	if omitEmpty {
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		return ""
	case reflect.Bool:
		return false
	default:
		return 0
	}
}

// scalarTypeFormat maps a Go kind to its OpenAPI type and format, as
// kube-openapi's common.OpenAPITypeFormat does.
func scalarTypeFormat(k reflect.Kind) (typ, format string, ok bool) {
	switch k {
	case reflect.String:
		return "string", "", true
	case reflect.Bool:
		return "boolean", "", true
	case reflect.Int8, reflect.Uint8:
		return "integer", "byte", true
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint16:
		return "integer", "int32", true
	case reflect.Int64, reflect.Uint32, reflect.Uint64:
		return "integer", "int64", true
	case reflect.Float32:
		return "number", "float", true
	case reflect.Float64:
		return "number", "double", true
	}
	return "", "", false
}

// wrapRef writes a reference that has siblings (description, default,
// extensions) as allOf: [{$ref}], as Kubernetes' v3 documents do: OpenAPI 3.0
// ignores the siblings of a $ref.
func wrapRef(s spec.Schema) spec.Schema {
	if s.Ref.String() == "" {
		return s
	}
	if s.Description == "" && s.Default == nil && len(s.Extensions) == 0 {
		return s
	}
	ref := spec.Schema{SchemaProps: spec.SchemaProps{Ref: s.Ref}}
	s.Ref = spec.Ref{}
	s.AllOf = []spec.Schema{ref}
	return s
}

func addExtension(s *spec.Schema, key string, value interface{}) {
	if s.Extensions == nil {
		s.Extensions = spec.Extensions{}
	}
	s.Extensions[key] = value
}

type jsonTag struct {
	name      string
	omitEmpty bool
	inline    bool
	skip      bool
}

// parseJSONTag reads a struct field's json tag the way encoding/json does,
// plus Kubernetes' ",inline" option.
func parseJSONTag(f reflect.StructField) jsonTag {
	tag, ok := f.Tag.Lookup("json")
	if tag == "-" || (!f.IsExported() && !f.Anonymous) {
		return jsonTag{skip: true}
	}
	name, opts, _ := strings.Cut(tag, ",")
	t := jsonTag{name: name}
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "omitempty", "omitzero":
			t.omitEmpty = true
		case "inline":
			t.inline = true
		}
	}
	if f.Anonymous && name == "" {
		t.inline = true
	}
	if !ok || name == "" {
		t.name = f.Name
	}
	return t
}
