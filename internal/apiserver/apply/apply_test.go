package apply

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/podvisor/podvisor/internal/apiserver/openapi"
)

var (
	deploymentKind = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	podKind        = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	serviceKind    = schema.GroupVersionKind{Version: "v1", Kind: "Service"}
)

func newManager(t *testing.T) *Manager {
	t.Helper()
	all := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	svc, err := openapi.New(openapi.Config{Scheme: scheme.Scheme, Version: "v1.37.2", Resources: []openapi.Resource{
		{Kind: deploymentKind, Plural: "deployments", Namespaced: true, Verbs: all,
			Subresources: []openapi.Subresource{{Name: "status", Verbs: []string{"get", "update", "patch"}}}},
		{Kind: podKind, Plural: "pods", Namespaced: true, Verbs: all},
		{Kind: serviceKind, Plural: "services", Namespaced: true, Verbs: all},
	}})
	if err != nil {
		t.Fatalf("openapi.New: %v", err)
	}
	m, err := New(Config{Models: svc.Models(), Scheme: scheme.Scheme, Endpoints: []Endpoint{
		{Kind: deploymentKind, ResetFields: [][]string{{"status"}}},
		{Kind: deploymentKind, Subresource: "status", ResetFields: [][]string{{"spec"}}},
		{Kind: podKind},
		{Kind: serviceKind},
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

const deploymentV1 = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web, tier: front}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        ports: [{containerPort: 80}]
      - name: log
        image: busybox
`

func emptyDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}}
}

func mustApply(t *testing.T, m *Manager, live runtime.Object, sub, cfg, manager string, force bool) *appsv1.Deployment {
	t.Helper()
	out, err := m.Apply(live, sub, []byte(cfg), manager, force)
	if err != nil {
		t.Fatalf("apply by %s: %v", manager, err)
	}
	d, ok := out.(*appsv1.Deployment)
	if !ok {
		t.Fatalf("apply returned %T", out)
	}
	return d
}

// owners returns manager:operation of each managedFields entry that owns
// the field whose fieldsV1 key path contains all of keys, e.g.
// "f:spec", "f:replicas".
func owners(obj metav1.Object, keys ...string) []string {
	var out []string
	for _, e := range obj.GetManagedFields() {
		if e.FieldsV1 == nil {
			continue
		}
		raw := string(e.FieldsV1.Raw)
		found := true
		for _, k := range keys {
			if !strings.Contains(raw, `"`+k+`"`) {
				found = false
			}
		}
		if found {
			out = append(out, e.Manager+":"+string(e.Operation))
		}
	}
	return out
}

func containerNames(d *appsv1.Deployment) []string {
	var out []string
	for _, c := range d.Spec.Template.Spec.Containers {
		out = append(out, c.Name+"="+c.Image)
	}
	return out
}

// TestApplyByTwoManagers walks through the life of one object the way two
// people using kubectl apply --server-side would.
func TestApplyByTwoManagers(t *testing.T) {
	m := newManager(t)

	// alice creates the deployment by applying it.
	d := mustApply(t, m, emptyDeployment(), "", deploymentV1, "alice", false)
	if *d.Spec.Replicas != 3 || d.Name != "web" || len(d.Spec.Template.Spec.Containers) != 2 {
		t.Fatalf("created %+v", d.Spec)
	}
	if got := owners(d, "f:spec", "f:replicas"); !cmp.Equal(got, []string{"alice:Apply"}) {
		t.Errorf("replicas owned by %v, want alice:Apply", got)
	}
	if p := d.Spec.Template.Spec.Containers[0].Ports[0]; p.Protocol != "" || p.ContainerPort != 80 {
		t.Errorf("port %+v", p)
	}

	// bob applies his own fields: a label and a sidecar container. Lists
	// of containers merge by name, labels by key.
	bobV1 := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"owner":"bob"}},
	  "spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy"}]}}}}`
	d = mustApply(t, m, d, "", bobV1, "bob", false)
	if got, want := containerNames(d), []string{"web=nginx:1", "log=busybox", "sidecar=envoy"}; !cmp.Equal(got, want) {
		t.Errorf("containers %v, want %v", got, want)
	}
	if d.Labels["owner"] != "bob" || d.Labels["app"] != "web" {
		t.Errorf("labels %v", d.Labels)
	}

	// bob wants 5 replicas too (an apply configuration is all a manager
	// wants: leaving his label and sidecar out would remove them). alice
	// owns replicas, so that is a conflict.
	bobReplicas := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"owner":"bob"}},
	  "spec":{"replicas":5,"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy"}]}}}}`
	_, err := m.Apply(d, "", []byte(bobReplicas), "bob", false)
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("conflicting apply: %v, want a StatusError", err)
	}
	s := status.Status()
	if s.Code != http.StatusConflict || s.Reason != metav1.StatusReasonConflict {
		t.Errorf("conflict status %d %s, want 409 Conflict", s.Code, s.Reason)
	}
	if want := `Apply failed with 1 conflict: conflict with "alice": .spec.replicas`; s.Message != want {
		t.Errorf("message %q, want %q", s.Message, want)
	}
	if s.Details == nil || len(s.Details.Causes) != 1 || s.Details.Causes[0].Field != ".spec.replicas" ||
		s.Details.Causes[0].Type != metav1.CauseTypeFieldManagerConflict || s.Details.Causes[0].Message != `conflict with "alice"` {
		t.Errorf("causes %+v", s.Details)
	}

	// With force bob takes the field over.
	d = mustApply(t, m, d, "", bobReplicas, "bob", true)
	if *d.Spec.Replicas != 5 {
		t.Errorf("replicas %d after forced apply, want 5", *d.Spec.Replicas)
	}
	if got := owners(d, "f:spec", "f:replicas"); !cmp.Equal(got, []string{"bob:Apply"}) {
		t.Errorf("replicas owned by %v, want bob:Apply", got)
	}

	// alice re-applies without the tier label, the log container and
	// replicas: what she alone owned goes away, what bob owns stays.
	aliceV2 := `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:2
