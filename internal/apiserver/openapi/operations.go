package openapi

import (
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// param is one operation or path parameter.
type param struct {
	name        string
	in          string // "path" or "query"
	description string
	typ         string // "string", "integer" or "boolean"
	required    bool
}

// mediaKind says which media types an operation answers with.
type mediaKind int

const (
	mediaObject  mediaKind = iota // JSON, YAML, protobuf
	mediaList                     // those, and their watch streams
	mediaWatch                    // watch streams
	mediaConnect                  // anything: a stream upgraded to SPDY or WebSocket
	mediaLog                      // text, and the object encodings
)

// operation is one HTTP method on one path, independent of the OpenAPI
// version it is written in.
type operation struct {
	method      string // get, put, post, patch, delete
	id          string
	description string
	action      string // x-kubernetes-action
	gvk         schema.GroupVersionKind
	tag         string
	params      []param
	body        string // definition name of the request body, if any
	bodyNeeded  bool
	patch       bool // the body is a patch of one of the patch media types
	media       mediaKind
	response    string // definition name of the response; "" is a string
	codes       []int  // successful status codes
}

// pathItem is one path and its operations.
type pathItem struct {
	path   string
	params []param // shared by every operation
	ops    []operation
}

// Definition names of the apimachinery types operations use.
const (
	defStatus          = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
	defDeleteOptions   = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
	defWatchEvent      = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent"
	defPatch           = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	defAPIResourceList = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"
)

// pathBuilder turns Resources into path items.
type pathBuilder struct {
	scheme *runtime.Scheme
	defs   *definitions

	listParams, createParams, updateParams, patchParams, deleteParams []param
}

func newPathBuilder(scheme *runtime.Scheme, defs *definitions) (*pathBuilder, error) {
	b := &pathBuilder{scheme: scheme, defs: defs}
	for _, t := range []reflect.Type{
		reflect.TypeFor[metav1.Status](), reflect.TypeFor[metav1.DeleteOptions](),
		reflect.TypeFor[metav1.WatchEvent](), reflect.TypeFor[metav1.Patch](),
		reflect.TypeFor[metav1.APIResourceList](),
	} {
		if _, err := defs.define(t); err != nil {
			return nil, err
		}
	}
	b.listParams = queryParams(reflect.TypeFor[metav1.ListOptions]())
	b.createParams = queryParams(reflect.TypeFor[metav1.CreateOptions]())
	b.updateParams = queryParams(reflect.TypeFor[metav1.UpdateOptions]())
	b.patchParams = queryParams(reflect.TypeFor[metav1.PatchOptions]())
	b.deleteParams = queryParams(reflect.TypeFor[metav1.DeleteOptions]())
	return b, nil
}

// queryParams lists the query parameters an options struct decodes, as
// Kubernetes derives them from the same structs: one per JSON field of a
// scalar or list-of-scalars type, described by the struct's SwaggerDoc.
func queryParams(t reflect.Type) []param {
	var docs map[string]string
	if d, ok := reflect.New(t).Interface().(swaggerDocumented); ok {
		docs = d.SwaggerDoc()
	}
	var params []param
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := parseJSONTag(f)
		if tag.skip || tag.inline {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		typ, _, ok := scalarTypeFormat(ft.Kind())
		if !ok {
			continue // structs such as DeleteOptions.Preconditions or Time are not query parameters
		}
		params = append(params, param{name: tag.name, in: "query", description: docs[tag.name], typ: typ})
	}
	return params
}

func prettyParam() param {
	return param{name: "pretty", in: "query", typ: "string", description: "If 'true', then the output is pretty printed."}
}

func namespaceParam() param {
	return param{name: "namespace", in: "path", typ: "string", required: true, description: "object name and auth scope, such as for teams and projects"}
}

func nameParam(kind string) param {
	return param{name: "name", in: "path", typ: "string", required: true, description: "name of the " + kind}
}

// gvPrefix is the URL prefix of a group version: /api/v1 or /apis/g/v.
func gvPrefix(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// gvDocName is the group version's document name in the /openapi/v3 index:
// api/v1 or apis/g/v.
func gvDocName(gv schema.GroupVersion) string { return strings.TrimPrefix(gvPrefix(gv), "/") }

// groupWords splits a group name into the words Kubernetes' operation IDs
// and tags are made of: "" is core, ".k8s.io" is dropped, dots separate
// words: rbac.authorization.k8s.io is rbac, authorization.
func groupWords(group string) []string {
	if group == "" {
		return []string{"core"}
	}
	return strings.Split(strings.TrimSuffix(group, ".k8s.io"), ".")
}

// gvID is the group version as operation IDs spell it: CoreV1, AppsV1,
// RbacAuthorizationV1.
func gvID(gv schema.GroupVersion) string {
	var b strings.Builder
	for _, w := range groupWords(gv.Group) {
		b.WriteString(capitalize(w))
	}
	b.WriteString(capitalize(gv.Version))
	return b.String()
}

// gvTag is the group version's operation tag: core_v1, rbacAuthorization_v1.
func gvTag(gv schema.GroupVersion) string {
	words := groupWords(gv.Group)
	var b strings.Builder
	b.WriteString(words[0])
	for _, w := range words[1:] {
		b.WriteString(capitalize(w))
	}
	return b.String() + "_" + gv.Version
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// defOf defines the Go type the scheme has for gvk and returns its name.
func (b *pathBuilder) defOf(gvk schema.GroupVersionKind) (string, error) {
	obj, err := b.scheme.New(gvk)
	if err != nil {
		return "", fmt.Errorf("kind %v: %w", gvk, err)
	}
	return b.defs.define(reflect.TypeOf(obj).Elem())
}

// rootPath is the group version's resource list, GET /apis/g/v/.
func rootPath(gv schema.GroupVersion) *pathItem {
	return &pathItem{path: gvPrefix(gv) + "/", ops: []operation{{
		method: "get", id: "get" + gvID(gv) + "APIResources", description: "get available resources",
		tag: gvTag(gv), media: mediaObject, response: defAPIResourceList, codes: []int{200},
	}}}
}

// resourcePaths returns the paths of one resource and its subresources.
func (b *pathBuilder) resourcePaths(r Resource) ([]*pathItem, error) {
	gv := r.Kind.GroupVersion()
	kind := r.Kind.Kind
	object, err := b.defOf(r.Kind)
	if err != nil {
		return nil, err
	}
	list, err := b.defOf(r.listKind())
	if err != nil {
		return nil, err
	}
	id, tag := gvID(gv), gvTag(gv)
	ns, scope := "", []param{}
	collection := gvPrefix(gv) + "/" + r.Plural
	watchCollection := gvPrefix(gv) + "/watch/" + r.Plural
	if r.Namespaced {
		ns, scope = "Namespaced", []param{namespaceParam()}
		collection = gvPrefix(gv) + "/namespaces/{namespace}/" + r.Plural
		watchCollection = gvPrefix(gv) + "/watch/namespaces/{namespace}/" + r.Plural
	}
	op := func(o operation) operation {
		o.gvk, o.tag = r.Kind, tag
		return o
	}
	listOp := func(id string) operation {
		return op(operation{method: "get", id: id, description: "list or watch objects of kind " + kind, action: "list",
			params: b.listParams, media: mediaList, response: list, codes: []int{200}})
	}
	watchOp := func(id, action, description string) operation {
		return op(operation{method: "get", id: id, description: description, action: action,
			params: b.listParams, media: mediaWatch, response: defWatchEvent, codes: []int{200}})
	}
	deleted := defStatus
	if r.DeleteReturnsObject {
		deleted = object
	}

	var items []*pathItem
	add := func(path string, params []param, ops ...operation) {
		if len(ops) > 0 {
			items = append(items, &pathItem{path: path, params: params, ops: ops})
		}
	}

	var ops []operation
	if r.has(VerbList) {
		ops = append(ops, listOp("list"+id+ns+kind))
	}
	if r.has(VerbCreate) {
		ops = append(ops, op(operation{method: "post", id: "create" + id + ns + kind, description: "create a " + kind, action: "post",
			params: b.createParams, body: object, bodyNeeded: true, media: mediaObject, response: object, codes: []int{200, 201, 202}}))
	}
	if r.has(VerbDeleteCollection) {
		ops = append(ops, op(operation{method: "delete", id: "delete" + id + "Collection" + ns + kind, description: "delete collection of " + kind,
			action: "deletecollection", params: append(append([]param{}, b.deleteParams...), b.listParams...), body: defDeleteOptions,
			media: mediaObject, response: defStatus, codes: []int{200}}))
	}
	add(collection, append(append([]param{}, scope...), prettyParam()), ops...)

	item := collection + "/{name}"
	itemScope := append([]param{nameParam(kind)}, scope...)
	ops = nil
	if r.has(VerbGet) {
		ops = append(ops, op(operation{method: "get", id: "read" + id + ns + kind, description: "read the specified " + kind, action: "get",
			media: mediaObject, response: object, codes: []int{200}}))
	}
	if r.has(VerbUpdate) {
		ops = append(ops, op(operation{method: "put", id: "replace" + id + ns + kind, description: "replace the specified " + kind, action: "put",
			params: b.updateParams, body: object, bodyNeeded: true, media: mediaObject, response: object, codes: []int{200, 201}}))
	}
	if r.has(VerbPatch) {
		ops = append(ops, op(operation{method: "patch", id: "patch" + id + ns + kind, description: "partially update the specified " + kind, action: "patch",
			params: b.patchParams, body: defPatch, bodyNeeded: true, patch: true, media: mediaObject, response: object, codes: []int{200, 201}}))
	}
	if r.has(VerbDelete) {
		ops = append(ops, op(operation{method: "delete", id: "delete" + id + ns + kind, description: "delete a " + kind, action: "delete",
			params: b.deleteParams, body: defDeleteOptions, media: mediaObject, response: deleted, codes: []int{200, 202}}))
	}
	add(item, append(append([]param{}, itemScope...), prettyParam()), ops...)

	if r.has(VerbWatch) {
		add(watchCollection, append(append([]param{}, scope...), prettyParam()),
			watchOp("watch"+id+ns+kind+"List", "watchlist", "watch individual changes to a list of "+kind+". deprecated: use the 'watch' parameter with a list operation instead."))
		add(watchCollection+"/{name}", append(append([]param{}, itemScope...), prettyParam()),
			watchOp("watch"+id+ns+kind, "watch", "watch changes to an object of kind "+kind+". deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."))
	}
	if r.Namespaced && r.has(VerbList) {
		add(gvPrefix(gv)+"/"+r.Plural, []param{prettyParam()}, listOp("list"+id+kind+"ForAllNamespaces"))
	}
	if r.Namespaced && r.has(VerbWatch) {
		add(gvPrefix(gv)+"/watch/"+r.Plural, []param{prettyParam()},
			watchOp("watch"+id+kind+"ListForAllNamespaces", "watchlist", "watch individual changes to a list of "+kind+". deprecated: use the 'watch' parameter with a list operation instead."))
	}

	for _, s := range r.Subresources {
		sub, err := b.subresourcePath(r, s, item, itemScope)
		if err != nil {
			return nil, fmt.Errorf("subresource %s: %w", s.Name, err)
		}
		if sub != nil {
			items = append(items, sub)
		}
	}
	return items, nil
}

// subresourcePath returns the path of one subresource, e.g.
// /api/v1/namespaces/{namespace}/pods/{name}/status.
func (b *pathBuilder) subresourcePath(r Resource, s Subresource, item string, itemScope []param) (*pathItem, error) {
	gv := r.Kind.GroupVersion()
	id, tag := gvID(gv), gvTag(gv)
	ns := ""
	if r.Namespaced {
		ns = "Namespaced"
	}
	kind, sub := r.Kind.Kind, capitalize(s.Name)
	bodyKind := s.bodyKind(r.Kind)
	body, err := b.defOf(bodyKind)
	if err != nil {
		return nil, err
	}
	var options []param
	var optionsKind schema.GroupVersionKind
	if !s.Options.Empty() {
		obj, err := b.scheme.New(s.Options)
		if err != nil {
			return nil, fmt.Errorf("options kind %v: %w", s.Options, err)
		}
		options, optionsKind = queryParams(reflect.TypeOf(obj).Elem()), s.Options
	}
	op := func(o operation) operation {
		o.gvk, o.tag = bodyKind, tag
		return o
	}
	var ops []operation
	if s.has(VerbGet) {
		if s.Options.Empty() {
			ops = append(ops, op(operation{method: "get", id: "read" + id + ns + kind + sub, description: "read " + s.Name + " of the specified " + kind,
				action: "get", media: mediaObject, response: body, codes: []int{200}}))
		} else {
			// pods/log: the options are query parameters, the answer text.
			ops = append(ops, op(operation{method: "get", id: "read" + id + ns + kind + sub, description: "read " + s.Name + " of the specified " + kind,
				action: "get", params: options, media: mediaLog, codes: []int{200}}))
		}
	}
	if s.has(VerbUpdate) {
		ops = append(ops, op(operation{method: "put", id: "replace" + id + ns + kind + sub, description: "replace " + s.Name + " of the specified " + kind,
			action: "put", params: b.updateParams, body: body, bodyNeeded: true, media: mediaObject, response: body, codes: []int{200, 201}}))
	}
	if s.has(VerbPatch) {
		ops = append(ops, op(operation{method: "patch", id: "patch" + id + ns + kind + sub, description: "partially update " + s.Name + " of the specified " + kind,
			action: "patch", params: b.patchParams, body: defPatch, bodyNeeded: true, patch: true, media: mediaObject, response: body, codes: []int{200, 201}}))
	}
	if s.has(VerbCreate) {
		ops = append(ops, op(operation{method: "post", id: "create" + id + ns + kind + sub, description: "create " + s.Name + " of a " + kind,
			action: "post", params: b.createParams, body: body, bodyNeeded: true, media: mediaObject, response: body, codes: []int{200, 201, 202}}))
	}
	if s.has(VerbConnect) {
		for _, m := range []string{"get", "post"} {
			ops = append(ops, operation{method: m, id: "connect" + id + capitalize(m) + ns + kind + sub,
				description: "connect " + strings.ToUpper(m) + " requests to " + s.Name + " of " + kind, action: "connect",
				gvk: optionsKind, tag: tag, params: options, media: mediaConnect, codes: []int{200}})
		}
	}
	if len(ops) == 0 {
		return nil, nil
	}
	params := append([]param{}, itemScope...)
	if !s.has(VerbConnect) {
		params = append(params, prettyParam())
	}
	return &pathItem{path: item + "/" + s.Name, params: params, ops: ops}, nil
}

// hoist moves the parameters every operation of p has to the path, as
// Kubernetes' documents do.
func (p *pathItem) hoist() {
	common := map[string]int{}
	for _, o := range p.ops {
		for _, q := range o.params {
			common[q.name]++
		}
	}
	var shared []string
	for name, n := range common {
		if n == len(p.ops) {
			shared = append(shared, name)
		}
	}
	if len(shared) == 0 {
		return
	}
	isShared := func(name string) bool {
		for _, s := range shared {
			if s == name {
				return true
			}
		}
		return false
	}
	for _, q := range p.ops[0].params {
		if isShared(q.name) {
			p.params = append(p.params, q)
		}
	}
	for i := range p.ops {
		var rest []param
		for _, q := range p.ops[i].params {
			if !isShared(q.name) {
				rest = append(rest, q)
			}
		}
		p.ops[i].params = rest
	}
}
