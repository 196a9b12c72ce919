package apiserver

import (
	"context"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/registry"
)

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

func (s *Server) subjectAccessReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	sar := obj.(*authorizationv1.SubjectAccessReview)
	return sar, authz.SubjectAccessReview(ctx, s.auth.authorizer, sar)
}

func (s *Server) localSubjectAccessReview(ctx context.Context, ri *requestInfo, obj runtime.Object) (runtime.Object, error) {
	sar := obj.(*authorizationv1.LocalSubjectAccessReview)
	if sar.Namespace == "" {
		sar.Namespace = ri.Namespace
	}
	return sar, authz.LocalSubjectAccessReview(ctx, s.auth.authorizer, ri.Namespace, sar)
}

func (s *Server) selfSubjectAccessReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	sar := obj.(*authorizationv1.SelfSubjectAccessReview)
	return sar, authz.SelfSubjectAccessReview(ctx, s.auth.authorizer, userFrom(ctx), sar)
}

func (s *Server) selfSubjectRulesReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	rr := obj.(*authorizationv1.SelfSubjectRulesReview)
	return rr, authz.SelfSubjectRulesReview(ctx, s.auth.rules, userFrom(ctx), rr)
}

func (s *Server) tokenReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	tr := obj.(*authenticationv1.TokenReview)
	return tr, authn.TokenReview(ctx, s.auth.tokens, s.auth.audiences, tr)
}

func (s *Server) selfSubjectReview(ctx context.Context, _ *requestInfo, obj runtime.Object) (runtime.Object, error) {
	r := obj.(*authenticationv1.SelfSubjectReview)
	r.CreationTimestamp = metav1.NewTime(s.now().Truncate(1e9))
	return r, authn.SelfSubjectReview(userFrom(ctx), r)
}
