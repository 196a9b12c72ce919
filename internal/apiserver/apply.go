package apiserver

import (
	"context"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
)

// apply serves a server-side apply patch (application/apply-patch+yaml):
// the applied configuration is merged into the live object by the field
// manager, which records ownership in managedFields and answers 409 when
// it would take fields from another manager without force. Applying to an
// object that does not exist creates it.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource, t codec.Target, uo rest.UpdateOptions) {
	o, err := parseWriteOptions(r.URL.Query(), true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if o.fieldManager == "" {
		s.writeError(w, r, apierrors.NewBadRequest("PATCH /"+res.info.Resource+": fieldManager is required for apply requests"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	uo.DryRun, uo.User, uo.Subresource, uo.FieldManager, uo.Applied = o.dryRun, userFrom(ctx), ri.Subresource, o.fieldManager, true
	applyTo := func(live runtime.Object) (runtime.Object, error) {
		obj, err := s.fields.Apply(live, ri.Subresource, body, o.fieldManager, o.force)
		if err != nil {
			return nil, err
		}
		if err := checkIdentity(obj, ri, res); err != nil {
			return nil, err
		}
		return obj, nil
	}
	for attempt := 0; attempt < 3; attempt++ {
		out, _, err := res.store.Update(ctx, ri.Namespace, ri.Name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
			if cur == nil {
				return nil, apierrors.NewNotFound(res.info.GroupResource(), ri.Name)
			}
			return applyTo(cur)
		}, uo)
		if err == nil {
			s.writeObject(w, r, res, t, http.StatusOK, out)
			return
		}
		if !apierrors.IsNotFound(err) || ri.Subresource != "" {
			s.writeError(w, r, err)
			return
		}
		// Apply creates what does not exist.
		empty := res.store.Strategy().New()
		empty.GetObjectKind().SetGroupVersionKind(res.info.GVK())
		m, _ := meta.Accessor(empty)
		m.SetName(ri.Name)
		m.SetNamespace(ri.Namespace)
		obj, err := applyTo(empty)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		res.store.Strategy().Default(obj)
		out, err = res.store.Create(ctx, obj, rest.CreateOptions{DryRun: o.dryRun, User: userFrom(ctx), FieldManager: o.fieldManager, Applied: true})
		if apierrors.IsAlreadyExists(err) {
			continue // created meanwhile: apply to it
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeObject(w, r, res, t, http.StatusCreated, out)
		return
	}
	s.writeError(w, r, apierrors.NewConflict(res.info.GroupResource(), ri.Name, errConcurrentApply))
}

// errConcurrentApply: the object kept appearing and disappearing.
var errConcurrentApply = errors.New("the object was created and deleted concurrently with the apply; try again")
