package apiserver

import (
	"context"
	"net/http"
	"sort"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/registry"
)

// RulesResolver lists what a user may do in a namespace, for
// SelfSubjectRulesReview. The RBAC authorizer implements it.
type RulesResolver interface {
	RulesFor(ctx context.Context, user *authn.User, namespace string) (resource []authorizationv1.ResourceRule, nonResource []authorizationv1.NonResourceRule, incomplete bool, err error)
}

// virtual resources are create-only reviews answered from the request,
// never stored.
type virtualHandler func(ctx context.Context, ri *requestInfo, obj runtime.Object) (runtime.Object, error)

func (s *Server) addVirtualResources() {
	add := func(info registry.Info, h virtualHandler) {
		res := &resource{info: info, virtual: h}
		s.resources[info.GroupVersion().WithResource(info.Resource)] = res
		s.byGR[info.GroupResource()] = res
	}
	authzGV := authorizationv1.SchemeGroupVersion
	add(registry.Info{Group: authzGV.Group, Version: authzGV.Version, Resource: "subjectaccessreviews", Kind: "SubjectAccessReview"}, s.subjectAccessReview)
	add(registry.Info{Group: authzGV.Group, Version: authzGV.Version, Resource: "selfsubjectaccessreviews", Kind: "SelfSubjectAccessReview"}, s.selfSubjectAccessReview)
	add(registry.Info{Group: authzGV.Group, Version: authzGV.Version, Resource: "localsubjectaccessreviews", Kind: "LocalSubjectAccessReview", Namespaced: true}, s.localSubjectAccessReview)
	add(registry.Info{Group: authzGV.Group, Version: authzGV.Version, Resource: "selfsubjectrulesreviews", Kind: "SelfSubjectRulesReview"}, s.selfSubjectRulesReview)
	authnGV := authenticationv1.SchemeGroupVersion
	add(registry.Info{Group: authnGV.Group, Version: authnGV.Version, Resource: "tokenreviews", Kind: "TokenReview"}, s.tokenReview)
	add(registry.Info{Group: authnGV.Group, Version: authnGV.Version, Resource: "selfsubjectreviews", Kind: "SelfSubjectReview"}, s.selfSubjectReview)
}

// serveVirtual decodes a review, answers it and returns it with status.
func (s *Server) serveVirtual(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	if ri.Verb != "create" || ri.Name != "" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.info.GroupResource(), ri.Verb))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, _, err := s.codecs.Decode(r.Header.Get("Content-Type"), body, res.info.GVK(), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := res.virtual(r.Context(), ri, obj)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out.GetObjectKind().SetGroupVersionKind(res.info.GVK())
	data, err := encodeJSON(out)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	write(w, codec.Target{MediaType: codec.JSON}, http.StatusCreated, data)
}

func resourceAttrs(user *authn.User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) (authz.Attributes, error) {
	switch {
	case ra != nil:
		return authz.Attributes{User: user, Verb: ra.Verb, ResourceRequest: true, APIGroup: ra.Group, APIVersion: ra.Version,
			Resource: ra.Resource, Subresource: ra.Subresource, Namespace: ra.Namespace, Name: ra.Name}, nil
	case nra != nil:
		return authz.Attributes{User: user, Verb: nra.Verb, Path: nra.Path}, nil
	}
	return authz.Attributes{}, apierrors.NewBadRequest("exactly one of resourceAttributes and nonResourceAttributes must be set")
}

func (s *Server) decide(ctx context.Context, a authz.Attributes) authorizationv1.SubjectAccessReviewStatus {
	d, reason, err := s.deps.Authorizer.Authorize(ctx, a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d == authz.Allow, Denied: d == authz.Deny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

func extraFrom(m map[string]authorizationv1.ExtraValue) map[string][]string {
	if len(m) == 0 {
		return nil
	}
	out := map[string][]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Server) subjectAccessReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	sar := obj.(*authorizationv1.SubjectAccessReview)
	if sar.Spec.User == "" && len(sar.Spec.Groups) == 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: "authorization.k8s.io", Kind: "SubjectAccessReview"}, "", nil)
	}
	u := &authn.User{Name: sar.Spec.User, UID: sar.Spec.UID, Groups: sar.Spec.Groups, Extra: extraFrom(sar.Spec.Extra)}
	a, err := resourceAttrs(u, sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes)
	if err != nil {
		return nil, err
	}
	sar.Status = s.decide(ctx, a)
	return sar, nil
}

func (s *Server) localSubjectAccessReview(ctx context.Context, ri *requestInfo, obj runtime.Object) (runtime.Object, error) {
	sar := obj.(*authorizationv1.LocalSubjectAccessReview)
	if sar.Spec.ResourceAttributes == nil || sar.Spec.ResourceAttributes.Namespace != ri.Namespace {
		return nil, apierrors.NewBadRequest("spec.resourceAttributes.namespace must match the namespace of the request")
	}
	u := &authn.User{Name: sar.Spec.User, UID: sar.Spec.UID, Groups: sar.Spec.Groups, Extra: extraFrom(sar.Spec.Extra)}
	a, err := resourceAttrs(u, sar.Spec.ResourceAttributes, nil)
	if err != nil {
		return nil, err
	}
	sar.Namespace = ri.Namespace
	sar.Status = s.decide(ctx, a)
	return sar, nil
}

func (s *Server) selfSubjectAccessReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	sar := obj.(*authorizationv1.SelfSubjectAccessReview)
	a, err := resourceAttrs(userFrom(ctx), sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes)
	if err != nil {
		return nil, err
	}
	sar.Status = s.decide(ctx, a)
	return sar, nil
}

func (s *Server) selfSubjectRulesReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	rr := obj.(*authorizationv1.SelfSubjectRulesReview)
	resolver, ok := s.deps.Authorizer.(RulesResolver)
	if !ok {
		rr.Status = authorizationv1.SubjectRulesReviewStatus{Incomplete: true,
			EvaluationError: "the authorizer cannot list rules",
			ResourceRules:   []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}
		return rr, nil
	}
	res, nonRes, incomplete, err := resolver.RulesFor(ctx, userFrom(ctx), rr.Spec.Namespace)
	rr.Status = authorizationv1.SubjectRulesReviewStatus{ResourceRules: res, NonResourceRules: nonRes, Incomplete: incomplete}
	if err != nil {
		rr.Status.EvaluationError = err.Error()
	}
	return rr, nil
}

func (s *Server) tokenReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	tr := obj.(*authenticationv1.TokenReview)
	if tr.Spec.Token == "" {
		return nil, apierrors.NewBadRequest("spec.token: Required value")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+tr.Spec.Token)
	u, ok, err := s.deps.Authenticator.Authenticate(req)
	if err != nil || !ok {
		tr.Status = authenticationv1.TokenReviewStatus{Authenticated: false}
		if err != nil {
			tr.Status.Error = err.Error()
		}
		return tr, nil
	}
	tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: userInfo(u), Audiences: tr.Spec.Audiences}
	return tr, nil
}

func userInfo(u *authn.User) authenticationv1.UserInfo {
	ui := authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		ui.Extra = map[string]authenticationv1.ExtraValue{}
		keys := make([]string, 0, len(u.Extra))
		for k := range u.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ui.Extra[k] = u.Extra[k]
		}
	}
	return ui
}

func (s *Server) selfSubjectReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	r := obj.(*authenticationv1.SelfSubjectReview)
	r.Status = authenticationv1.SelfSubjectReviewStatus{UserInfo: userInfo(userFrom(ctx))}
	r.CreationTimestamp = metav1.NewTime(s.now().Truncate(1e9))
	return r, nil
}
