// Package apiserver serves the Kubernetes API over HTTP from etcd: one
// request pipeline for every resource,
//
//	authenticate → authorize → decode → admit (mutate, validate) → store → encode
//
// with the stages in sub-packages (authn, authz, codec, admission, rest) and
// the per-resource rules in strategies (internal/registry/...). This package
// parses requests, dispatches them through the stages, serves discovery,
// health and metrics, the subresources (status, scale, binding, eviction,
// finalize, token; log/exec/attach/portforward through a pluggable proxy),
// the virtual review resources, and bootstraps the cluster's built-in
// objects (namespaces, the kubernetes Service).
//
// Only internal/server (the wiring) and tests import it.
package apiserver
