package openapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	openapiv2 "github.com/google/gnostic-models/openapiv2"
	openapiv3 "github.com/google/gnostic-models/openapiv3"
	"google.golang.org/protobuf/proto"
)

func TestHandler(t *testing.T) {
	s := mustNew(t)
	apps := s.v3["apis/apps/v1"]
	tests := []struct {
		name, method, path string
		header             map[string]string
		wantCode           int
		wantType           string
		wantHeader         map[string]string
		check              func(t *testing.T, body []byte)
	}{
		{name: "v2 JSON by default", method: "GET", path: "/openapi/v2", wantCode: 200, wantType: "application/json",
			wantHeader: map[string]string{"Etag": strconv.Quote(s.v2.etag)},
			check: func(t *testing.T, body []byte) {
				if !bytes.Equal(body, s.v2.json) {
					t.Error("body is not the v2 document")
				}
			}},
		{name: "v2 protobuf as kubectl asks", method: "GET", path: "/openapi/v2",
			header:   map[string]string{"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json"},
			wantCode: 200, wantType: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
			check: func(t *testing.T, body []byte) {
				var doc openapiv2.Document
				if err := proto.Unmarshal(body, &doc); err != nil {
					t.Fatalf("not a v2 protobuf document: %v", err)
				}
				if doc.GetDefinitions() == nil || len(doc.GetPaths().GetPath()) == 0 {
					t.Error("protobuf document has no definitions or paths")
				}
			}},
		{name: "v2 not modified", method: "GET", path: "/openapi/v2", header: map[string]string{"If-None-Match": strconv.Quote(s.v2.etag)}, wantCode: 304},
		{name: "v2 gzipped", method: "GET", path: "/openapi/v2", header: map[string]string{"Accept-Encoding": "gzip"}, wantCode: 200,
			wantHeader: map[string]string{"Content-Encoding": "gzip"},
			check: func(t *testing.T, body []byte) {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				plain, err := io.ReadAll(zr)
				if err != nil || !bytes.Equal(plain, s.v2.json) {
					t.Errorf("gunzipped body is not the v2 document (%v)", err)
				}
			}},
		{name: "v2 unacceptable", method: "GET", path: "/openapi/v2", header: map[string]string{"Accept": "text/html"}, wantCode: 406},
		{name: "v3 index", method: "GET", path: "/openapi/v3", wantCode: 200, wantType: "application/json",
			check: func(t *testing.T, body []byte) {
				var idx struct {
					Paths map[string]struct {
						ServerRelativeURL string `json:"serverRelativeURL"`
					} `json:"paths"`
				}
				if err := json.Unmarshal(body, &idx); err != nil {
					t.Fatal(err)
				}
				if len(idx.Paths) != len(s.v3) {
					t.Errorf("index lists %d documents, want %d", len(idx.Paths), len(s.v3))
				}
				if got, want := idx.Paths["apis/apps/v1"].ServerRelativeURL, "/openapi/v3/apis/apps/v1?hash="+apps.etag; got != want {
					t.Errorf("apps/v1 URL %q, want %q", got, want)
				}
			}},
		{name: "v3 document with current hash is immutable", method: "GET", path: "/openapi/v3/apis/apps/v1?hash=" + apps.etag, wantCode: 200,
			wantType: "application/json", wantHeader: map[string]string{"Cache-Control": "public, immutable", "Etag": strconv.Quote(apps.etag)},
			check: func(t *testing.T, body []byte) {
				if !bytes.Equal(body, apps.json) {
					t.Error("body is not the apps/v1 document")
				}
			}},
		{name: "v3 document with stale hash redirects", method: "GET", path: "/openapi/v3/apis/apps/v1?hash=0123", wantCode: 301,
			wantHeader: map[string]string{"Location": "/openapi/v3/apis/apps/v1?hash=" + apps.etag}},
		{name: "v3 document without hash is not immutable", method: "GET", path: "/openapi/v3/api/v1", wantCode: 200,
			wantHeader: map[string]string{"Cache-Control": ""}},
		{name: "v3 protobuf", method: "GET", path: "/openapi/v3/apis/apps/v1",
			header:   map[string]string{"Accept": "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"},
			wantCode: 200, wantType: "application/com.github.proto-openapi.spec.v3.v1.0+protobuf",
			check: func(t *testing.T, body []byte) {
				var doc openapiv3.Document
				if err := proto.Unmarshal(body, &doc); err != nil {
					t.Fatalf("not a v3 protobuf document: %v", err)
				}
				if len(doc.GetComponents().GetSchemas().GetAdditionalProperties()) == 0 {
					t.Error("protobuf document has no schemas")
				}
			}},
		{name: "unknown group version", method: "GET", path: "/openapi/v3/apis/nope/v1", wantCode: 404},
		{name: "unknown path", method: "GET", path: "/openapi/v4", wantCode: 404},
		{name: "HEAD", method: "HEAD", path: "/openapi/v3", wantCode: 200},
		{name: "POST", method: "POST", path: "/openapi/v2", wantCode: 405, wantHeader: map[string]string{"Allow": "GET, HEAD"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantCode, rec.Body.String())
			}
			if tc.wantType != "" {
				if got := rec.Header().Get("Content-Type"); got != tc.wantType {
					t.Errorf("Content-Type %q, want %q", got, tc.wantType)
				}
			}
			for k, want := range tc.wantHeader {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s %q, want %q", k, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, rec.Body.Bytes())
			}
		})
	}
}

// TestHandlerServesConcurrently hits one lazily encoded document from many
// goroutines at once (run with -race).
func TestHandlerServesConcurrently(t *testing.T) {
	s := mustNew(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			req, _ := http.NewRequest("GET", srv.URL+"/openapi/v3/apis/batch/v1", nil)
			req.Header.Set("Accept", "application/com.github.proto-openapi.spec.v3@v1.0+protobuf")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil && (resp.StatusCode != 200 || len(body) == 0) {
				err = &httpError{resp.StatusCode, strings.TrimSpace(string(body))}
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

type httpError struct {
	code int
	body string
}

func (e *httpError) Error() string { return strconv.Itoa(e.code) + ": " + e.body }
