package apiserver

import (
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRequestInfo(t *testing.T) {
	tests := []struct {
		name   string
		method string
		url    string
		want   requestInfo
	}{
		{"version", "GET", "/version", requestInfo{Path: "/version", Verb: "get"}},
		{"core group", "GET", "/api/v1", requestInfo{Path: "/api/v1", Verb: "get", APIPrefix: "api", APIVersion: "v1"}},
		{"list pods", "GET", "/api/v1/namespaces/ns/pods", requestInfo{IsResource: true, Path: "/api/v1/namespaces/ns/pods", Verb: "list", APIPrefix: "api", APIVersion: "v1", Namespace: "ns", Resource: "pods"}},
		{"all pods", "GET", "/api/v1/pods", requestInfo{IsResource: true, Path: "/api/v1/pods", Verb: "list", APIPrefix: "api", APIVersion: "v1", Resource: "pods"}},
		{"watch query", "GET", "/api/v1/pods?watch=true", requestInfo{IsResource: true, Path: "/api/v1/pods", Verb: "watch", APIPrefix: "api", APIVersion: "v1", Resource: "pods"}},
		{"legacy watch", "GET", "/api/v1/watch/namespaces/ns/pods/p", requestInfo{IsResource: true, Path: "/api/v1/watch/namespaces/ns/pods/p", Verb: "watch", APIPrefix: "api", APIVersion: "v1", Namespace: "ns", Resource: "pods", Name: "p"}},
		{"get pod", "GET", "/api/v1/namespaces/ns/pods/p", requestInfo{IsResource: true, Path: "/api/v1/namespaces/ns/pods/p", Verb: "get", APIPrefix: "api", APIVersion: "v1", Namespace: "ns", Resource: "pods", Name: "p"}},
		{"pod status", "PUT", "/api/v1/namespaces/ns/pods/p/status", requestInfo{IsResource: true, Path: "/api/v1/namespaces/ns/pods/p/status", Verb: "update", APIPrefix: "api", APIVersion: "v1", Namespace: "ns", Resource: "pods", Name: "p", Subresource: "status"}},
		{"namespace", "DELETE", "/api/v1/namespaces/ns", requestInfo{IsResource: true, Path: "/api/v1/namespaces/ns", Verb: "delete", APIPrefix: "api", APIVersion: "v1", Namespace: "ns", Resource: "namespaces", Name: "ns"}},
		{"namespace status", "PUT", "/api/v1/namespaces/ns/status", requestInfo{IsResource: true, Path: "/api/v1/namespaces/ns/status", Verb: "update", APIPrefix: "api", APIVersion: "v1", Namespace: "ns", Resource: "namespaces", Name: "ns", Subresource: "status"}},
		{"create deployment", "POST", "/apis/apps/v1/namespaces/ns/deployments", requestInfo{IsResource: true, Path: "/apis/apps/v1/namespaces/ns/deployments", Verb: "create", APIPrefix: "apis", APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Resource: "deployments"}},
		{"deletecollection", "DELETE", "/apis/apps/v1/namespaces/ns/deployments", requestInfo{IsResource: true, Path: "/apis/apps/v1/namespaces/ns/deployments", Verb: "deletecollection", APIPrefix: "apis", APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Resource: "deployments"}},
		{"patch scale", "PATCH", "/apis/apps/v1/namespaces/ns/deployments/d/scale", requestInfo{IsResource: true, Path: "/apis/apps/v1/namespaces/ns/deployments/d/scale", Verb: "patch", APIPrefix: "apis", APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Resource: "deployments", Name: "d", Subresource: "scale"}},
		{"group discovery", "GET", "/apis/apps", requestInfo{Path: "/apis/apps", Verb: "get"}},
		{"cluster scoped", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", requestInfo{IsResource: true, Path: "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", Verb: "get", APIPrefix: "apis", APIGroup: "rbac.authorization.k8s.io", APIVersion: "v1", Resource: "clusterroles", Name: "admin"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseRequestInfo(httptest.NewRequest(tc.method, tc.url, nil))
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("parseRequestInfo(%s %s) (-want +got):\n%s", tc.method, tc.url, diff)
			}
		})
	}
}
