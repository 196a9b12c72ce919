package openapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"
	kubectlopenapi "k8s.io/kubectl/pkg/util/openapi"
	"k8s.io/kubectl/pkg/validation"
	"sigs.k8s.io/yaml"
)

// kubectlClients serves the documents over HTTP and returns the clients
// kubectl builds on them.
func kubectlClients(t *testing.T) (*Service, *rest.Config, *discovery.DiscoveryClient) {
	t.Helper()
	s := mustNew(t)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, cfg, dc
}

type resourcesGetter struct{ r kubectlopenapi.Resources }

func (g resourcesGetter) OpenAPISchema() (kubectlopenapi.Resources, error) { return g.r, nil }

// TestKubectlV2 parses the v2 document the way kubectl does (protobuf over
// HTTP, then kubectl's openapi.Resources) and runs kubectl's client-side
// schema validation on manifests.
func TestKubectlV2(t *testing.T) {
	_, _, dc := kubectlClients(t)
	doc, err := dc.OpenAPISchema()
	if err != nil {
		t.Fatalf("fetching /openapi/v2 as protobuf: %v", err)
	}
	resources, err := kubectlopenapi.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("kubectl cannot parse the v2 document: %v", err)
	}
	for _, r := range issue2Resources() {
		if resources.LookupResource(r.Kind) == nil {
			t.Errorf("kubectl finds no model for %v", r.Kind)
		}
		consumes := resources.GetConsumes(r.Kind, "PATCH")
		if !strings.Contains(strings.Join(consumes, ","), "application/strategic-merge-patch+json") {
			t.Errorf("%v PATCH consumes %v, want strategic merge patch", r.Kind, consumes)
		}
	}

	validator := validation.NewSchemaValidation(resourcesGetter{resources})
	tests := []struct {
		name     string
		manifest string
		wantErr  string
	}{
		{"valid deployment", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"500m","memory":1024}}}]}}}}`, ""},
		{"unknown field", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replica":2,"selector":{},"template":{}}}`, `unknown field "replica"`},
		{"wrong type", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":"eighty"}]}]}}`, `containerPort`},
		{"missing required field", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"image":"i"}]}}`, `missing required field "name"`},
		{"int or string", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80,"targetPort":"http"},{"port":81,"targetPort":8081}]}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validator.ValidateBytes([]byte(tc.manifest))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("ValidateBytes: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("ValidateBytes error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestKubectlV3 reads the v3 documents through client-go's openapi3 root and
// checks what kubectl decides from them: that the server validates fields
// (so --validate=strict is server-side), what explain prints, and the
// strategic merge patch client-side apply computes.
func TestKubectlV3(t *testing.T) {
	_, cfg, dc := kubectlClients(t)
	client := dc.OpenAPIV3()
	root := openapi3.NewRoot(client)
	gvs, err := root.GroupVersions()
	if err != nil {
		t.Fatalf("reading /openapi/v3: %v", err)
	}
	if len(gvs) != 11 {
		t.Errorf("openapi3 root sees %d group versions, want 11: %v", len(gvs), gvs)
	}

	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	verifier := resource.NewQueryParamVerifierV3(dyn, client, resource.QueryParamFieldValidation)
	for _, r := range issue2Resources() {
		if err := verifier.HasSupport(r.Kind); err != nil {
			t.Errorf("kubectl thinks %v has no server-side field validation: %v", r.Kind, err)
		}
	}

	t.Run("explain", func(t *testing.T) {
		tests := []struct {
			fields    []string
			gvr       schema.GroupVersionResource
			recursive bool
			want      []string
		}{
			{[]string{"spec", "containers"}, v1.WithResource("pods"), false, []string{
				"KIND:       Pod", "VERSION:    v1", "FIELD: containers <[]Container>",
				"List of containers belonging to the pod.", "name\t<string> -required-", "ports\t<[]ContainerPort>",
			}},
			{nil, apps.WithResource("deployments"), true, []string{
				"KIND:       Deployment", "spec\t<DeploymentSpec> -required-", "replicas\t<integer>", "containerPort\t<integer> -required-",
			}},
			{[]string{"spec", "ports", "targetPort"}, v1.WithResource("services"), false, []string{"FIELD: targetPort <IntOrString>"}},
			{[]string{"spec", "containers", "imagePullPolicy"}, v1.WithResource("pods"), false, []string{"ENUM:", "Always", "IfNotPresent", "Never"}},
		}
		for _, tc := range tests {
			var out bytes.Buffer
			if err := explainv2.PrintModelDescription(tc.fields, &out, client, tc.gvr, tc.recursive, 0, "plaintext"); err != nil {
				t.Errorf("explain %s %v: %v", tc.gvr.Resource, tc.fields, err)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("explain %s %v: no %q in:\n%s", tc.gvr.Resource, tc.fields, w, out.String())
				}
			}
		}
	})

	t.Run("client-side apply patch", func(t *testing.T) {
		gvSpec, err := root.GVSpec(apps)
		if err != nil {
			t.Fatal(err)
		}
		// As kubectl's apply Patcher: the patch operation accepts strategic
		// merge patches, and the schema with the kind's extension gives the
		// patch metadata.
		var patchable bool
		for _, p := range gvSpec.Paths.Paths {
			if p.Patch != nil && p.Patch.RequestBody != nil {
				if _, ok := p.Patch.RequestBody.Content["application/strategic-merge-patch+json"]; ok {
					patchable = true
				}
			}
		}
		if !patchable {
			t.Fatal("no patch operation accepts strategic merge patches")
		}
		var deployment *spec.Schema
		for _, c := range gvSpec.Components.Schemas {
			var gvks []map[string]string
			if c.Extensions.GetObject(extGVK, &gvks) == nil {
				for _, g := range gvks {
					if g["group"] == "apps" && g["kind"] == "Deployment" {
						deployment = c
					}
				}
			}
		}
		if deployment == nil {
			t.Fatal("no schema carries apps/v1 Deployment")
		}
		original := deploymentJSON(t, `[{"name":"web","image":"nginx:1"},{"name":"log","image":"busybox"}]`)
		modified := deploymentJSON(t, `[{"name":"web","image":"nginx:2"}]`)
		current := deploymentJSON(t, `[{"name":"web","image":"nginx:1","imagePullPolicy":"Always"},{"name":"log","image":"busybox"}]`)
		meta := strategicpatch.PatchMetaFromOpenAPIV3{Schema: deployment, SchemaList: gvSpec.Components.Schemas}
		patch, err := strategicpatch.CreateThreeWayMergePatch(original, modified, current, meta, false)
		if err != nil {
			t.Fatalf("CreateThreeWayMergePatch: %v", err)
		}
		for _, want := range []string{`"$setElementOrder/containers":[{"name":"web"}]`, `{"$patch":"delete","name":"log"}`, `{"image":"nginx:2","name":"web"}`} {
			if !strings.Contains(string(patch), want) {
				t.Errorf("patch %s lacks %s: containers are not merged by name", patch, want)
			}
		}
	})
}

func deploymentJSON(t *testing.T, containers string) []byte {
	t.Helper()
	y := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":` + containers + `}}}}`
	var v interface{}
	if err := json.Unmarshal([]byte(y), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return b
}

