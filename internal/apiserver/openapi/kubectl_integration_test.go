//go:build integration

package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/podvisor/podvisor/internal/apiserver/apply"
	"github.com/podvisor/podvisor/internal/printers"
)

// This file drives the real kubectl (the one embedded in bin/podvisor)
// against a test-only API server: discovery for the issue-2 resources, the
// OpenAPI documents of this package, and a small in-memory store. It is
// scaffolding to exercise the documents until the real apiserver serves
// them; what is under test is what kubectl does with the documents.

// podvisorBinary finds bin/podvisor: $PODVISOR_BIN_DIR (set by make) or
// the module's bin/.
func podvisorBinary(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PODVISOR_BIN_DIR")
	if dir == "" {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			t.Fatalf("finding the module root: %v", err)
		}
		dir = filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "bin")
	}
	bin := filepath.Join(dir, "podvisor")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("prerequisite missing: %s (run make build): %v", bin, err)
	}
	return bin
}

// fakeAPIServer is the test-only API server.
type fakeAPIServer struct {
	t         *testing.T
	openapi   *Service
	resources []Resource
	codecs    serializer.CodecFactory
	strict    runtime.Decoder

	apply *apply.Manager // server-side apply over this package's models

	mu       sync.Mutex
	objects  map[string][]byte // by URL path of the object
	requests []recorded        // writes and OpenAPI fetches, in order
}

type recorded struct {
	method, path, query, contentType string
	body                             []byte
}

func newFakeAPIServer(t *testing.T) *fakeAPIServer {
	codecs := serializer.NewCodecFactory(scheme.Scheme)
	docs := mustNew(t)
	var endpoints []apply.Endpoint
	for _, r := range issue2Resources() {
		endpoints = append(endpoints, apply.Endpoint{Kind: r.Kind})
	}
	mgr, err := apply.New(apply.Config{Models: docs.Models(), Scheme: scheme.Scheme, Endpoints: endpoints})
	if err != nil {
		t.Fatalf("apply.New: %v", err)
	}
	return &fakeAPIServer{
		t: t, openapi: docs, resources: issue2Resources(), codecs: codecs, apply: mgr,
		strict:  k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, k8sjson.SerializerOptions{Strict: true}),
		objects: map[string][]byte{},
	}
}

func (f *fakeAPIServer) writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		f.t.Errorf("encoding response: %v", err)
	}
}

func (f *fakeAPIServer) status(w http.ResponseWriter, err *apierrors.StatusError) {
	s := err.Status()
	s.Kind, s.APIVersion = "Status", "v1"
	f.writeJSON(w, int(s.Code), s)
}

func (f *fakeAPIServer) record(r *http.Request, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), body})
}

func (f *fakeAPIServer) recorded() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded{}, f.requests...)
}

// discovery answers /api, /apis, /api/v1 and /apis/g/v from the resources.
func (f *fakeAPIServer) discovery(w http.ResponseWriter, path string) bool {
	byGV := map[schema.GroupVersion][]metav1.APIResource{}
	var groups []string
	for _, r := range f.resources {
		gv := r.Kind.GroupVersion()
		if _, ok := byGV[gv]; !ok && gv.Group != "" {
			groups = append(groups, gv.Group)
		}
		byGV[gv] = append(byGV[gv], metav1.APIResource{Name: r.Plural, SingularName: strings.ToLower(r.Kind.Kind), Namespaced: r.Namespaced, Kind: r.Kind.Kind, Verbs: r.Verbs})
		for _, s := range r.Subresources {
			k := s.bodyKind(r.Kind)
			byGV[gv] = append(byGV[gv], metav1.APIResource{Name: r.Plural + "/" + s.Name, Namespaced: r.Namespaced, Kind: k.Kind, Group: k.Group, Version: k.Version, Verbs: s.Verbs})
		}
	}
	switch path {
	case "/api":
		f.writeJSON(w, 200, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: "127.0.0.1"}}})
		return true
	case "/apis":
		list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for gv := range byGV {
			if gv.Group == "" {
				continue
			}
			gvd := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{gvd}, PreferredVersion: gvd})
		}
		f.writeJSON(w, 200, list)
		return true
	}
	for gv, rs := range byGV {
		if path == gvPrefix(gv) {
			f.writeJSON(w, 200, metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String(), APIResources: rs})
			return true
		}
	}
	return false
}