`
	d = mustApply(t, m, d, "", aliceV2, "alice", false)
	if _, ok := d.Labels["tier"]; ok {
		t.Errorf("label tier kept after alice dropped it: %v", d.Labels)
	}
	if d.Labels["owner"] != "bob" {
		t.Errorf("bob's label lost: %v", d.Labels)
	}
	if got, want := containerNames(d), []string{"web=nginx:2", "sidecar=envoy"}; !cmp.Equal(got, want) {
		t.Errorf("containers %v, want %v", got, want)
	}
	if *d.Spec.Replicas != 5 {
		t.Errorf("replicas %d, bob's 5 should stay", *d.Spec.Replicas)
	}
}

// TestUpdateRecordsOwnership checks ordinary writes: they record their
// manager as an Update, and a later apply of the same field conflicts with
// it, named as Kubernetes names update managers.
func TestUpdateRecordsOwnership(t *testing.T) {
	m := newManager(t)
	created, err := m.Update(nil, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       appsv1.DeploymentSpec{Replicas: int32Ptr(1)},
	}, "", "kubectl-create")
	if err != nil {
		t.Fatalf("update on create: %v", err)
	}
	d := created.(*appsv1.Deployment)
	if got := owners(d, "f:spec", "f:replicas"); !cmp.Equal(got, []string{"kubectl-create:Update"}) {
		t.Errorf("replicas owned by %v, want kubectl-create:Update", got)
	}
	if d.ManagedFields[0].APIVersion != "apps/v1" || d.ManagedFields[0].Time == nil {
		t.Errorf("managed fields entry %+v lacks apiVersion or time", d.ManagedFields[0])
	}

	edited := d.DeepCopy()
	edited.Spec.Replicas = int32Ptr(4)
	out, err := m.Update(d, edited, "", "kubectl-edit")
	if err != nil {
		t.Fatal(err)
	}
	d = out.(*appsv1.Deployment)
	if got := owners(d, "f:spec", "f:replicas"); !cmp.Equal(got, []string{"kubectl-edit:Update"}) {
		t.Errorf("replicas owned by %v after edit, want kubectl-edit:Update", got)
	}

	_, err = m.Apply(d, "", []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}`), "alice", false)
	if err == nil || !strings.Contains(err.Error(), `conflict with "kubectl-edit" using apps/v1`) {
		t.Errorf("apply over an edited field: %v, want a conflict with kubectl-edit", err)
	}
}

