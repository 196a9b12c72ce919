package apiserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/storage"
)

// statusFor turns any error into the Status the client gets. Errors that
// are not API errors are internal (500) and logged.
func (s *Server) statusFor(r *http.Request, err error) *metav1.Status {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		out := st.Status()
		out.Kind, out.APIVersion = "Status", "v1"
		if out.Status == "" {
			out.Status = metav1.StatusFailure
		}
		return &out
	}
	var de *codec.DecodeError
	if errors.As(err, &de) {
		if de.Unsupported {
			return statusOf(newStatus(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, de.Msg))
		}
		return statusOf(apierrors.NewBadRequest(de.Msg))
	}
	var na *codec.NotAcceptableError
	if errors.As(err, &na) {
		return statusOf(newStatus(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable, na.Error()))
	}
	s.log.Error("internal error", "path", r.URL.Path, "method", r.Method, "err", err)
	return statusOf(apierrors.NewInternalError(err))
}

// newStatus builds a failure Status error with a given code and reason.
func newStatus(code int, reason metav1.StatusReason, msg string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: int32(code), Reason: reason, Message: msg,
	}}
}

func errNoResource() *apierrors.StatusError {
	return newStatus(http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
}

func statusOf(err *apierrors.StatusError) *metav1.Status {
	st := err.ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// writeError answers with the Status for err.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := s.statusFor(r, err)
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
		st.Code = int32(code)
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
		}
	}
	data, _ := json.Marshal(st)
	w.Header().Set("Content-Type", codec.JSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(data)
	w.Write([]byte("\n"))
}

// encodeJSON encodes obj as compact JSON without a trailing newline.
func encodeJSON(obj runtime.Object) ([]byte, error) { return json.Marshal(obj) }

// Memo slots of storage entries.
const (
	memoJSON  = 0
	memoProto = 1
)

// write sends data, JSON or (for a Protobuf target) protobuf, in the
// client's media type.
func write(w http.ResponseWriter, t codec.Target, code int, data []byte) {
	ct := codec.JSON
	if t.MediaType == codec.Protobuf {
		ct = codec.Protobuf
		if t.As != "" {
			ct += ";as=" + t.As + ";g=meta.k8s.io;v=v1"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
		w.Write(data)
		return
	}
	if t.MediaType == codec.YAML {
		y, err := yaml.JSONToYAML(data)
		if err == nil {
			data, ct = y, codec.YAML
		}
	}
	if t.As != "" {
		ct += ";as=" + t.As + ";g=meta.k8s.io;v=v1"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(data)
	if t.MediaType != codec.YAML {
		w.Write([]byte("\n"))
	}
}

// writeObject answers with obj in the negotiated form.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, res *resource, t codec.Target, code int, obj runtime.Object) {
	data, err := s.encodeFor(r, res, t, obj, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	write(w, t, code, data)
}

// writeEntry answers with a stored entry, reusing its memoized JSON.
func (s *Server) writeEntry(w http.ResponseWriter, r *http.Request, res *resource, t codec.Target, e *storage.Entry) {
	data, err := s.encodeFor(r, res, t, e.Obj, e)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	write(w, t, http.StatusOK, data)
}

// encodeFor encodes one object for target t (JSON, also for YAML, or
// protobuf); e (optional) carries memoized encodings of obj.
func (s *Server) encodeFor(r *http.Request, res *resource, t codec.Target, obj runtime.Object, e *storage.Entry) ([]byte, error) {
	if t.MediaType == codec.Protobuf {
		return s.encodeProto(r, t, obj, e)
	}
	switch t.As {
	case "Table":
		tbl, err := s.table(r, res, obj, nil)
		if err != nil {
			return nil, err
		}
		return json.Marshal(tbl)
	case "PartialObjectMetadata":
		pom, err := partialMetadata(obj)
		if err != nil {
			return nil, err
		}
		return json.Marshal(pom)
	case "PartialObjectMetadataList":
		return nil, &codec.NotAcceptableError{Accept: r.Header.Get("Accept")}
	}
	if e != nil {
		return e.Encoded(memoJSON, encodeJSON)
	}
	return encodeJSON(obj)
}

var pomGVK = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata")

func (s *Server) encodeProto(r *http.Request, t codec.Target, obj runtime.Object, e *storage.Entry) ([]byte, error) {
	switch t.As {
	case "PartialObjectMetadata":
		pom, err := partialMetadata(obj)
		if err != nil {
			return nil, err
		}
		raw, err := codec.ProtoRaw(pom)
		if err != nil {
			return nil, err
		}
		return codec.WrapProto(pomGVK, raw)
	case "":
	default:
		return nil, &codec.NotAcceptableError{Accept: r.Header.Get("Accept")}
	}
	var raw []byte
	var err error
	if e != nil {
		raw, err = e.Encoded(memoProto, codec.ProtoRaw)
	} else {
		raw, err = codec.ProtoRaw(obj)
	}
	if err != nil {
		return nil, err
	}
	return codec.WrapProto(obj.GetObjectKind().GroupVersionKind(), raw)
}

func partialMetadata(obj runtime.Object) (*metav1.PartialObjectMetadata, error) {
	ma, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil, fmt.Errorf("no object metadata in %T", obj)
	}
	om, ok := ma.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, fmt.Errorf("no object metadata in %T", obj)
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"},
		ObjectMeta: *om,
	}, nil
}

