// Package defaults fills in the fields Kubernetes fills in when it decodes
// an object: the same values as the SetDefaults_* functions of
// k8s.io/kubernetes/pkg/apis/*/v1 (and the generated code that walks into
// nested types), applied directly to the versioned k8s.io/api types.
//
// There is one function per type (Pod, Deployment, Service, ...) and
// Object, which picks the right one for any object or list. Every function
// mutates its argument in place, only sets fields that are unset, and is
// idempotent: applying it twice gives the same object as applying it once.
//
// Some values Kubernetes sets at creation time are not defaults, because
// re-applying them on every update would be wrong: a Job's generated
// selector (JobSelector) and a Namespace's "kubernetes" finalizer
// (NamespaceOnCreate) are separate functions for the API server's create
// path.
//
// The package is pure (no I/O, no package-level mutable state). The API
// server's registry and admission are its callers; anything may import it.
package defaults
