// Package openapi builds the OpenAPI v2 and v3 documents of the API server
// from the Go types of the resources it serves, and serves them at
// /openapi/v2, /openapi/v3 and /openapi/v3/<group-version> the way
// kube-apiserver does, so that kubectl can explain resources, validate
// manifests, compute strategic merge patches for client-side apply, and learn
// that the server validates fields itself (the fieldValidation parameter).
//
// Schemas come from the types by reflection: definition names as Kubernetes
// names them (io.k8s.api.core.v1.Pod), descriptions from the types'
// SwaggerDoc methods, properties from json tags, patch strategies from
// patchStrategy/patchMergeKey tags, and the special apimachinery types
// (Quantity, IntOrString, Time, ...) from their OpenAPISchemaType methods.
// What reflection cannot see — the +listType, +listMapKey, +mapType,
// +structType and +default markers in k8s.io/api's comments — comes from a
// table generated from Kubernetes' own structured-merge-diff schema
// (zz_generated_markers.go, kept current by TestMarkersUpToDate), so the
// documents carry the x-kubernetes-list-type, x-kubernetes-list-map-keys and
// x-kubernetes-map-type extensions server-side apply needs.
//
// Known differences from kube-apiserver's documents: no "enum" lists and no
// "Possible enum values" text (they come from +enum comments reflection cannot
// read), list-type markers that only repeat what a patch strategy already
// implies are omitted, and the v3 index lists only group-version documents
// (no "api", "apis", "version" or discovery documents).
//
// Documents are built once by New; the handler serves precomputed bytes.
// Only internal/apiserver (and the server wiring) import this package.
package openapi
