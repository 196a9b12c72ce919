// Package validation checks API objects the way the Kubernetes API server
// does before it stores them: one ValidateT, ValidateTUpdate and (for types
// with a status subresource) ValidateTStatusUpdate per resource type, each
// working directly on the versioned k8s.io/api types and returning a
// field.ErrorList whose paths name the offending field
// (`spec.containers[0].image: Required value`).
//
// The rules follow Kubernetes' own validation (pkg/apis/*/validation in
// k8s.io/kubernetes), rewritten here for the v1 types. Objects are expected
// to be defaulted (package defaults) before they are validated, as the API
// server does: fields that defaulting always fills, such as a container's
// imagePullPolicy, are reported as required when empty.
//
// Everything here is pure: no I/O, no storage, no clocks, no package-level
// mutable state. Cluster configuration that a rule depends on (the node port
// range of Services) is passed in. The API server's registry strategies are
// the callers; validation imports no registry, apiserver or storage package.
package validation