// listMeta is the metadata of a list response.
func listMeta(lr *storage.ListResult) metav1.ListMeta {
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(lr.Rev, 10), Continue: lr.Continue}
	lm.RemainingItemCount = lr.RemainingItemCount
	return lm
}

// writeList answers a list in the negotiated form. The JSON form is
// assembled from the entries' memoized encodings.
func (s *Server) writeList(w http.ResponseWriter, r *http.Request, res *resource, t codec.Target, lr *storage.ListResult) {
	var data []byte
	var err error
	if t.As == "" && (t.MediaType == codec.Protobuf || t.MediaType == codec.JSON) {
		s.streamList(w, r, res, t, lr)
		return
	}
	if t.MediaType == codec.Protobuf {
		data, err = s.listProto(res, t, lr)
		if t.As != "" {
			t.As = "PartialObjectMetadataList"
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		write(w, t, http.StatusOK, data)
		return
	}
	switch t.As {
	case "Table":
		objs := make([]runtime.Object, len(lr.Items))
		for i, e := range lr.Items {
			objs[i] = e.Obj
		}
		lm := listMeta(lr)
		var tbl *metav1.Table
		if tbl, err = s.table(r, res, nil, objs); err == nil {
			tbl.ListMeta = lm
			data, err = json.Marshal(tbl)
		}
	case "PartialObjectMetadataList", "PartialObjectMetadata":
		out := &metav1.PartialObjectMetadataList{
			TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"},
			ListMeta: listMeta(lr),
			Items:    make([]metav1.PartialObjectMetadata, 0, len(lr.Items)),
		}
		for _, e := range lr.Items {
			pom, perr := partialMetadata(e.Obj)
			if perr != nil {
				err = perr
				break
			}
			out.Items = append(out.Items, *pom)
		}
		t.As = "PartialObjectMetadataList"
		if err == nil {
			data, err = json.Marshal(out)
		}
	default:
		data, err = s.listJSON(res, lr)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	write(w, t, http.StatusOK, data)
}

func (s *Server) listJSON(res *resource, lr *storage.ListResult) ([]byte, error) {
	gvk := res.info.ListGVK()
	lm, err := json.Marshal(listMeta(lr))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(64 + len(lr.Items)*1024)
	fmt.Fprintf(&b, `{"kind":%q,"apiVersion":%q,"metadata":`, gvk.Kind, gvk.GroupVersion().String())
	b.Write(lm)
	b.WriteString(`,"items":[`)
	for i, e := range lr.Items {
		if i > 0 {
			b.WriteByte(',')
		}
		data, err := e.Encoded(memoJSON, encodeJSON)
		if err != nil {
			return nil, err
		}
		b.Write(data)
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// listProto encodes a list as protobuf from the items' memoized messages.
func (s *Server) listProto(res *resource, t codec.Target, lr *storage.ListResult) ([]byte, error) {
	lm := listMeta(lr)
	items := make([][]byte, len(lr.Items))
	gvk := res.info.ListGVK()
	for i, e := range lr.Items {
		var err error
		if t.As == "" {
			items[i], err = e.Encoded(memoProto, codec.ProtoRaw)
		} else {
			var pom *metav1.PartialObjectMetadata
			if pom, err = partialMetadata(e.Obj); err == nil {
				items[i], err = codec.ProtoRaw(pom)
			}
			gvk = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList")
		}
		if err != nil {
			return nil, err
		}
	}
	if t.As != "" {
		gvk = metav1.SchemeGroupVersion.WithKind("PartialObjectMetadataList")
	}
	raw, err := codec.ProtoList(&lm, items)
	if err != nil {
		return nil, err
	}
	return codec.WrapProto(gvk, raw)
}

// streamList writes a list straight from the items' memoized encodings,
// without assembling the whole document in memory: a list of thousands of
// objects costs a few small writes, not a copy of every object.
func (s *Server) streamList(w http.ResponseWriter, r *http.Request, res *resource, t codec.Target, lr *storage.ListResult) {
	slot, encode := memoJSON, encodeJSON
	if t.MediaType == codec.Protobuf {
		slot, encode = memoProto, codec.ProtoRaw
	}
	items := make([][]byte, len(lr.Items))
	for i, e := range lr.Items {
		b, err := e.Encoded(slot, encode)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		items[i] = b
	}
	lm := listMeta(lr)
	bw := bufio.NewWriterSize(w, 64<<10)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if t.MediaType == codec.Protobuf {
		w.Header().Set("Content-Type", codec.Protobuf)
		w.WriteHeader(http.StatusOK)
		if err := codec.WriteProtoList(bw, res.info.ListGVK(), &lm, items); err == nil {
			bw.Flush()
		}
		return
	}
	lmJSON, err := json.Marshal(lm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	gvk := res.info.ListGVK()
	w.Header().Set("Content-Type", codec.JSON)
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(bw, `{"kind":%q,"apiVersion":%q,"metadata":`, gvk.Kind, gvk.GroupVersion().String())
	bw.Write(lmJSON)
	bw.WriteString(`,"items":[`)
	for i, it := range items {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(it)
	}
	bw.WriteString("]}\n")
	bw.Flush()
}
