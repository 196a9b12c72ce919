package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/apiserver/authn/serviceaccount"
	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/registry/core/namespaces"
)

// subresource is one subresource of a resource.
type subresource struct {
	verbs []string
	// kind is what the subresource takes and returns, for discovery.
	kind  schema.GroupVersionKind
	serve func(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource)
	// proxied subresources are served by a kubelet.
	proxied bool
}

// proxiedSubresources reach a node's kubelet through Deps.Proxy.
var proxiedSubresources = map[string]map[string]string{
	"pods":     {"log": "Pod", "exec": "PodExecOptions", "attach": "PodAttachOptions", "portforward": "PodPortForwardOptions", "proxy": "PodProxyOptions"},
	"nodes":    {"proxy": "NodeProxyOptions"},
	"services": {"proxy": "ServiceProxyOptions"},
}

func (s *Server) subresourcesFor(res *resource) map[string]*subresource {
	subs := map[string]*subresource{}
	gvk := res.info.GVK()
	if st, ok := res.store.Strategy().(registry.StatusStrategy); ok && st.HasStatusSubresource() {
		subs["status"] = &subresource{verbs: []string{"get", "patch", "update"}, kind: gvk, serve: s.serveStatus}
	}
	if _, ok := res.store.Strategy().(registry.Scaler); ok {
		subs["scale"] = &subresource{verbs: []string{"get", "patch", "update"},
			kind: autoscalingv1.SchemeGroupVersion.WithKind("Scale"), serve: s.serveScale}
	}
	core := res.info.Group == ""
	if core {
		for name, kind := range proxiedSubresources[res.info.Resource] {
			verbs := []string{"create", "get"}
			switch name {
			case "proxy":
				verbs = []string{"create", "delete", "get", "patch", "update"}
			case "log":
				verbs = []string{"get"}
			}
			subs[name] = &subresource{verbs: verbs, kind: corev1.SchemeGroupVersion.WithKind(kind), serve: s.serveProxied, proxied: true}
		}
	}
	switch {
	case core && res.info.Resource == "pods":
		subs["binding"] = &subresource{verbs: []string{"create"}, kind: corev1.SchemeGroupVersion.WithKind("Binding"), serve: s.serveBinding}
		subs["eviction"] = &subresource{verbs: []string{"create"}, kind: policyv1.SchemeGroupVersion.WithKind("Eviction"), serve: s.serveEviction}
	case core && res.info.Resource == "namespaces":
		subs["finalize"] = &subresource{verbs: []string{"update"}, kind: gvk, serve: s.serveFinalize}
	case core && res.info.Resource == "serviceaccounts":
		subs["token"] = &subresource{verbs: []string{"create"},
			kind: authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), serve: s.serveToken}
	}
	return subs
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	switch ri.Verb {
	case "get":
		s.get(w, r, ri, res)
	case "update":
		s.updateWith(w, r, ri, res, rest.UpdateOptions{})
	case "patch":
		s.patchWith(w, r, ri, res, rest.UpdateOptions{})
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: ri.APIGroup, Resource: ri.Resource + "/status"}, ri.Verb))
	}
}

func (s *Server) serveFinalize(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	if ri.Verb != "update" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "namespaces/finalize"}, ri.Verb))
		return
	}
	st := res.store.Strategy().(*namespaces.Strategy)
	s.updateWith(w, r, ri, res, rest.UpdateOptions{
		Prepare:  st.PrepareForFinalize,
		Validate: st.ValidateFinalize,
	})
}

