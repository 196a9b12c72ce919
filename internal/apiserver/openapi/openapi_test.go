package openapi

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
)

// mustNew builds the issue-2 documents once per test.
func mustNew(t *testing.T) *Service {
	t.Helper()
	s, err := New(testConfig())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// decoded returns a served document as generic JSON.
func decoded(t *testing.T, body []byte) map[string]interface{} {
	t.Helper()
	var m map[string]interface{}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("document is not JSON: %v", err)
	}
	return m
}

// at follows a JSON pointer (RFC 6901) into a decoded document.
func at(doc interface{}, pointer string) (interface{}, bool) {
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]interface{}:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []interface{}:
			i := -1
			if n, err := strconv.Atoi(tok); err == nil && n < len(c) {
				i = n
			}
			for n, e := range c {
				if m, ok := e.(map[string]interface{}); ok && m["name"] == tok {
					i = n
				}
			}
			if i < 0 {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func jsonValue(t *testing.T, s string) interface{} {
	t.Helper()
	var v interface{}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expectation %s: %v", s, err)
	}
	return v
}

func TestNewRejectsBadConfig(t *testing.T) {
	pod := v1.WithKind("Pod")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no scheme", Config{Resources: []Resource{{Kind: pod, Plural: "pods"}}}, "no scheme"},
		{"no plural", Config{Scheme: scheme.Scheme, Resources: []Resource{{Kind: pod}}}, "required"},
		{"unknown kind", Config{Scheme: scheme.Scheme, Resources: []Resource{{Kind: v1.WithKind("Gizmo"), Plural: "gizmos"}}}, "not in the scheme"},
		{"kind without list", Config{Scheme: runtime.NewScheme(), Resources: []Resource{{Kind: pod, Plural: "pods"}}}, "not in the scheme"},
		{"unknown verb", Config{Scheme: scheme.Scheme, Resources: []Resource{{Kind: pod, Plural: "pods", Verbs: []string{"frobnicate"}}}}, `unknown verb "frobnicate"`},
		{"twice", Config{Scheme: scheme.Scheme, Resources: []Resource{{Kind: pod, Plural: "pods"}, {Kind: pod, Plural: "pods"}}}, "listed twice"},
		{"unknown subresource kind", Config{Scheme: scheme.Scheme, Resources: []Resource{{Kind: pod, Plural: "pods",
			Subresources: []Subresource{{Name: "x", Kind: v1.WithKind("Gizmo"), Verbs: []string{VerbGet}}}}}}, "not in the scheme"},
		{"unnamed subresource", Config{Scheme: scheme.Scheme, Resources: []Resource{{Kind: pod, Plural: "pods", Subresources: []Subresource{{}}}}}, "without a name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDefinitions checks definitions against what Kubernetes' own documents
// say about the same types.
func TestDefinitions(t *testing.T) {
	s := mustNew(t)
	v3core := decoded(t, s.v3["api/v1"].json)
	v3apps := decoded(t, s.v3["apis/apps/v1"].json)
	v2 := decoded(t, s.v2.json)
	const (
		core   = "/components/schemas/io.k8s.api.core.v1."
		meta   = "/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1."
		v2core = "/definitions/io.k8s.api.core.v1."
		v2meta = "/definitions/io.k8s.apimachinery.pkg.apis.meta.v1."
	)
	tests := []struct {
		name    string
		doc     map[string]interface{}
		pointer string
		want    string
	}{
		{"pod kind", v3core, core + "Pod/x-kubernetes-group-version-kind", `[{"group":"","version":"v1","kind":"Pod"}]`},
		{"pod description from SwaggerDoc", v3core, core + "Pod/description", `"Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts."`},
		{"metadata is a wrapped reference with a default", v3core, core + "Pod/properties/metadata/allOf", `[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]`},
		{"metadata default", v3core, core + "Pod/properties/metadata/default", `{}`},
		{"pod list requires items", v3core, core + "PodList/required", `["items"]`},
		{"container requires name", v3core, core + "Container/required", `["name"]`},
		{"container name defaults", v3core, core + "Container/properties/name/default", `""`},
		{"containers patch strategy", v3core, core + "PodSpec/properties/containers/x-kubernetes-patch-strategy", `"merge"`},
		{"containers merge key", v3core, core + "PodSpec/properties/containers/x-kubernetes-patch-merge-key", `"name"`},
		{"container list items", v3core, core + "PodSpec/properties/containers/items", `{"default":{},"allOf":[{"$ref":"#/components/schemas/io.k8s.api.core.v1.Container"}]}`},
		{"ports list type", v3core, core + "Container/properties/ports/x-kubernetes-list-type", `"map"`},
		{"ports list keys", v3core, core + "Container/properties/ports/x-kubernetes-list-map-keys", `["containerPort","protocol"]`},
		{"port protocol default", v3core, core + "ContainerPort/properties/protocol/default", `"TCP"`},
		{"volumes retain keys", v3core, core + "PodSpec/properties/volumes/x-kubernetes-patch-strategy", `"merge,retainKeys"`},
		{"node selector atomic", v3core, core + "PodSpec/properties/nodeSelector/x-kubernetes-map-type", `"atomic"`},
		{"node selector values", v3core, core + "PodSpec/properties/nodeSelector/additionalProperties", `{"type":"string","default":""}`},
		{"secret data bytes", v3core, core + "Secret/properties/data/additionalProperties", `{"type":"string","format":"byte"}`},
		{"int32", v3core, core + "ContainerPort/properties/containerPort", `{"type":"integer","format":"int32","default":0,"description":"Number of port to expose on the pod's IP address. This must be a valid port number, 0 < x < 65536."}`},
		{"optional non-omitempty field is not required", v3core, core + "Event/required", `["metadata","involvedObject"]`},
		{"enum values", v3core, core + "Container/properties/imagePullPolicy/enum", `["Always","IfNotPresent","Never"]`},
		{"enum description", v3core, core + "Container/properties/imagePullPolicy/description", `"Image pull policy. One of Always, Never, IfNotPresent. Defaults to Always if :latest tag is specified, or IfNotPresent otherwise. Cannot be updated. More info: https://kubernetes.io/docs/concepts/containers/images#updating-images\n\nPossible enum values:\n - ` + "`" + `\"Always\"` + "`" + ` means that kubelet always attempts to pull the latest image. Container will fail If the pull fails.\n - ` + "`" + `\"IfNotPresent\"` + "`" + ` means that kubelet pulls if the image isn't present on disk. Container will fail if the image isn't present and the pull fails.\n - ` + "`" + `\"Never\"` + "`" + ` means that kubelet never pulls an image, but only uses a local image. Container will fail if the image isn't present"`},
		{"enum list items", v3core, core + "PersistentVolumeSpec/properties/accessModes/items/enum", `["ReadOnlyMany","ReadWriteMany","ReadWriteOnce","ReadWriteOncePod"]`},
		{"local object reference atomic", v3core, core + "LocalObjectReference/x-kubernetes-map-type", `"atomic"`},
		{"claimRef granular over an atomic type", v3core, core + "PersistentVolumeSpec/properties/claimRef/x-kubernetes-map-type", `"granular"`},
		{"IntOrString v3", v3core, "/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString/oneOf", `[{"type":"integer"},{"type":"string"}]`},
		{"IntOrString format", v3core, "/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString/format", `"int-or-string"`},
		{"Quantity v3", v3core, "/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity/oneOf", `[{"type":"string"},{"type":"number"}]`},
		{"Time", v3core, meta + "Time/format", `"date-time"`},
		{"MicroTime", v3core, meta + "MicroTime/type", `"string"`},
		{"label selector atomic", v3apps, meta + "LabelSelector/x-kubernetes-map-type", `"atomic"`},
		{"fields are free-form objects", v3core, meta + "FieldsV1/type", `"object"`},
		{"raw extension", v3core, "/components/schemas/io.k8s.apimachinery.pkg.runtime.RawExtension/type", `"object"`},
		{"deployment requires spec", v3apps, "/components/schemas/io.k8s.api.apps.v1.Deployment/required", `["spec"]`},
		{"delete options in every group", v3apps, meta + "DeleteOptions/x-kubernetes-group-version-kind/1", `{"group":"admissionregistration.k8s.io","version":"v1","kind":"DeleteOptions"}`},
		{"v2 reference with siblings", v2, v2core + "Pod/properties/metadata", `{"$ref":"#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta","default":{},"description":"Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}`},
		{"v2 IntOrString", v2, "/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString/type", `"string"`},
		{"v2 Quantity", v2, "/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity/type", `"string"`},
		{"v2 items", v2, v2core + "PodSpec/properties/containers/items", `{"$ref":"#/definitions/io.k8s.api.core.v1.Container","default":{}}`},
		{"v2 time", v2, v2meta + "Time", `{"type":"string","format":"date-time","description":"Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON, as an RFC 3339 timestamp with second precision."}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := at(tc.doc, tc.pointer)
			if !ok {
				t.Fatalf("%s: not in the document", tc.pointer)
			}
			if diff := cmp.Diff(jsonValue(t, tc.want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.pointer, diff)
			}
		})
	}
}

// TestOperations checks operations against the operations Kubernetes
// documents for the same resources.
func TestOperations(t *testing.T) {
	s := mustNew(t)
	docs := map[string]map[string]interface{}{}
	for _, name := range s.GroupVersions() {
		docs[name] = decoded(t, s.v3[name].json)
	}
	v2 := decoded(t, s.v2.json)
	type op struct {
		ID     string                 `json:"operationId"`
		Action string                 `json:"x-kubernetes-action"`
		GVK    map[string]interface{} `json:"x-kubernetes-group-version-kind"`
		Params []struct {
			Name string `json:"name"`
			In   string `json:"in"`
		} `json:"parameters"`
		RequestBody *struct {
			Content map[string]interface{} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]interface{} `json:"responses"`
	}
	tests := []struct {
		doc, path, method string
		id, action        string
		gvk               schema.GroupVersionKind
		params            []string // operation parameters
		pathParams        []string
		bodyTypes         []string
		codes             []string
	}{
		{"api/v1", "/api/v1/namespaces/{namespace}/pods", "post", "createCoreV1NamespacedPod", "post", v1.WithKind("Pod"),
			[]string{"dryRun", "fieldManager", "fieldValidation"}, []string{"namespace", "pretty"}, []string{"*/*"}, []string{"200", "201", "202", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods", "get", "listCoreV1NamespacedPod", "list", v1.WithKind("Pod"),
			[]string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "shardSelector", "timeoutSeconds", "watch"}, []string{"namespace", "pretty"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods", "delete", "deleteCoreV1CollectionNamespacedPod", "deletecollection", v1.WithKind("Pod"),
			[]string{"allowWatchBookmarks", "continue", "dryRun", "fieldSelector", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "labelSelector", "limit", "orphanDependents", "propagationPolicy", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "shardSelector", "timeoutSeconds", "watch"},
			[]string{"namespace", "pretty"}, []string{"*/*"}, []string{"200", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "patch", "patchCoreV1NamespacedPod", "patch", v1.WithKind("Pod"),
			[]string{"dryRun", "fieldManager", "fieldValidation", "force"}, []string{"name", "namespace", "pretty"},
			[]string{"application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}, []string{"200", "201", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "put", "replaceCoreV1NamespacedPod", "put", v1.WithKind("Pod"),
			[]string{"dryRun", "fieldManager", "fieldValidation"}, []string{"name", "namespace", "pretty"}, []string{"*/*"}, []string{"200", "201", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "delete", "deleteCoreV1NamespacedPod", "delete", v1.WithKind("Pod"),
			[]string{"dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential", "orphanDependents", "propagationPolicy"}, []string{"name", "namespace", "pretty"}, []string{"*/*"}, []string{"200", "202", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}", "get", "readCoreV1NamespacedPod", "get", v1.WithKind("Pod"),
			nil, []string{"name", "namespace", "pretty"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", "list", v1.WithKind("Pod"),
			nil, []string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "pretty", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "shardSelector", "timeoutSeconds", "watch"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/watch/namespaces/{namespace}/pods/{name}", "get", "watchCoreV1NamespacedPod", "watch", v1.WithKind("Pod"),
			nil, []string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "name", "namespace", "pretty", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "shardSelector", "timeoutSeconds", "watch"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/watch/pods", "get", "watchCoreV1PodListForAllNamespaces", "watchlist", v1.WithKind("Pod"),
			nil, []string{"allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "pretty", "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "shardSelector", "timeoutSeconds", "watch"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/status", "patch", "patchCoreV1NamespacedPodStatus", "patch", v1.WithKind("Pod"),
			[]string{"dryRun", "fieldManager", "fieldValidation", "force"}, []string{"name", "namespace", "pretty"},
			[]string{"application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}, []string{"200", "201", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/binding", "post", "createCoreV1NamespacedPodBinding", "post", v1.WithKind("Binding"),
			nil, []string{"dryRun", "fieldManager", "fieldValidation", "name", "namespace", "pretty"}, []string{"*/*"}, []string{"200", "201", "202", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post", "createCoreV1NamespacedPodEviction", "post", schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"},
			nil, []string{"dryRun", "fieldManager", "fieldValidation", "name", "namespace", "pretty"}, []string{"*/*"}, []string{"200", "201", "202", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/log", "get", "readCoreV1NamespacedPodLog", "get", v1.WithKind("Pod"),
			nil, []string{"container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "name", "namespace", "pretty", "previous", "sinceSeconds", "stream", "tailLines", "timestamps"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/exec", "post", "connectCoreV1PostNamespacedPodExec", "connect", v1.WithKind("PodExecOptions"),
			nil, []string{"command", "container", "name", "namespace", "stderr", "stdin", "stdout", "tty"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/pods/{name}/portforward", "get", "connectCoreV1GetNamespacedPodPortforward", "connect", v1.WithKind("PodPortForwardOptions"),
			nil, []string{"name", "namespace", "ports"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", "post", "createCoreV1NamespacedServiceAccountToken", "post", schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"},
			nil, []string{"dryRun", "fieldManager", "fieldValidation", "name", "namespace", "pretty"}, []string{"*/*"}, []string{"200", "201", "202", "401"}},
		{"api/v1", "/api/v1/namespaces/{name}", "get", "readCoreV1Namespace", "get", v1.WithKind("Namespace"),
			nil, []string{"name", "pretty"}, nil, []string{"200", "401"}},
		{"api/v1", "/api/v1/", "get", "getCoreV1APIResources", "", schema.GroupVersionKind{},
			nil, nil, nil, []string{"200", "401"}},
		{"apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put", "replaceAppsV1NamespacedDeploymentScale", "put", schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"},
			[]string{"dryRun", "fieldManager", "fieldValidation"}, []string{"name", "namespace", "pretty"}, []string{"*/*"}, []string{"200", "201", "401"}},
		{"apis/rbac.authorization.k8s.io/v1", "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}", "patch", "patchRbacAuthorizationV1ClusterRole", "patch", rbac.WithKind("ClusterRole"),
			[]string{"dryRun", "fieldManager", "fieldValidation", "force"}, []string{"name", "pretty"},
			[]string{"application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}, []string{"200", "201", "401"}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			item, ok := at(docs[tc.doc], "/paths/"+strings.ReplaceAll(tc.path, "/", "~1"))
			if !ok {
				t.Fatalf("path %s not in %s", tc.path, tc.doc)
			}
			raw, _ := json.Marshal(item.(map[string]interface{})[tc.method])
			var got op
			if err := json.Unmarshal(raw, &got); err != nil || got.ID == "" {
				t.Fatalf("%s %s: no operation (%v)", tc.method, tc.path, err)
			}
			names := func(ps []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			}) []string {
				var out []string
				for _, p := range ps {
					out = append(out, p.Name)
				}
				return out
			}
			var pathParams []string
			shared, _ := item.(map[string]interface{})["parameters"].([]interface{})
			for _, p := range shared {
				pathParams = append(pathParams, p.(map[string]interface{})["name"].(string))
			}
			var bodyTypes []string
			if got.RequestBody != nil {
				for ct := range got.RequestBody.Content {
					bodyTypes = append(bodyTypes, ct)
				}
			}
			var codes []string
			for c := range got.Responses {
				codes = append(codes, c)
			}
			var gvk schema.GroupVersionKind
			if got.GVK != nil {
				gvk = schema.GroupVersionKind{Group: got.GVK["group"].(string), Version: got.GVK["version"].(string), Kind: got.GVK["kind"].(string)}
			}
			sorted := cmp.Transformer("sort", func(in []string) []string {
				out := append([]string{}, in...)
				sortStrings(out)
				return out
			})
			checks := []struct {
				what      string
				want, got interface{}
			}{
				{"operationId", tc.id, got.ID},
				{"action", tc.action, got.Action},
				{"kind", tc.gvk, gvk},
				{"parameters", tc.params, names(got.Params)},
				{"path parameters", tc.pathParams, pathParams},
				{"request media types", tc.bodyTypes, bodyTypes},
				{"response codes", tc.codes, codes},
			}
			for _, c := range checks {
				if diff := cmp.Diff(c.want, c.got, sorted); diff != "" {
					t.Errorf("%s (-want +got):\n%s", c.what, diff)
				}
			}
			// The v2 document has the same operation.
			v2op, ok := at(v2, "/paths/"+strings.ReplaceAll(tc.path, "/", "~1")+"/"+tc.method+"/operationId")
			if !ok || v2op != tc.id {
				t.Errorf("v2 document: operationId %v, want %s", v2op, tc.id)
			}
		})
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestGroupVersionDocuments(t *testing.T) {
	s := mustNew(t)
	want := []string{
		"api/v1", "apis/apps/v1", "apis/autoscaling/v2", "apis/batch/v1", "apis/coordination.k8s.io/v1",
		"apis/discovery.k8s.io/v1", "apis/events.k8s.io/v1", "apis/node.k8s.io/v1", "apis/policy/v1",
		"apis/rbac.authorization.k8s.io/v1", "apis/storage.k8s.io/v1",
	}
	if diff := cmp.Diff(want, s.GroupVersions()); diff != "" {
		t.Errorf("group versions (-want +got):\n%s", diff)
	}
	// Each document carries only what its paths reach: apps/v1 has pods'
	// template types but no Node.
	apps := decoded(t, s.v3["apis/apps/v1"].json)
	for name, want := range map[string]bool{
		"io.k8s.api.apps.v1.Deployment":   true,
		"io.k8s.api.core.v1.PodSpec":      true,
		"io.k8s.api.autoscaling.v1.Scale": true,
		"io.k8s.api.core.v1.Node":         false,
		"io.k8s.api.batch.v1.Job":         false,
	} {
		if _, got := at(apps, "/components/schemas/"+name); got != want {
			t.Errorf("apps/v1 document has %s: %v, want %v", name, got, want)
		}
	}
	if st := s.Stats(); st.Definitions < 300 || st.V2Bytes == 0 || st.V3Bytes == 0 || st.BuildTime <= 0 {
		t.Errorf("stats %+v look wrong", st)
	}
}