// TestKubeOpenAPILoaders loads the documents with kube-openapi's own types,
// checks every reference resolves, and validates objects against the v2
// schemas with kube-openapi's validator.
func TestKubeOpenAPILoaders(t *testing.T) {
	s := mustNew(t)
	var swagger spec.Swagger
	if err := json.Unmarshal(s.v2.json, &swagger); err != nil {
		t.Fatalf("spec.Swagger cannot load the v2 document: %v", err)
	}
	checkRefs(t, "v2", s.v2.json, func(ref string) bool {
		_, ok := swagger.Definitions[strings.TrimPrefix(ref, v2RefPrefix)]
		return strings.HasPrefix(ref, v2RefPrefix) && ok
	})
	for _, name := range s.GroupVersions() {
		var doc spec3.OpenAPI
		if err := json.Unmarshal(s.v3[name].json, &doc); err != nil {
			t.Fatalf("spec3.OpenAPI cannot load %s: %v", name, err)
		}
		if doc.Version != "3.0.0" || doc.Info == nil || doc.Info.Version != testVersion {
			t.Errorf("%s: openapi %q info %+v", name, doc.Version, doc.Info)
		}
		checkRefs(t, name, s.v3[name].json, func(ref string) bool {
			_, ok := doc.Components.Schemas[strings.TrimPrefix(ref, v3RefPrefix)]
			return strings.HasPrefix(ref, v3RefPrefix) && ok
		})
	}

	// kube-openapi's validator takes schemas without references.
	pod := inlineRefs(t, swagger.Definitions["io.k8s.api.core.v1.Pod"], swagger.Definitions, 0)
	validator := validate.NewSchemaValidator(&pod, nil, "", strfmt.Default)
	tests := []struct {
		name, manifest string
		valid          bool
	}{
		{"valid pod", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","creationTimestamp":"2024-01-02T03:04:05Z"},"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"cpu":"1"}}}]}}`, true},
		{"container without name", `{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"image":"i"}]}}`, false},
		{"restart count as string", `{"apiVersion":"v1","kind":"Pod","status":{"containerStatuses":[{"name":"c","image":"i","imageID":"","ready":true,"restartCount":"3"}]}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var obj interface{}
			if err := yaml.Unmarshal([]byte(tc.manifest), &obj); err != nil {
				t.Fatal(err)
			}
			res := validator.Validate(obj)
			if res.IsValid() != tc.valid {
				t.Errorf("valid = %v, want %v; errors %v", res.IsValid(), tc.valid, res.Errors)
			}
		})
	}
}