// serveScale serves the scale subresource of deployments, replicasets and
// statefulsets as autoscaling/v1 Scale.
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	t, ok := s.negotiate(w, r)
	if !ok {
		return
	}
	scaler := res.store.Strategy().(registry.Scaler)
	writeScale := func(obj runtime.Object) {
		sc, err := scaler.Scale(obj)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeObject(w, r, res, codec.Target{MediaType: t.MediaType}, http.StatusOK, sc)
	}
	switch ri.Verb {
	case "get":
		e, err := res.store.Get(r.Context(), ri.Namespace, ri.Name, r.URL.Query().Get("resourceVersion"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeScale(e.Obj)
		return
	case "update", "patch":
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Group: ri.APIGroup, Resource: ri.Resource + "/scale"}, ri.Verb))
		return
	}
	o, err := parseWriteOptions(r.URL.Query(), ri.Verb == "patch")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	scaleGVK := autoscalingv1.SchemeGroupVersion.WithKind("Scale")
	ct := codec.MediaType(r.Header.Get("Content-Type"))
	if ri.Verb == "patch" {
		if ct != codec.JSONPatch && ct != codec.MergePatch && ct != codec.StrategicPatch {
			s.writeError(w, r, newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, "unsupported patch type for scale: "+ct))
			return
		}
		if err := checkPatchShape(ct, body); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	out, _, err := res.store.Update(r.Context(), ri.Namespace, ri.Name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(res.info.GroupResource(), ri.Name)
		}
		var want *autoscalingv1.Scale
		if ri.Verb == "update" {
			obj, problems, err := s.codecs.Decode(r.Header.Get("Content-Type"), body, scaleGVK, o.fieldValidation != "Ignore")
			if err != nil {
				return nil, err
			}
			if err := fieldProblems(w, problems, o.fieldValidation); err != nil {
				return nil, err
			}
			want = obj.(*autoscalingv1.Scale)
		} else {
			cs, err := scaler.Scale(cur)
			if err != nil {
				return nil, err
			}
			orig, _ := json.Marshal(cs)
			patched, err := applyPatch(ct, orig, body, &autoscalingv1.Scale{})
			if err != nil {
				return nil, err
			}
			want = &autoscalingv1.Scale{}
			if err := json.Unmarshal(patched, want); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		}
		if want.Name != "" && want.Name != ri.Name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", want.Name, ri.Name))
		}
		m, _ := meta.Accessor(cur)
		if want.ResourceVersion != "" && want.ResourceVersion != m.GetResourceVersion() {
			return nil, apierrors.NewConflict(res.info.GroupResource(), ri.Name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), ri.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		next := cur.DeepCopyObject()
		scaler.SetReplicas(next, want.Spec.Replicas)
		return next, nil
	}, rest.UpdateOptions{DryRun: o.dryRun, User: userFrom(r.Context()), SkipDefault: true})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeScale(out)
}

// serveBinding binds a pod to a node (pods/binding), as the scheduler
// does: once, never to move.
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	if ri.Verb != "create" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/binding"}, ri.Verb))
		return
	}
	o, err := parseWriteOptions(r.URL.Query(), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, problems, err := s.codecs.Decode(r.Header.Get("Content-Type"), body, corev1.SchemeGroupVersion.WithKind("Binding"), o.fieldValidation != "Ignore")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := fieldProblems(w, problems, o.fieldValidation); err != nil {
		s.writeError(w, r, err)
		return
	}
	b := obj.(*corev1.Binding)
	if b.Name != "" && b.Name != ri.Name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", b.Name, ri.Name)))
		return
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		s.writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, ri.Name, field.ErrorList{field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node"})}))
		return
	}
	if b.Target.Name == "" {
		s.writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, ri.Name, field.ErrorList{field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	_, _, err = res.store.Update(r.Context(), ri.Namespace, ri.Name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(res.info.GroupResource(), ri.Name)
		}
		p := cur.(*corev1.Pod).DeepCopy()
		if p.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(res.info.GroupResource(), ri.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", p.Name))
		}
		if p.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(res.info.GroupResource(), ri.Name, fmt.Errorf("pod %v is already assigned to node %q", p.Name, p.Spec.NodeName))
		}
		if b.UID != "" && b.UID != p.UID {
			return nil, apierrors.NewConflict(res.info.GroupResource(), ri.Name, fmt.Errorf("precondition failed: UID in binding %v, UID of pod %v", b.UID, p.UID))
		}
		p.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if p.Annotations == nil {
				p.Annotations = map[string]string{}
			}
			p.Annotations[k] = v
		}
		setPodCondition(p, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(s.now().Truncate(1e9))})
		return p, nil
	}, rest.UpdateOptions{DryRun: o.dryRun, User: userFrom(r.Context()), Subresource: "binding", SkipDefault: true,
		Prepare:  func(obj, old runtime.Object) {},
		Validate: func(obj, old runtime.Object) field.ErrorList { return nil }})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeSuccess(w, http.StatusCreated)
}