// resourceFor finds the served resource a path names and whether it names
// one object: /api/v1/namespaces/ns/pods[/name], /apis/apps/v1/...
func (f *fakeAPIServer) resourceFor(path string) (*Resource, bool) {
	for i := range f.resources {
		r := &f.resources[i]
		collection := gvPrefix(r.Kind.GroupVersion()) + "/"
		rest, ok := strings.CutPrefix(path, collection)
		if !ok {
			continue
		}
		parts := strings.Split(rest, "/")
		if r.Namespaced && len(parts) >= 3 && parts[0] == "namespaces" {
			parts = parts[2:]
		}
		if parts[0] == r.Plural && len(parts) <= 2 {
			return r, len(parts) == 2
		}
	}
	return nil, false
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch {
	case strings.HasPrefix(r.URL.Path, "/openapi/"):
		f.record(r, nil)
		f.openapi.ServeHTTP(w, r)
		return
	case r.URL.Path == "/version":
		f.writeJSON(w, 200, version.Info{Major: "1", Minor: "37", GitVersion: testVersion})
		return
	case r.Method == http.MethodGet && f.discovery(w, r.URL.Path):
		return
	}
	res, named := f.resourceFor(r.URL.Path)
	if res == nil {
		f.status(w, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
		return
	}
	gr := schema.GroupResource{Group: res.Kind.Group, Resource: res.Plural}
	f.record(r, body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "as=Table"):
		f.table(w, r, res, named)
	case r.Method == http.MethodGet && named:
		stored, ok := f.objects[r.URL.Path]
		if !ok {
			f.status(w, apierrors.NewNotFound(gr, filepath.Base(r.URL.Path)))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(stored)
	case r.Method == http.MethodPost && !named:
		// Decode as kube-apiserver does: strictly if fieldValidation=Strict.
		var decoder runtime.Decoder = f.codecs.UniversalDeserializer()
		if r.URL.Query().Get("fieldValidation") == "Strict" {
			decoder = f.strict
		}
		obj, _, err := decoder.Decode(body, nil, nil)
		if err != nil {
			f.status(w, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", res.Kind.Kind, res.Kind.Version, res.Kind.Kind, err)))
			return
		}
		m, _ := meta.Accessor(obj)
		path := r.URL.Path + "/" + m.GetName()
		if _, exists := f.objects[path]; exists {
			f.status(w, apierrors.NewAlreadyExists(gr, m.GetName()))
			return
		}
		m.SetResourceVersion("1")
		m.SetUID(types.UID("uid-" + m.GetName()))
		out, _ := json.Marshal(obj)
		f.objects[path] = out
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		w.Write(out)
	case r.Method == http.MethodPatch && named && r.Header.Get("Content-Type") == "application/apply-patch+yaml":
		// Server-side apply, creating the object if needed, as
		// kube-apiserver does.
		live, err := scheme.Scheme.New(res.Kind)
		if err != nil {
			f.t.Errorf("new %v: %v", res.Kind, err)
			return
		}
		if stored, ok := f.objects[r.URL.Path]; ok {
			if err := json.Unmarshal(stored, live); err != nil {
				f.t.Errorf("decoding stored object: %v", err)
				return
			}
		} else if res.Namespaced {
			m, _ := meta.Accessor(live)
			m.SetNamespace(strings.Split(strings.SplitN(r.URL.Path, "/namespaces/", 2)[1], "/")[0])
		}
		out, err := f.apply.Apply(live, "", body, r.URL.Query().Get("fieldManager"), r.URL.Query().Get("force") == "true")
		if err != nil {
			var se *apierrors.StatusError
			if !errors.As(err, &se) {
				f.t.Errorf("apply: %v", err)
				return
			}
			f.status(w, se)
			return
		}
		out.GetObjectKind().SetGroupVersionKind(res.Kind)
		b, _ := json.Marshal(out)
		f.objects[r.URL.Path] = b
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	case r.Method == http.MethodPatch && named:
		stored, ok := f.objects[r.URL.Path]
		if !ok {
			f.status(w, apierrors.NewNotFound(gr, filepath.Base(r.URL.Path)))
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/strategic-merge-patch+json" {
			f.status(w, apierrors.NewBadRequest("the fake server only applies strategic merge patches, not "+ct))
			return
		}
		obj, err := scheme.Scheme.New(res.Kind)
		if err != nil {
			f.t.Errorf("new %v: %v", res.Kind, err)
			return
		}
		patched, err := strategicpatch.StrategicMergePatch(stored, body, obj)
		if err != nil {
			f.status(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		f.objects[r.URL.Path] = patched
		w.Header().Set("Content-Type", "application/json")
		w.Write(patched)
	default:
		f.status(w, apierrors.NewMethodNotSupported(gr, r.Method))
	}
}

// table answers a GET for a Table (kubectl get) with printers.Table over
// the stored objects, filling each row's object as includeObject asks.
// Preconditions: f.mu is held.
func (f *fakeAPIServer) table(w http.ResponseWriter, r *http.Request, res *Resource, named bool) {
	list, err := scheme.Scheme.New(res.listKind())
	if err != nil {
		f.t.Errorf("new %v: %v", res.listKind(), err)
		return
	}
	var items []runtime.Object
	for path, stored := range f.objects {
		if (named && path != r.URL.Path) || (!named && filepath.Dir(path) != r.URL.Path) {
			continue
		}
		obj, err := scheme.Scheme.New(res.Kind)
		if err != nil || json.Unmarshal(stored, obj) != nil {
			f.t.Errorf("decoding stored %s: %v", path, err)
			return
		}
		items = append(items, obj)
	}
	if named && len(items) == 0 {
		f.status(w, apierrors.NewNotFound(schema.GroupResource{Group: res.Kind.Group, Resource: res.Plural}, filepath.Base(r.URL.Path)))
		return
	}
	if err := meta.SetList(list, items); err != nil {
		f.t.Errorf("setting list: %v", err)
		return
	}
	var table *metav1.Table
	if named {
		table, err = printers.Table(items[0], time.Now())
	} else {
		table, err = printers.Table(list, time.Now())
	}
	if err != nil {
		f.status(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	table.Kind, table.APIVersion = "Table", "meta.k8s.io/v1"
	if r.URL.Query().Get("includeObject") != "None" {
		for i := range table.Rows {
			table.Rows[i].Object = runtime.RawExtension{Object: items[i]}
		}
	}
	f.writeJSON(w, 200, table)
}

// kubectl runs the embedded kubectl against srv, in a fresh HOME so no
// discovery or OpenAPI cache survives between tests.
func kubectl(t *testing.T, bin, server string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	kubeconfig := filepath.Join(home, "config")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: fake, user: {}}]
contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: default}}]
current-context: fake
`, server)
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"kubectl", "--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(home, "cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+kubeconfig)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestRealKubectl(t *testing.T) {
	bin := podvisorBinary(t)

	t.Run("explain", func(t *testing.T) {
		srv := httptest.NewServer(newFakeAPIServer(t))
		defer srv.Close()
		tests := []struct {
			args []string
			want []string
		}{
			{[]string{"explain", "pods.spec.containers"}, []string{
				"KIND:       Pod", "VERSION:    v1", "FIELD: containers <[]Container>", "List of containers belonging to the pod.",
				"name\t<string> -required-", "ports\t<[]ContainerPort>", "resources\t<ResourceRequirements>",
			}},
			{[]string{"explain", "deployment", "--recursive"}, []string{
				"GROUP:      apps", "KIND:       Deployment", "VERSION:    v1", "spec\t<DeploymentSpec> -required-",
				"      containers\t<[]Container> -required-", "containerPort\t<integer> -required-", "maxSurge\t<IntOrString>",
			}},
			{[]string{"explain", "services.spec.ports.targetPort"}, []string{"FIELD: targetPort <IntOrString>"}},
			{[]string{"explain", "cronjobs.spec.jobTemplate.spec.template.spec.restartPolicy"}, []string{"GROUP:      batch", "FIELD: restartPolicy <string>"}},
		}
		for _, tc := range tests {
			out, errOut, err := kubectl(t, bin, srv.URL, "", tc.args...)
			if err != nil {
				t.Errorf("kubectl %v: %v\n%s", tc.args, err, errOut)
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl %v: no %q in:\n%s", tc.args, w, out)
				}
			}
		}
	})

	t.Run("create validates on the server", func(t *testing.T) {
		fake := newFakeAPIServer(t)
		srv := httptest.NewServer(fake)
		defer srv.Close()
		manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replica: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`
		_, errOut, err := kubectl(t, bin, srv.URL, manifest, "create", "--validate=true", "-f", "-")
		if err == nil {
			t.Fatal("kubectl create of a manifest with an unknown field succeeded")
		}
		if !strings.Contains(errOut, `strict decoding error: unknown field "spec.replica"`) {
			t.Errorf("kubectl create: %s, want the server's unknown field error", errOut)
		}
		var creates []recorded
		for _, r := range fake.recorded() {
			if r.method == http.MethodPost {
				creates = append(creates, r)
			}
		}
		if len(creates) != 1 || !strings.Contains(creates[0].query, "fieldValidation=Strict") {
			t.Errorf("create requests %+v: kubectl should have asked the server to validate (fieldValidation=Strict), having read it from /openapi/v3", creates)
		}

		// Without the unknown field it is created.
		fixed := strings.Replace(manifest, "replica: 2", "replicas: 2", 1)
		if out, errOut, err := kubectl(t, bin, srv.URL, fixed, "create", "--validate=true", "-f", "-"); err != nil || !strings.Contains(out, "deployment.apps/web created") {
			t.Errorf("kubectl create: %v %s %s", err, out, errOut)
		}
	})

	t.Run("client-side apply", func(t *testing.T) {
		fake := newFakeAPIServer(t)
		srv := httptest.NewServer(fake)
		defer srv.Close()
		v1 := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1", env: [{name: A, value: "1"}, {name: B, value: "2"}]}
      - {name: log, image: busybox}
`
		if out, errOut, err := kubectl(t, bin, srv.URL, v1, "apply", "-f", "-"); err != nil || !strings.Contains(out, "deployment.apps/web created") {
			t.Fatalf("first apply: %v %s %s", err, out, errOut)
		}
		v2 := strings.Replace(strings.Replace(v1, `"nginx:1"`, `"nginx:2"`, 1), "      - {name: log, image: busybox}\n", "", 1)
		v2 = strings.Replace(v2, `{name: A, value: "1"}, `, "", 1)
		out, errOut, err := kubectl(t, bin, srv.URL, v2, "apply", "-f", "-")
		if err != nil || !strings.Contains(out, "deployment.apps/web configured") {
			t.Fatalf("second apply: %v %s %s", err, out, errOut)
		}
		if strings.Contains(errOut, "warning") {
			t.Errorf("kubectl warned: %s", errOut)
		}
		var patch *recorded
		v3Fetched := false
		for _, r := range fake.recorded() {
			if r.method == http.MethodPatch {
				patch = &r
			}
			if r.path == "/openapi/v3/apis/apps/v1" {
				v3Fetched = true
			}
		}
		if !v3Fetched {
			t.Error("kubectl apply did not read /openapi/v3/apis/apps/v1 for the patch metadata")
		}
		if patch == nil {
			t.Fatal("kubectl apply sent no PATCH")
		}
		if patch.contentType != "application/strategic-merge-patch+json" {
			t.Errorf("patch content type %q", patch.contentType)
		}
		// Containers and env merge by name: the patch keeps web, deletes log
		// by its key and env A by its key.
		for _, want := range []string{`"$setElementOrder/containers":[{"name":"web"}]`, `{"$patch":"delete","name":"log"}`,
			`{"$patch":"delete","name":"A"}`, `"image":"nginx:2"`} {
			if !strings.Contains(string(patch.body), want) {
				t.Errorf("patch %s lacks %s", patch.body, want)
			}
		}
		got, _, err := kubectl(t, bin, srv.URL, "", "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[*].name} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[*].name}")
		if err != nil || got != "web nginx:2 B" {
			t.Errorf("after apply: %q (%v), want \"web nginx:2 B\"", got, err)
		}
	})

	t.Run("server-side apply", func(t *testing.T) {
		srv := httptest.NewServer(newFakeAPIServer(t))
		defer srv.Close()
		manifest := func(replicas int) string {
			return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
`, replicas)
		}
		if out, errOut, err := kubectl(t, bin, srv.URL, manifest(3), "apply", "--server-side", "--field-manager=alice", "-f", "-"); err != nil || !strings.Contains(out, "deployment.apps/web serverside-applied") {
			t.Fatalf("alice's apply: %v %s %s", err, out, errOut)
		}
		_, errOut, err := kubectl(t, bin, srv.URL, manifest(5), "apply", "--server-side", "--field-manager=bob", "-f", "-")
		if err == nil {
			t.Fatal("bob's conflicting apply succeeded")
		}
		for _, want := range []string{`Apply failed with 1 conflict: conflict with "alice": .spec.replicas`, "Please review the fields above--they currently have other managers"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("kubectl's conflict report lacks %q:\n%s", want, errOut)
			}
		}
		if out, errOut, err := kubectl(t, bin, srv.URL, manifest(5), "apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", "-"); err != nil || !strings.Contains(out, "serverside-applied") {
			t.Fatalf("bob's forced apply: %v %s %s", err, out, errOut)
		}
		got, _, err := kubectl(t, bin, srv.URL, "", "get", "deployment", "web", "--show-managed-fields", "-o", "jsonpath={.spec.replicas} {.metadata.managedFields[*].manager}")
		if err != nil || got != "5 alice bob" {
			t.Errorf("after forced apply: %q (%v), want \"5 alice bob\"", got, err)
		}
	})

	t.Run("get prints tables", func(t *testing.T) {
		srv := httptest.NewServer(newFakeAPIServer(t))
		defer srv.Close()
		ts := func(d time.Duration) string { return time.Now().Add(-d).UTC().Format(time.RFC3339) }
		pods := fmt.Sprintf(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: crashy, namespace: default, creationTimestamp: %q}
  spec: {nodeName: node-1, containers: [{name: web, image: nginx}, {name: log, image: busybox}]}
  status:
    phase: Running
    podIPs: [{ip: 10.42.0.7}]
    containerStatuses:
    - {name: web, image: nginx, imageID: "", ready: true, restartCount: 0, state: {running: {}}}
    - name: log
      image: busybox
      imageID: ""
      ready: false
      restartCount: 3
      state: {waiting: {reason: CrashLoopBackOff}}
      lastState: {terminated: {exitCode: 1, finishedAt: %q}}
`, ts(2*time.Hour), ts(30*time.Minute))
		if out, errOut, err := kubectl(t, bin, srv.URL, pods, "create", "-f", "-"); err != nil {
			t.Fatalf("create pods: %v %s %s", err, out, errOut)
		}
		out, errOut, err := kubectl(t, bin, srv.URL, "", "get", "pods", "-o", "wide")
		if err != nil {
			t.Fatalf("kubectl get pods -o wide: %v %s", err, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("kubectl get pods -o wide printed:\n%s", out)
		}
		if got := strings.Join(strings.Fields(lines[0]), " "); got != "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES" {
			t.Errorf("header %q", got)
		}
		if got := strings.Join(strings.Fields(lines[1]), " "); got != "crashy 1/2 CrashLoopBackOff 3 (30m ago) 120m 10.42.0.7 node-1 <none> <none>" {
			t.Errorf("row %q", got)
		}
		out, _, err = kubectl(t, bin, srv.URL, "", "get", "pods")
		if err != nil || !strings.HasPrefix(strings.Join(strings.Fields(out), " "), "NAME READY STATUS RESTARTS AGE crashy 1/2 CrashLoopBackOff 3 (30m ago) 120m") {
			t.Errorf("kubectl get pods (not wide): %v\n%s", err, out)
		}
	})
}
