package apiserver

import (
	"net/http"
	"strings"
)

// requestInfo is what a request path and method say about the request.
type requestInfo struct {
	// IsResource is false for /version, /healthz, /api, /apis/<g>, ...
	IsResource bool
	Path       string
	// Verb is the Kubernetes verb for resource requests, else the
	// lower-cased method.
	Verb string

	APIPrefix   string // "api" or "apis"
	APIGroup    string
	APIVersion  string
	Namespace   string
	Resource    string
	Subresource string
	Name        string
}

// namespaceSubresources are the subresources of a namespace that come
// right after its name: /api/v1/namespaces/<ns>/status.
var namespaceSubresources = map[string]bool{"status": true, "finalize": true}

// parseRequestInfo parses a request the way Kubernetes' RequestInfoFactory
// does.
func parseRequestInfo(r *http.Request) *requestInfo {
	ri := &requestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := splitPath(r.URL.Path)
	if len(parts) < 2 {
		return ri
	}
	switch parts[0] {
	case "api":
		ri.APIPrefix = "api"
		ri.APIVersion = parts[1]
		parts = parts[2:]
	case "apis":
		if len(parts) < 3 {
			return ri
		}
		ri.APIPrefix = "apis"
		ri.APIGroup, ri.APIVersion = parts[1], parts[2]
		parts = parts[3:]
	default:
		return ri
	}
	if len(parts) == 0 {
		return ri
	}
	ri.IsResource = true
	legacyWatch := false
	if parts[0] == "watch" {
		legacyWatch = true
		parts = parts[1:]
		if len(parts) == 0 {
			ri.IsResource = false
			return ri
		}
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		ri.Namespace = parts[1]
		if len(parts) > 2 && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		}
	}
	ri.Resource = parts[0]
	if len(parts) > 1 {
		ri.Name = parts[1]
	}
	if len(parts) > 2 {
		ri.Subresource = parts[2]
	}
	if len(parts) > 3 {
		// Proxy paths: the rest belongs to the subresource.
		ri.Subresource = parts[2]
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case legacyWatch || isWatchQuery(r):
			ri.Verb = "watch"
		case ri.Name == "":
			ri.Verb = "list"
		default:
			ri.Verb = "get"
		}
	case http.MethodPost:
		ri.Verb = "create"
	case http.MethodPut:
		ri.Verb = "update"
	case http.MethodPatch:
		ri.Verb = "patch"
	case http.MethodDelete:
		if ri.Name == "" {
			ri.Verb = "deletecollection"
		} else {
			ri.Verb = "delete"
		}
	}
	return ri
}

func isWatchQuery(r *http.Request) bool {
	v := r.URL.Query().Get("watch")
	return v == "true" || v == "1"
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
