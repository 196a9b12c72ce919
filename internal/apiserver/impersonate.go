package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
)

// impersonate applies the Impersonate-* headers (kubectl --as, --as-group):
// the requester must be allowed the "impersonate" verb on each user, group,
// uid and extra it names; the request then runs as that user.
func (s *Server) impersonate(r *http.Request, user *authn.User) (*authn.User, error) {
	name := r.Header.Get("Impersonate-User")
	groups := r.Header.Values("Impersonate-Group")
	uid := r.Header.Get("Impersonate-Uid")
	extra := map[string][]string{}
	for k, vs := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "impersonate-extra-") {
			extra[strings.ToLower(strings.TrimPrefix(strings.ToLower(k), "impersonate-extra-"))] = vs
		}
	}
	if name == "" {
		if len(groups) > 0 || uid != "" || len(extra) > 0 {
			return nil, apierrors.NewBadRequest("requested impersonation of groups, uid or extra without a user: Impersonate-User is required")
		}
		return user, nil
	}
	check := func(a authz.Attributes) error {
		a.User, a.Verb, a.ResourceRequest = user, "impersonate", true
		d, reason, _ := s.deps.Authorizer.Authorize(r.Context(), a)
		if d == authz.Allow {
			return nil
		}
		msg := fmt.Sprintf("User %q cannot impersonate resource %q in API group %q", user.Name, a.Resource, a.APIGroup)
		if a.Namespace != "" {
			msg += fmt.Sprintf(" in the namespace %q", a.Namespace)
		} else {
			msg += " at the cluster scope"
		}
		if reason != "" {
			msg += ": " + reason
		}
		return apierrors.NewForbidden(schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}, a.Name, errors.New(msg))
	}
	if parts := strings.Split(name, ":"); len(parts) == 4 && parts[0] == "system" && parts[1] == "serviceaccount" {
		if err := check(authz.Attributes{Resource: "serviceaccounts", Namespace: parts[2], Name: parts[3]}); err != nil {
			return nil, err
		}
	} else if err := check(authz.Attributes{Resource: "users", Name: name}); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := check(authz.Attributes{Resource: "groups", Name: g}); err != nil {
			return nil, err
		}
	}
	if uid != "" {
		if err := check(authz.Attributes{APIGroup: "authentication.k8s.io", Resource: "uids", Name: uid}); err != nil {
			return nil, err
		}
	}
	for k, vs := range extra {
		for _, v := range vs {
			if err := check(authz.Attributes{APIGroup: "authentication.k8s.io", Resource: "userextras", Subresource: k, Name: v}); err != nil {
				return nil, err
			}
		}
	}
	out := &authn.User{Name: name, UID: uid, Groups: append([]string(nil), groups...)}
	if len(extra) > 0 {
		out.Extra = extra
	}
	if name != "system:anonymous" {
		has := false
		for _, g := range out.Groups {
			has = has || g == "system:authenticated"
		}
		if !has {
			out.Groups = append(out.Groups, "system:authenticated")
		}
	}
	if strings.HasPrefix(name, "system:serviceaccount:") {
		parts := strings.Split(name, ":")
		if len(parts) == 4 {
			out.Groups = append(out.Groups, "system:serviceaccounts", "system:serviceaccounts:"+parts[2])
		}
	}
	return out, nil
}
