package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/storage"
)

// serveResource routes a resource request to its verb's handler.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	res := s.resources[schema.GroupVersionResource{Group: ri.APIGroup, Version: ri.APIVersion, Resource: ri.Resource}]
	if res == nil {
		if g := s.externalFor(ri.APIGroup); g != nil {
			g.Handler.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, errNoResource())
		return
	}
	if ri.Resource == "namespaces" {
		ri.Namespace = ""
	}
	if (res.info.Namespaced && ri.Namespace == "" && (ri.Name != "" || ri.Verb == "create" || ri.Verb == "deletecollection")) ||
		(!res.info.Namespaced && ri.Namespace != "") {
		s.writeError(w, r, errNoResource())
		return
	}
	if ri.Subresource != "" {
		sub := res.subresources[ri.Subresource]
		if sub == nil {
			s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Group: ri.APIGroup, Resource: ri.Resource + "/" + ri.Subresource}, ri.Name))
			return
		}
		sub.serve(w, r, ri, res)
		return
	}
	if res.virtual != nil {
		s.serveVirtual(w, r, ri, res)
		return
	}
	switch ri.Verb {
	case "get":
		s.get(w, r, ri, res)
	case "list":
		s.list(w, r, ri, res)
	case "watch":
		s.watch(w, r, ri, res)
	case "create":
		if ri.Name != "" {
			s.writeError(w, r, apierrors.NewMethodNotSupported(res.info.GroupResource(), "create"))
			return
		}
		s.create(w, r, ri, res)
	case "update":
		s.update(w, r, ri, res)
	case "patch":
		s.patch(w, r, ri, res)
	case "delete":
		s.delete(w, r, ri, res)
	case "deletecollection":
		s.deleteCollection(w, r, ri, res)
	default:
		s.writeError(w, r, apierrors.NewMethodNotSupported(res.info.GroupResource(), r.Method))
	}
}