// TestResetFields checks that a resource with a status subresource records
// no status ownership for writes to the resource, and the status
// subresource none for spec.
func TestResetFields(t *testing.T) {
	m := newManager(t)
	d := mustApply(t, m, emptyDeployment(), "",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1},"status":{"replicas":7}}`, "alice", false)
	if got := owners(d, "f:status"); len(got) != 0 {
		t.Errorf("status owned by %v through the resource", got)
	}
	d = mustApply(t, m, d, "status",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"status":{"readyReplicas":1}}`, "controller", false)
	if got := owners(d, "f:status", "f:readyReplicas"); !cmp.Equal(got, []string{"controller:Apply"}) {
		t.Errorf("status owned by %v, want controller:Apply", got)
	}
	for _, e := range d.ManagedFields {
		if e.Manager == "controller" && e.Subresource != "status" {
			t.Errorf("controller's entry has subresource %q, want status", e.Subresource)
		}
	}
}

// TestListMapKeysWithDefaults applies service ports, a list keyed by port
// and protocol where protocol defaults to TCP: two managers' ports merge,
// and re-applying one port without protocol matches the stored TCP one.
func TestListMapKeysWithDefaults(t *testing.T) {
	m := newManager(t)
	live := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}}
	out, err := m.Apply(live, "", []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}}`), "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	svc := out.(*corev1.Service)
	svc.Spec.Ports[0].Protocol = corev1.ProtocolTCP // as defaulting would
	out, err = m.Apply(svc, "", []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":53,"protocol":"UDP"}]}}`), "bob", false)
	if err != nil {
		t.Fatal(err)
	}
	out, err = m.Apply(out, "", []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80,"name":"http"}]}}`), "alice", false)
	if err != nil {
		t.Fatalf("re-applying port 80 without protocol: %v", err)
	}
	var got []string
	for _, p := range out.(*corev1.Service).Spec.Ports {
		got = append(got, string(p.Protocol)+"/"+p.Name)
	}
	if want := []string{"TCP/http", "UDP/"}; !cmp.Equal(got, want) {
		t.Errorf("ports %v, want %v", got, want)
	}
}

func TestApplyRejectsBadInput(t *testing.T) {
	m := newManager(t)
	live := mustApply(t, m, emptyDeployment(), "", deploymentV1, "alice", false)
	tests := []struct {
		name, cfg, manager string
		want               string
	}{
		{"not YAML", "{nope: [", "bob", "error decoding YAML"},
		{"no manager", deploymentV1, "", "fieldManager is required"},
		{"no kind", `{"apiVersion":"apps/v1","metadata":{"name":"web"}}`, "bob", "apiVersion and kind must be set"},
		{"wrong kind", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"}}`, "bob", "not a apps/v1, Kind=Deployment"},
		{"wrong version", `{"apiVersion":"apps/v1beta1","kind":"Deployment","metadata":{"name":"web"}}`, "bob", "not a apps/v1, Kind=Deployment"},
		{"other object", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"db"}}`, "bob", "does not match the name"},
		{"other namespace", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"prod"}}`, "bob", "does not match the namespace"},
		{"managed fields", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","managedFields":[{"manager":"x"}]}}`, "bob", "managedFields must be nil"},
		{"unknown field", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replica":2}}`, "bob", ".spec.replica: field not declared in schema"},
		{"wrong type", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":"two"}}`, "bob", ".spec.replicas"},
		{"duplicate list keys", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"a"},{"name":"a"}]}}}}`, "bob", "duplicate entries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Apply(live, "", []byte(tc.cfg), tc.manager, false)
			var status apierrors.APIStatus
			if !errors.As(err, &status) {
				t.Fatalf("error %v, want a StatusError", err)
			}
			if status.Status().Code != http.StatusBadRequest {
				t.Errorf("code %d, want 400: %v", status.Status().Code, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one containing %q", err, tc.want)
			}
		})
	}
	if live.Labels["tier"] != "front" || len(live.ManagedFields) != 1 {
		t.Error("a failed apply modified the live object")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no scheme", Config{}, "no scheme"},
		{"unknown kind", Config{Scheme: runtime.NewScheme(), Endpoints: []Endpoint{{Kind: podKind}}}, "not in the scheme"},
		{"twice", Config{Scheme: scheme.Scheme, Endpoints: []Endpoint{{Kind: podKind}, {Kind: podKind}}}, "listed twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New() error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func int32Ptr(i int32) *int32 { return &i }