func setPodCondition(p *corev1.Pod, c corev1.PodCondition) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == c.Type {
			p.Status.Conditions[i] = c
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
}

func writeSuccess(w http.ResponseWriter, code int) {
	data, _ := encodeJSON(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: int32(code)})
	write(w, codec.Target{MediaType: codec.JSON}, code, data)
}

// serveProxied serves the subresources a kubelet answers, through
// Deps.Proxy.
func (s *Server) serveProxied(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	e, err := res.store.Get(r.Context(), ri.Namespace, ri.Name, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if p, ok := e.Obj.(*corev1.Pod); ok && p.Spec.NodeName == "" {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", p.Name)))
		return
	}
	if s.deps.Proxy == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable(fmt.Sprintf("%s/%s is served by the node agent, and no node agent connection is available", ri.Resource, ri.Subresource)))
		return
	}
	s.deps.Proxy.ServeSubresource(w, r, ri.Resource, ri.Subresource, e.Obj)
}

// serveToken issues a service-account token (serviceaccounts/token).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	if ri.Verb != "create" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "serviceaccounts/token"}, ri.Verb))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, _, err := s.codecs.Decode(r.Header.Get("Content-Type"), body, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tr := obj.(*authenticationv1.TokenRequest)
	e, err := res.store.Get(r.Context(), ri.Namespace, ri.Name, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := serviceaccount.Request{ServiceAccount: e.Obj.(*corev1.ServiceAccount), Audiences: tr.Spec.Audiences}
	if len(req.Audiences) == 0 {
		req.Audiences = s.auth.audiences
	}
	if tr.Spec.ExpirationSeconds != nil {
		exp := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
		if exp < serviceaccount.MinExpiration {
			s.writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}, ri.Name,
				field.ErrorList{field.Invalid(field.NewPath("spec", "expirationSeconds"), *tr.Spec.ExpirationSeconds, "may not specify a duration less than 10 minutes")}))
			return
		}
		req.Expiration = exp
	}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(r.Context(), &req, ri.Namespace, ref); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	tok, expires, err := s.auth.issuer.Issue(req)
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	exp := int64(expires.Sub(s.now()).Round(time.Second) / time.Second)
	tr.Spec.Audiences = req.Audiences
	tr.Spec.ExpirationSeconds = &exp
	tr.Status = authenticationv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(expires)}
	tr.Name, tr.Namespace = ri.Name, ri.Namespace
	tr.CreationTimestamp = metav1.NewTime(s.now().Truncate(time.Second))
	tr.SetGroupVersionKind(authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"))
	data, err := encodeJSON(tr)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	write(w, codec.Target{MediaType: codec.JSON}, http.StatusCreated, data)
}

// bindToken resolves the object a token is bound to and checks its UID.
func (s *Server) bindToken(ctx context.Context, req *serviceaccount.Request, ns string, ref *authenticationv1.BoundObjectReference) error {
	var gr schema.GroupResource
	switch ref.Kind {
	case "Pod":
		gr = schema.GroupResource{Resource: "pods"}
	case "Secret":
		gr = schema.GroupResource{Resource: "secrets"}
	case "Node":
		gr, ns = schema.GroupResource{Resource: "nodes"}, ""
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of kind %q", ref.Kind))
	}
	res := s.byGR[gr]
	e, err := res.store.Get(ctx, ns, ref.Name, "")
	if err != nil {
		return err
	}
	m, _ := meta.Accessor(e.Obj)
	if ref.UID != "" && ref.UID != m.GetUID() {
		return apierrors.NewConflict(gr, ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record (%s)", ref.UID, m.GetUID()))
	}
	switch o := e.Obj.(type) {
	case *corev1.Pod:
		req.Pod = o
		if o.Spec.NodeName != "" {
			if n, err := (cacheGetter{s}).GetNode(o.Spec.NodeName); err == nil {
				req.Node = n
			}
		}
	case *corev1.Secret:
		req.Secret = o
	case *corev1.Node:
		req.Node = o
	}
	return nil
}
