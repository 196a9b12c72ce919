//go:build integration

package apiserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

func get(t *testing.T, rc *rest.Config, path, accept string) (int, http.Header, []byte) {
	t.Helper()
	tr, err := rest.TransportFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", rc.Host+path, nil)
	req.Header.Set("Accept", accept)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

func TestDiscoveryTablesAndHealth(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	rc := s.RESTConfig
	ctx := context.Background()

	code, h, body := get(t, rc, "/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	if code != 200 || !strings.Contains(h.Get("Content-Type"), "as=APIGroupDiscoveryList") {
		t.Fatalf("aggregated discovery: %d %s", code, h.Get("Content-Type"))
	}
	var agg apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(body, &agg); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range agg.Items {
		for _, v := range g.Versions {
			for _, r := range v.Resources {
				if g.Name == "apps" && r.Resource == "deployments" {
					found = len(r.ShortNames) == 1 && r.ShortNames[0] == "deploy" && len(r.Subresources) == 2
				}
			}
		}
	}
	if !found {
		t.Errorf("aggregated discovery lacks apps/v1 deployments with short name deploy and scale/status subresources")
	}
	rl, err := s.Client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range rl.APIResources {
		names[r.Name] = true
	}
	for _, want := range []string{"pods", "pods/status", "pods/binding", "pods/eviction", "pods/log", "pods/exec", "serviceaccounts/token", "namespaces/finalize", "services"} {
		if !names[want] {
			t.Errorf("/api/v1 lacks %s", want)
		}
	}
	if names["configmaps/status"] {
		t.Error("/api/v1 lists configmaps/status, which does not exist")
	}

	code, h, body = get(t, rc, "/api/v1/namespaces", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	var tbl metav1.Table
	if code != 200 || json.Unmarshal(body, &tbl) != nil || tbl.Kind != "Table" || len(tbl.Rows) < 4 || len(tbl.ColumnDefinitions) == 0 {
		t.Errorf("table: %d %s %s", code, h.Get("Content-Type"), body)
	}
	code, h, _ = get(t, rc, "/api/v1/namespaces", "application/vnd.kubernetes.protobuf,application/json")
	if code != 200 || h.Get("Content-Type") != "application/vnd.kubernetes.protobuf" {
		t.Errorf("protobuf list: %d %s", code, h.Get("Content-Type"))
	}
	// The metadata client (garbage collector, metadata informers).
	mc, err := metadata.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ml, err := mc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).List(ctx, metav1.ListOptions{})
	if err != nil || len(ml.Items) < 4 {
		t.Errorf("metadata list: %v %v", err, ml)
	}
	code, _, body = get(t, rc, "/version", "application/json")
	if code != 200 || !strings.Contains(string(body), `"gitVersion": "v1.37.2+podvisor"`) {
		t.Errorf("/version: %d %s", code, body)
	}
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		if code, _, body := get(t, rc, p, "*/*"); code != 200 || string(body) != "ok" {
			t.Errorf("%s: %d %q", p, code, body)
		}
	}
	code, _, body = get(t, rc, "/metrics", "text/plain")
	if code != 200 || !strings.Contains(string(body), `apiserver_request_total{code="200"`) {
		t.Errorf("/metrics: %d, no request counts", code)
	}
}
