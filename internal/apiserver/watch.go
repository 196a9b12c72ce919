package apiserver

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/storage"
)

// watch serves a watch as a chunked stream of JSON WatchEvents, one per
// line, flushed as they come. It ends when the client goes away, the
// timeout passes, or the store ends the watch (the client then watches
// again from the last resourceVersion it saw).
func (s *Server) watch(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	t, ok := s.negotiate(w, r)
	if !ok {
		return
	}
	if t.As == "PartialObjectMetadataList" {
		t.As = "PartialObjectMetadata"
	}
	opts, err := s.listOptions(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ri.Name != "" {
		// /watch/namespaces/ns/pods/name: a watch of one object.
		sel := "metadata.name=" + ri.Name
		if opts.FieldSelector != "" {
			sel += "," + opts.FieldSelector
		}
		opts.FieldSelector = sel
	}
	pred, err := s.predicate(res, opts, ri)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	timeout := time.Duration(30+rand.IntN(30)) * time.Minute
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	}
	ctx := r.Context()
	wt, err := res.store.Watch(ctx, ri.Namespace, opts, pred)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer wt.Stop()
	timer := time.NewTimer(timeout)
	defer timer.Stop()

	flusher, _ := w.(http.Flusher)
	ct := codec.JSON
	if t.As != "" {
		ct += ";as=" + t.As + ";g=meta.k8s.io;v=v1"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case ev, ok := <-wt.Events():
			if !ok {
				return
			}
			buf.Reset()
			if err := s.encodeEvent(&buf, r, res, t, ev); err != nil {
				s.log.Error("encoding watch event", "resource", ri.Resource, "err", err)
				return
			}
			// Batch what is already queued into one flush.
		drain:
			for buf.Len() < 1<<20 {
				select {
				case ev, ok := <-wt.Events():
					if !ok {
						break drain
					}
					if err := s.encodeEvent(&buf, r, res, t, ev); err != nil {
						s.log.Error("encoding watch event", "resource", ri.Resource, "err", err)
						return
					}
				default:
					break drain
				}
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// encodeEvent appends one WatchEvent line to buf.
func (s *Server) encodeEvent(buf *bytes.Buffer, r *http.Request, res *resource, t codec.Target, ev storage.Event) error {
	var obj []byte
	var err error
	switch ev.Type {
	case watch.Error:
		st := s.statusFor(r, res.store.Err(ev.Err, ""))
		obj, err = json.Marshal(st)
	case watch.Bookmark:
		b := res.store.Strategy().New()
		b.GetObjectKind().SetGroupVersionKind(res.info.GVK())
		m, _ := meta.Accessor(b)
		m.SetResourceVersion(strconv.FormatInt(ev.Rev, 10))
		if ev.InitialEventsEnd {
			m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		}
		if t.As == "PartialObjectMetadata" {
			pom, perr := partialMetadata(b)
			if perr != nil {
				return perr
			}
			obj, err = json.Marshal(pom)
		} else {
			obj, err = json.Marshal(b)
		}
	default:
		obj, err = s.encodeFor(r, res, t, ev.Entry.Obj, ev.Entry)
	}
	if err != nil {
		return err
	}
	buf.WriteString(`{"type":"`)
	buf.WriteString(string(ev.Type))
	buf.WriteString(`","object":`)
	buf.Write(obj)
	buf.WriteString("}\n")
	return nil
}
