// Package impersonation implements Kubernetes' user impersonation: a request
// carrying Impersonate-User, Impersonate-Group, Impersonate-Uid or
// Impersonate-Extra-<key> headers (kubectl --as, --as-group, --as-uid) acts
// as that user, provided the authenticated user may "impersonate" each
// requested users/groups/uids/userextras (or serviceaccounts) resource.
//
// It sits apart from package authn because it asks an authz.Authorizer, and
// authz imports authn. The apiserver pipeline calls Impersonate between
// authentication and authorization. Only the apiserver imports it.
package impersonation

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

// Requested reports whether h carries any impersonation header.
func Requested(h http.Header) bool {
	if h.Get(authenticationv1.ImpersonateUserHeader) != "" || h.Get(authenticationv1.ImpersonateUIDHeader) != "" || len(h.Values(authenticationv1.ImpersonateGroupHeader)) > 0 {
		return true
	}
	for k := range h {
		if strings.HasPrefix(k, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			return true
		}
	}
	return false
}

// RemoveHeaders deletes the impersonation headers from h, as the pipeline
// should once impersonation succeeded (so they are not proxied onwards).
func RemoveHeaders(h http.Header) {
	h.Del(authenticationv1.ImpersonateUserHeader)
	h.Del(authenticationv1.ImpersonateGroupHeader)
	h.Del(authenticationv1.ImpersonateUIDHeader)
	for k := range h {
		if strings.HasPrefix(k, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			h.Del(k)
		}
	}
}

// check is one thing to impersonate and the attributes to authorize it.
type check struct {
	attrs authz.Attributes
	desc  string
}

// Impersonate returns the user a request acts as. Without impersonation
// headers that is requester itself. With them, every requested user,
// service account, group, uid and extra value must be allowed by az (verb
// "impersonate"), else the result is a 403 StatusError with Kubernetes'
// message (e.g. `users "alice" is forbidden: User "bob" cannot impersonate
// resource "users" in API group "" at the cluster scope`); groups, uid or
// extras without a user give a 400.
//
// The impersonated user gets system:authenticated added unless
// system:authenticated or system:unauthenticated is among the requested
// groups (system:unauthenticated for system:anonymous); a service account
// without requested groups gets its service-account groups.
func Impersonate(ctx context.Context, requester *authn.User, h http.Header, az authz.Authorizer) (*authn.User, error) {
	if !Requested(h) {
		return requester, nil
	}
	if requester == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("no user found for request"))
	}
	checks, err := build(requester, h)
	if err != nil {
		return nil, err
	}
	groupsSpecified := len(h.Values(authenticationv1.ImpersonateGroupHeader)) > 0
	u := &authn.User{}
	var groups []string
	for _, c := range checks {
		switch c.attrs.Resource {
		case "serviceaccounts":
			u.Name = authn.ServiceAccountUsername(c.attrs.Namespace, c.attrs.Name)
			if !groupsSpecified {
				groups = authn.ServiceAccountGroups(c.attrs.Namespace)
			}
		case "users":
			u.Name = c.attrs.Name
		case "groups":
			groups = append(groups, c.attrs.Name)
		case "userextras":
			if u.Extra == nil {
				u.Extra = map[string][]string{}
			}
			u.Extra[c.attrs.Subresource] = append(u.Extra[c.attrs.Subresource], c.attrs.Name)
		case "uids":
			u.UID = c.attrs.Name
		}
		d, reason, err := az.Authorize(ctx, c.attrs)
		if err != nil || d != authz.Allow {
			return nil, authz.ForbiddenError(c.attrs, reason)
		}
	}
	if u.Name != authn.Anonymous {
		if !slices.Contains(groups, authn.AllAuthenticated) && !slices.Contains(groups, authn.AllUnauthenticated) {
			groups = append(groups, authn.AllAuthenticated)
		}
	} else if !slices.Contains(groups, authn.AllUnauthenticated) {
		groups = append(groups, authn.AllUnauthenticated)
	}
	u.Groups = groups
	return u, nil
}

// build lists what h asks to impersonate, in Kubernetes' order: user (or
// service account), groups, extras, uid.
func build(requester *authn.User, h http.Header) ([]check, error) {
	var checks []check
	user := h.Get(authenticationv1.ImpersonateUserHeader)
	if user != "" {
		if ns, name, err := authn.SplitServiceAccountUsername(user); err == nil {
			checks = append(checks, check{attrs: authz.Attributes{Resource: "serviceaccounts", Namespace: ns, Name: name}, desc: fmt.Sprintf("ServiceAccount %s/%s", ns, name)})
		} else {
			checks = append(checks, check{attrs: authz.Attributes{Resource: "users", Name: user}, desc: "User " + user})
		}
	}
	for _, g := range h.Values(authenticationv1.ImpersonateGroupHeader) {
		checks = append(checks, check{attrs: authz.Attributes{Resource: "groups", Name: g}, desc: "Group " + g})
	}
	// Map iteration order is random; sort the extra keys so that the first
	// forbidden one reported is stable.
	var extraKeys []string
	for k := range h {
		if strings.HasPrefix(k, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			extraKeys = append(extraKeys, k)
		}
	}
	slices.Sort(extraKeys)
	hasExtra := false
	for _, k := range extraKeys {
		hasExtra = true
		key := unescapeExtraKey(strings.ToLower(k[len(authenticationv1.ImpersonateUserExtraHeaderPrefix):]))
		for _, v := range h[k] {
			checks = append(checks, check{attrs: authz.Attributes{APIGroup: authenticationv1.GroupName, APIVersion: "v1", Resource: "userextras", Subresource: key, Name: v}, desc: "UserExtra " + key + "=" + v})
		}
	}
	uid := h.Get(authenticationv1.ImpersonateUIDHeader)
	if uid != "" {
		checks = append(checks, check{attrs: authz.Attributes{APIGroup: authenticationv1.GroupName, APIVersion: "v1", Resource: "uids", Name: uid}, desc: "UID " + uid})
	}
	if user == "" && (len(h.Values(authenticationv1.ImpersonateGroupHeader)) > 0 || hasExtra || uid != "") {
		var descs []string
		for _, c := range checks {
			descs = append(descs, c.desc)
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("requested [%s] without impersonating a user", strings.Join(descs, " ")))
	}
	for i := range checks {
		checks[i].attrs.User = requester
		checks[i].attrs.Verb = "impersonate"
		checks[i].attrs.ResourceRequest = true
	}
	return checks, nil
}

// unescapeExtraKey decodes a %-encoded extra key; a malformed one is kept
// as is, as Kubernetes does.
func unescapeExtraKey(k string) string {
	if u, err := url.PathUnescape(k); err == nil {
		return u
	}
	return k
}
