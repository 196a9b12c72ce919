//go:build integration

package apiserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// raw sends one request with the admin's credentials and returns the code,
// the decoded Status (if the body is one) and the headers.
func raw(t *testing.T, rc *rest.Config, method, path, contentType, accept string, body []byte) (int, *metav1.Status, http.Header) {
	t.Helper()
	tr, err := rest.TransportFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, rc.Host+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
		return resp.StatusCode, &st, resp.Header
	}
	return resp.StatusCode, nil, resp.Header
}

func TestBadInput(t *testing.T) {
	s := servertest.Start(t, server.Config{})
	n := ns(t, s.Client)
	big := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"x":"` + strings.Repeat("a", 3<<20) + `"}}`
	pods := "/api/v1/namespaces/" + n + "/pods"
	cms := "/api/v1/namespaces/" + n + "/configmaps"
	goodPod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ok"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`
	tests := []struct {
		name, method, path, ct, accept, body string
		code                                 int
		msg                                  string // part of the Status message
	}{
		{"malformed JSON", "POST", pods, "application/json", "", `{"apiVersion":"v1",`, 400, "malformed"},
		{"malformed YAML", "POST", pods, "application/yaml", "", "apiVersion: v1\nkind: Pod\n  bad: [", 400, ""},
		{"wrong apiVersion", "POST", pods, "application/json", "", `{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"x"}}`, 400, "apps/v1"},
		{"wrong kind", "POST", pods, "application/json", "", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`, 400, "Service"},
		{"name not DNS-1123", "POST", cms, "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}}`, 422, "metadata.name"},
		{"invalid label", "POST", cms, "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a b":"c"}}}`, 422, "metadata.labels"},
		{"missing containers", "POST", pods, "application/json", "", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{}}`, 422, "spec.containers"},
		{"body over 3 MiB", "POST", cms, "application/json", "", big, 413, "limit is 3145728"},
		{"unknown field, Strict", "POST", pods + "?fieldValidation=Strict", "application/json", "", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"bogus":1,"containers":[{"name":"c","image":"i"}]}}`, 400, `unknown field "spec.bogus"`},
		{"bad fieldValidation", "POST", pods + "?fieldValidation=Loud", "application/json", "", goodPod, 400, "fieldValidation"},
		{"bad dryRun", "POST", pods + "?dryRun=Some", "application/json", "", goodPod, 400, "dryRun"},
		{"unsupported media type", "POST", pods, "text/plain", "", goodPod, 415, ""},
		{"only protobuf accepted for a table", "GET", pods, "", "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io", "", 406, ""},
		{"nothing acceptable", "GET", pods, "", "text/html", "", 406, ""},
		{"namespace mismatch", "POST", pods, "application/json", "", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"other"},"spec":{"containers":[{"name":"c","image":"i"}]}}`, 400, "namespace"},
		{"name mismatch on update", "PUT", cms + "/a", "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`, 400, "does not match"},
		{"missing namespace", "POST", "/api/v1/namespaces/nope-nope/configmaps", "application/json", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, 404, "not found"},
		{"unknown resource", "GET", "/api/v1/namespaces/" + n + "/gizmos", "", "", "", 404, ""},
		{"unknown object", "GET", cms + "/nothing", "", "", "", 404, "not found"},
		{"method not allowed", "POST", cms + "/a", "application/json", "", `{}`, 405, ""},
		{"bad label selector", "GET", pods + "?labelSelector=a%20in%20(", "", "", "", 400, ""},
		{"unsupported field selector", "GET", pods + "?fieldSelector=spec.image%3Dx", "", "", "", 400, "field label not supported"},
		{"bad resourceVersion", "GET", pods + "?resourceVersion=abc", "", "", "", 400, ""},
		{"bad limit", "GET", pods + "?limit=-1", "", "", "", 400, ""},
		{"bad continue", "GET", pods + "?limit=1&continue=garbage", "", "", "", 400, "continue"},
		{"patch with wrong type", "PATCH", cms + "/a", "application/json", "", `{}`, 415, ""},
		{"json patch that is an object", "PATCH", pods + "/ok", "application/json-patch+json", "", `{"a":1}`, 400, ""},
		{"json patch that does not apply", "PATCH", pods + "/ok", "application/json-patch+json", "", `[{"op":"replace","path":"/spec/nothing/here","value":1}]`, 422, ""},
		{"negative grace period", "DELETE", pods + "/ok?gracePeriodSeconds=-5", "", "", "", 422, "gracePeriodSeconds"},
		{"bad propagation policy", "DELETE", pods + "/ok?propagationPolicy=Sideways", "", "", "", 400, "propagationPolicy"},
		{"stale resourceVersion precondition", "PUT", pods + "/ok", "application/json", "", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ok","resourceVersion":"2"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`, 409, "modified"},
	}
	// Fixtures: a pod "ok".
	if code, st, _ := raw(t, s.RESTConfig, "POST", pods, "application/json", "", []byte(goodPod)); code != 201 {
		t.Fatalf("creating fixture pod: %d %v", code, st)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, st, _ := raw(t, s.RESTConfig, tc.method, tc.path, tc.ct, tc.accept, []byte(tc.body))
			if code != tc.code {
				t.Fatalf("%s %s: code %d, want %d (status %+v)", tc.method, tc.path, code, tc.code, st)
			}
			if st == nil {
				t.Fatalf("answer is not a Status")
			}
			if st.Code != int32(tc.code) || st.Status != metav1.StatusFailure {
				t.Errorf("Status code %d status %q, want %d Failure", st.Code, st.Status, tc.code)
			}
			if !strings.Contains(st.Message, tc.msg) {
				t.Errorf("message %q does not mention %q", st.Message, tc.msg)
			}
		})
	}

	t.Run("unknown field warns by default", func(t *testing.T) {
		code, _, h := raw(t, s.RESTConfig, "POST", pods, "application/json", "",
			[]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"warned"},"spec":{"bogus":1,"containers":[{"name":"c","image":"i"}]}}`))
		if code != 201 || !strings.Contains(h.Get("Warning"), `unknown field \"spec.bogus\"`) {
			t.Errorf("code %d warning %q, want 201 and a warning naming spec.bogus", code, h.Get("Warning"))
		}
	})
	t.Run("dry run stores nothing", func(t *testing.T) {
		code, _, _ := raw(t, s.RESTConfig, "POST", cms+"?dryRun=All", "application/json", "", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"}}`))
		if code != 201 {
			t.Fatalf("dry-run create: %d", code)
		}
		if code, _, _ := raw(t, s.RESTConfig, "GET", cms+"/dry", "", "", nil); code != 404 {
			t.Errorf("after dry run: %d, want 404", code)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		resp, err := c.Get(s.RESTConfig.Host + pods)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("anonymous request: %d, want 401", resp.StatusCode)
		}
		resp, err = c.Get(s.RESTConfig.Host + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("anonymous /readyz: %d, want 200", resp.StatusCode)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		rc := rest.CopyConfig(s.RESTConfig)
		rc.Impersonate = rest.ImpersonationConfig{UserName: "bob"}
		code, st, _ := raw(t, rc, "GET", pods, "", "", nil)
		if code != 403 || st == nil || !strings.Contains(st.Message, `User "bob" cannot list resource "pods"`) {
			t.Errorf("bob listing pods: %d %+v, want 403 with Kubernetes' message", code, st)
		}
	})
	t.Run("server still healthy", func(t *testing.T) {
		if _, err := s.Client.CoreV1().Pods(n).List(context.Background(), metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
