package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
)

func (s *Server) patch(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	s.patchWith(w, r, ri, res, rest.UpdateOptions{})
}

// patchWith serves a PATCH of the resource or of a subresource that
// patches the whole object (status).
func (s *Server) patchWith(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource, uo rest.UpdateOptions) {
	t, ok := s.negotiate(w, r)
	if !ok {
		return
	}
	ct := codec.MediaType(r.Header.Get("Content-Type"))
	switch ct {
	case codec.JSONPatch, codec.MergePatch, codec.StrategicPatch:
	case codec.ApplyPatch:
		s.apply(w, r, ri, res, t, uo)
		return
	default:
		s.writeError(w, r, newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
			fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s", codec.JSONPatch, codec.MergePatch, codec.StrategicPatch, codec.ApplyPatch)))
		return
	}
	o, err := parseWriteOptions(r.URL.Query(), true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := checkPatchShape(ct, body); err != nil {
		s.writeError(w, r, err)
		return
	}
	uo.DryRun, uo.User, uo.Subresource, uo.FieldManager = o.dryRun, userFrom(r.Context()), ri.Subresource, managerFor(r, o)
	out, _, err := res.store.Update(r.Context(), ri.Namespace, ri.Name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(res.info.GroupResource(), ri.Name)
		}
		orig, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(ct, orig, body, res.store.Strategy().New())
		if err != nil {
			return nil, err
		}
		obj, problems, err := s.codecs.Decode(codec.JSON, patched, res.info.GVK(), o.fieldValidation != "Ignore")
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if err := fieldProblems(w, problems, o.fieldValidation); err != nil {
			return nil, err
		}
		if err := checkIdentity(obj, ri, res); err != nil {
			return nil, err
		}
		return obj, nil
	}, uo)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, res, t, http.StatusOK, out)
}

// checkPatchShape rejects patch bodies that are not JSON of the right
// shape: a JSON patch is an array, the others an object.
func checkPatchShape(ct string, body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the body of the request is not valid JSON: %v", err))
	}
	switch v.(type) {
	case []any:
		if ct != codec.JSONPatch {
			return apierrors.NewBadRequest("a merge patch must be a JSON object")
		}
	case map[string]any:
		if ct == codec.JSONPatch {
			return apierrors.NewBadRequest("a JSON patch must be a JSON array of operations")
		}
	default:
		return apierrors.NewBadRequest("the patch must be a JSON object or array")
	}
	return nil
}

// applyPatch applies a patch to the JSON of the current object. Errors
// are API errors: 422 when the patch does not apply.
func applyPatch(ct string, orig, patch []byte, typed runtime.Object) ([]byte, error) {
	var out []byte
	var err error
	switch ct {
	case codec.JSONPatch:
		p, derr := jsonpatch.DecodePatch(patch)
		if derr != nil {
			return nil, apierrors.NewBadRequest(derr.Error())
		}
		out, err = p.Apply(orig)
	case codec.MergePatch:
		out, err = jsonpatch.MergePatch(orig, patch)
	case codec.StrategicPatch:
		out, err = strategicpatch.StrategicMergePatch(orig, patch, typed)
	}
	if err != nil {
		return nil, newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "the patch could not be applied: "+err.Error())
	}
	return out, nil
}