// negotiate picks the response form or answers 406. Watches are always
// served as JSON streams.
func (s *Server) negotiate(w http.ResponseWriter, r *http.Request) (codec.Target, bool) {
	t, err := codec.Negotiate(r.Header.Get("Accept"), !isWatchQuery(r) && !strings.Contains(r.URL.Path, "/watch/"))
	if err != nil {
		s.writeError(w, r, err)
		return t, false
	}
	return t, true
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	t, ok := s.negotiate(w, r)
	if !ok {
		return
	}
	e, err := res.store.Get(r.Context(), ri.Namespace, ri.Name, r.URL.Query().Get("resourceVersion"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeEntry(w, r, res, t, e)
}

// listOptions decodes list options from the query string.
func (s *Server) listOptions(q url.Values) (*metav1.ListOptions, error) {
	opts := &metav1.ListOptions{}
	if err := metav1.Convert_url_Values_To_v1_ListOptions(&q, opts, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if opts.Limit < 0 {
		return nil, apierrors.NewBadRequest("limit: must be non-negative")
	}
	return opts, nil
}

// predicate builds the selector predicate of a list or watch, checking
// that the field selector only uses fields the resource supports.
func (s *Server) predicate(res *resource, opts *metav1.ListOptions, ri *requestInfo) (storage.Predicate, error) {
	var p storage.Predicate
	if opts.LabelSelector != "" {
		sel, err := labels.Parse(opts.LabelSelector)
		if err != nil {
			return p, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		p.Label = sel
	}
	fs := opts.FieldSelector
	if fs != "" {
		sel, err := fields.ParseSelector(fs)
		if err != nil {
			return p, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		supported := res.fieldLabels()
		for _, req := range sel.Requirements() {
			if !supported[req.Field] {
				return p, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		p.Field = sel
	}
	return p, nil
}

// fieldLabels returns the fields a field selector may use on res.
func (res *resource) fieldLabels() map[string]bool {
	_, f, err := res.store.Strategy().Attrs(res.store.Strategy().New())
	out := map[string]bool{"metadata.name": true}
	if res.info.Namespaced {
		out["metadata.namespace"] = true
	}
	if err == nil {
		for k := range f {
			out[k] = true
		}
	}
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	t, ok := s.negotiate(w, r)
	if !ok {
		return
	}
	opts, err := s.listOptions(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pred, err := s.predicate(res, opts, ri)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lr, err := res.store.List(r.Context(), ri.Namespace, opts, pred)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeList(w, r, res, t, lr)
}

// readBody reads a request body up to MaxBodyBytes (413 beyond).
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, tooLarge()
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest("reading the request body: " + err.Error())
	}
	if len(data) > MaxBodyBytes {
		return nil, tooLarge()
	}
	return data, nil
}

func tooLarge() error {
	return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", MaxBodyBytes))
}

// writeOptions are the query parameters of create, update and patch.
type writeOptions struct {
	dryRun          bool
	fieldValidation string // Ignore, Warn or Strict
	fieldManager    string
	force           bool
}

func parseWriteOptions(q url.Values, forPatch bool) (writeOptions, error) {
	var o writeOptions
	for _, d := range q["dryRun"] {
		if d != metav1.DryRunAll {
			return o, apierrors.NewBadRequest(fmt.Sprintf("dryRun: Unsupported value: %q: supported values: \"All\"", d))
		}
		o.dryRun = true
	}
	switch v := q.Get("fieldValidation"); v {
	case "":
		o.fieldValidation = metav1.FieldValidationWarn
	case metav1.FieldValidationIgnore, metav1.FieldValidationWarn, metav1.FieldValidationStrict:
		o.fieldValidation = v
	default:
		return o, apierrors.NewBadRequest(fmt.Sprintf("fieldValidation: Unsupported value: %q: supported values: \"Ignore\", \"Strict\", \"Warn\"", v))
	}
	o.fieldManager = q.Get("fieldManager")
	if o.fieldManager != "" {
		for _, r := range o.fieldManager {
			if r < 0x20 || r > 0x7e {
				return o, apierrors.NewBadRequest("fieldManager: invalid characters: only printable ASCII is allowed")
			}
		}
	}
	if len(o.fieldManager) > 128 {
		return o, apierrors.NewBadRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	if f := q.Get("force"); f != "" {
		if !forPatch {
			return o, apierrors.NewBadRequest("force: may only be set for apply patches")
		}
		b, err := strconv.ParseBool(f)
		if err != nil {
			return o, apierrors.NewBadRequest("force: must be true or false")
		}
		o.force = b
	}
	return o, nil
}

// decodeBody decodes a create or update body into res's type, applying
// the field validation the client asked for: Strict rejects unknown and
// duplicate fields (400), Warn reports them in Warning headers.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, res *resource, body []byte, o writeOptions) (runtime.Object, error) {
	obj, unknown, err := s.codecs.Decode(r.Header.Get("Content-Type"), body, res.info.GVK(), o.fieldValidation != metav1.FieldValidationIgnore)
	if err != nil {
		return nil, err
	}
	if err := fieldProblems(w, unknown, o.fieldValidation); err != nil {
		return nil, err
	}
	return obj, nil
}

// fieldProblems reports unknown or duplicate fields as fieldValidation
// says.
func fieldProblems(w http.ResponseWriter, problems []string, validation string) error {
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	if validation == metav1.FieldValidationStrict {
		return apierrors.NewBadRequest("strict decoding error: " + strings.Join(problems, ", "))
	}
	if validation == metav1.FieldValidationWarn {
		for _, p := range problems {
			addWarning(w, p)
		}
	}
	return nil
}

func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", "299 - "+strconv.Quote(msg))
}

// checkIdentity checks that a body's namespace and name agree with the
// URL, filling in the namespace if the body has none.
func checkIdentity(obj runtime.Object, ri *requestInfo, res *resource) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if res.info.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(ri.Namespace)
		} else if m.GetNamespace() != ri.Namespace {
			return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else if ri.Resource != "namespaces" && m.GetNamespace() != "" {
		m.SetNamespace("")
	}
	if ri.Name != "" && m.GetName() != ri.Name {
		if m.GetName() == "" {
			m.SetName(ri.Name)
		} else {
			return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), ri.Name))
		}
	}
	return nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	t, ok := s.negotiate(w, r)
	if !ok {
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
	obj, err := s.decodeBody(w, r, res, body, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkIdentity(obj, ri, res); err != nil {
		s.writeError(w, r, err)
		return
	}
	res.store.Strategy().Default(obj)
	out, err := res.store.Create(r.Context(), obj, rest.CreateOptions{DryRun: o.dryRun, User: userFrom(r.Context()), FieldManager: managerFor(r, o)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, res, t, http.StatusCreated, out)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	s.updateWith(w, r, ri, res, rest.UpdateOptions{})
}

// updateWith serves a PUT of the resource or of a subresource that takes
// the whole object (status, finalize).
func (s *Server) updateWith(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource, uo rest.UpdateOptions) {
	t, ok := s.negotiate(w, r)
	if !ok {
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
	obj, err := s.decodeBody(w, r, res, body, o)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkIdentity(obj, ri, res); err != nil {
		s.writeError(w, r, err)
		return
	}
	uo.DryRun, uo.User, uo.Subresource, uo.FieldManager = o.dryRun, userFrom(r.Context()), ri.Subresource, managerFor(r, o)
	out, created, err := res.store.Update(r.Context(), ri.Namespace, ri.Name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	}, uo)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.writeObject(w, r, res, t, code, out)
}

// deleteOptions reads delete options from the body (if any) and the
// query.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, bool, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, false, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := codec.DecodeInto(r.Header.Get("Content-Type"), body, opts); err != nil {
			return nil, false, err
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, false, apierrors.NewBadRequest("gracePeriodSeconds: must be an integer")
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, false, apierrors.NewBadRequest("orphanDependents: must be true or false")
		}
		opts.OrphanDependents = &b //nolint:staticcheck // still sent by old clients
	}
	dry := false
	for _, d := range append(q["dryRun"], opts.DryRun...) {
		if d != metav1.DryRunAll {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("dryRun: Unsupported value: %q: supported values: \"All\"", d))
		}
		dry = true
	}
	return opts, dry, nil
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	t, ok := s.negotiate(w, r)
	if !ok {
		return
	}
	opts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, deleted, err := res.store.Delete(r.Context(), ri.Namespace, ri.Name, opts, dry, userFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ret, _ := res.store.Strategy().(registry.DeletedObjectReturner)
	if deleted && (ret == nil || !ret.ReturnDeletedObject()) {
		m, _ := meta.Accessor(obj)
		st := &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusSuccess,
			Details: &metav1.StatusDetails{Name: ri.Name, Group: res.info.Group, Kind: res.info.Resource,
				UID: m.GetUID()},
		}
		s.writeObject(w, r, res, codec.Target{MediaType: t.MediaType}, http.StatusOK, st)
		return
	}
	s.writeObject(w, r, res, t, http.StatusOK, obj)
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	t, ok := s.negotiate(w, r)
	if !ok {
		return
	}
	lopts, err := s.listOptions(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pred, err := s.predicate(res, lopts, ri)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dopts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lopts.Limit, lopts.Continue = 0, ""
	lr, err := res.store.List(r.Context(), ri.Namespace, lopts, pred)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var deleted []runtime.Object
	for _, e := range lr.Items {
		m, _ := meta.Accessor(e.Obj)
		obj, _, err := res.store.Delete(r.Context(), m.GetNamespace(), m.GetName(), dopts, dry, userFrom(r.Context()))
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			s.writeError(w, r, err)
			return
		}
		deleted = append(deleted, obj)
	}
	list := res.store.Strategy().NewList()
	list.GetObjectKind().SetGroupVersionKind(res.info.ListGVK())
	if err := meta.SetList(list, deleted); err != nil {
		s.writeError(w, r, err)
		return
	}
	if la, err := meta.ListAccessor(list); err == nil {
		la.SetResourceVersion(strconv.FormatInt(lr.Rev, 10))
	}
	s.writeObject(w, r, res, codec.Target{MediaType: t.MediaType}, http.StatusOK, list)
}

// managerFor names the field manager of a write: the fieldManager
// parameter, else the client's user agent up to its first "/", as
// Kubernetes does ("kubectl-client-side-apply", "kube-controller-manager").
func managerFor(r *http.Request, o writeOptions) string {
	if o.fieldManager != "" {
		return o.fieldManager
	}
	ua := r.Header.Get("User-Agent")
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua
}
