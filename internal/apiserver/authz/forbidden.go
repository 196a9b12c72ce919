package authz

import (
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Avoid messages that look like HTML; quotes are fine.
var sanitizer = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;")

// ForbiddenMessage returns Kubernetes' description of what a denied request
// tried, e.g. `User "bob" cannot list resource "pods" in API group "" in the
// namespace "default"`.
func ForbiddenMessage(a Attributes) string {
	name := ""
	if a.User != nil {
		name = a.User.Name
	}
	if !a.ResourceRequest {
		return fmt.Sprintf("User %q cannot %s path %q", name, a.Verb, a.Path)
	}
	resource := a.Resource
	if a.Subresource != "" {
		resource += "/" + a.Subresource
	}
	if a.Namespace != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.Verb, resource, a.APIGroup, a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.Verb, resource, a.APIGroup)
}

// ForbiddenError returns the 403 Status error Kubernetes answers a request
// the authorizer did not allow, with the authorizer's reason appended, e.g.
// `pods is forbidden: User "bob" cannot list resource "pods" in API group ""
// in the namespace "default"`.
func ForbiddenError(a Attributes, reason string) *apierrors.StatusError {
	msg := sanitizer.Replace(ForbiddenMessage(a))
	var err error
	if reason == "" {
		err = fmt.Errorf("%s", msg)
	} else {
		err = fmt.Errorf("%s: %s", msg, reason)
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}, a.Name, err)
}