// checkRefs reports every "$ref" in a JSON document that does not resolve.
func checkRefs(t *testing.T, name string, body []byte, resolves func(string) bool) {
	t.Helper()
	var doc interface{}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	var walk func(v interface{})
	walk = func(v interface{}) {
		switch v := v.(type) {
		case map[string]interface{}:
			for k, e := range v {
				if ref, ok := e.(string); ok && k == "$ref" {
					n++
					if !resolves(ref) {
						t.Errorf("%s: dangling reference %s", name, ref)
					}
				}
				walk(e)
			}
		case []interface{}:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	if n == 0 {
		t.Errorf("%s has no references at all", name)
	}
}

// inlineRefs replaces every reference in s by the definition it names.
func inlineRefs(t *testing.T, s spec.Schema, defs spec.Definitions, depth int) spec.Schema {
	t.Helper()
	if depth > 50 {
		t.Fatal("definitions are recursive")
	}
	if ref := s.Ref.String(); ref != "" {
		target, ok := defs[strings.TrimPrefix(ref, v2RefPrefix)]
		if !ok {
			t.Fatalf("dangling reference %s", ref)
		}
		desc := s.Description
		s = inlineRefs(t, target, defs, depth+1)
		if desc != "" {
			s.Description = desc
		}
		return s
	}
	if len(s.Properties) > 0 {
		props := make(map[string]spec.Schema, len(s.Properties))
		for k, v := range s.Properties {
			props[k] = inlineRefs(t, v, defs, depth+1)
		}
		s.Properties = props
	}
	if s.Items != nil && s.Items.Schema != nil {
		items := inlineRefs(t, *s.Items.Schema, defs, depth+1)
		s.Items = &spec.SchemaOrArray{Schema: &items}
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		values := inlineRefs(t, *s.AdditionalProperties.Schema, defs, depth+1)
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &values}
	}
	return s
}
