package stream

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// logQuery is a parsed /containerLogs query.
type logQuery struct {
	Previous bool
	Opts     oci.LogOptions
}

// parseBool accepts what Kubernetes' query parameter conversion accepts;
// an absent parameter is false.
func parseBool(q url.Values, name string) (bool, *field.Error) {
	v, ok := q[name]
	if !ok || len(v) == 0 || v[0] == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, field.Invalid(field.NewPath(name), v[0], "must be true or false")
	}
	return b, nil
}

// parseInt parses an optional integer that must be at least min.
func parseInt(q url.Values, name string, min int64) (int64, bool, *field.Error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, field.Invalid(field.NewPath(name), v, "must be an integer")
	}
	if n < min {
		return 0, false, field.Invalid(field.NewPath(name), v, fmt.Sprintf("must be greater than or equal to %d", min))
	}
	return n, true, nil
}

// parseLogQuery turns the query of /containerLogs into log options, as
// PodLogOptions: follow, previous, timestamps, sinceSeconds (>= 1) or
// sinceTime (RFC 3339) but not both, tailLines (>= 0), limitBytes (>= 1).
func parseLogQuery(q url.Values, now time.Time) (logQuery, error) {
	var errs field.ErrorList
	var lq logQuery
	lq.Opts.Tail = -1
	var e *field.Error
	if lq.Opts.Follow, e = parseBool(q, "follow"); e != nil {
		errs = append(errs, e)
	}
	if lq.Previous, e = parseBool(q, "previous"); e != nil {
		errs = append(errs, e)
	}
	if lq.Opts.Timestamps, e = parseBool(q, "timestamps"); e != nil {
		errs = append(errs, e)
	}
	if n, ok, e := parseInt(q, "tailLines", 0); e != nil {
		errs = append(errs, e)
	} else if ok {
		lq.Opts.Tail = int(min(n, 1<<31))
	}
	if n, ok, e := parseInt(q, "limitBytes", 1); e != nil {
		errs = append(errs, e)
	} else if ok {
		lq.Opts.LimitBytes = n
	}
	secs, hasSecs, e := parseInt(q, "sinceSeconds", 1)
	if e != nil {
		errs = append(errs, e)
	} else if hasSecs {
		lq.Opts.Since = now.Add(-time.Duration(min(secs, int64(1<<62)/int64(time.Second))) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" {
		if hasSecs {
			errs = append(errs, field.Forbidden(field.NewPath("sinceTime"), "at most one of sinceTime or sinceSeconds may be specified"))
		} else if t, err := time.Parse(time.RFC3339, v); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("sinceTime"), v, "must be an RFC 3339 time"))
		} else {
			lq.Opts.Since = t
		}
	}
	if len(errs) > 0 {
		return lq, apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, "", errs)
	}
	return lq, nil
}

// containerError maps a Pods error to a Status.
func containerError(err error, ns, pod, container string, previous bool) error {
	switch {
	case errors.Is(err, ErrPodNotFound):
		return apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, ns+"/"+pod)
	case errors.Is(err, ErrContainerNotStarted):
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %v", container, pod, err))
	case errors.Is(err, ErrContainerNotFound) && previous:
		return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod))
	case errors.Is(err, ErrContainerNotFound), errors.Is(err, oci.ErrNotFound):
		return apierrors.NewNotFound(schema.GroupResource{Resource: "containers"}, fmt.Sprintf("%s (in pod %s/%s)", container, ns, pod))
	}
	return apierrors.NewInternalError(err)
}

// serveLogs serves /containerLogs/{namespace}/{pod}/{container}.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	lq, err := parseLogQuery(r.URL.Query(), s.now())
	if err != nil {
		writeError(w, err)
		return
	}
	ref, err := s.deps.Pods.Container(ns, pod, container, lq.Previous)
	if err != nil {
		writeError(w, containerError(err, ns, pod, container, lq.Previous))
		return
	}
	fw := &flushWriter{w: w}
	if lq.Opts.Follow {
		// Headers now: a follower may wait a long time for a first line.
		fw.start()
	}
	err = s.deps.Runtime.Logs(r.Context(), ref.ID, lq.Opts, fw)
	if err != nil {
		if !fw.started {
			writeError(w, containerError(err, ns, pod, container, lq.Previous))
			return
		}
		s.log.Debug("streaming container log", "namespace", ns, "pod", pod, "container", container, "err", err)
		return
	}
	fw.start()
}

// flushWriter sends every write to the client at once (for follow).
type flushWriter struct {
	w       http.ResponseWriter
	started bool
}

func (f *flushWriter) start() {
	if f.started {
		return
	}
	f.started = true
	f.w.Header().Set("Content-Type", "text/plain")
	f.w.WriteHeader(http.StatusOK)
	http.NewResponseController(f.w).Flush()
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.start()
	n, err := f.w.Write(p)
	if err == nil {
		err = http.NewResponseController(f.w).Flush()
	}
	return n, err
}

var _ io.Writer = (*flushWriter)(nil)
