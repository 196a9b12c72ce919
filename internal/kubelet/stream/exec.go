package stream

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// runningContainer resolves the current instance of a pod's container
// and checks that it runs (exec and attach need a live process).
func (s *Server) runningContainer(r *http.Request) (ContainerRef, error) {
	ns, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	ref, err := s.deps.Pods.Container(ns, pod, container, false)
	if err != nil {
		return ref, containerError(err, ns, pod, container, false)
	}
	st, err := s.deps.Runtime.Status(r.Context(), ref.ID)
	if err != nil {
		return ref, containerError(err, ns, pod, container, false)
	}
	if st.State != oci.StateRunning {
		return ref, apierrors.NewBadRequest(fmt.Sprintf("container %s is not running (%s)", container, st.State))
	}
	return ref, nil
}

// serveExec serves /exec/{namespace}/{pod}/{container}: it runs the
// command in the container with the session's streams and reports its
// exit code on the error stream.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	opts, err := parseRCOptions(r.URL.Query(), true)
	if err != nil {
		writeError(w, err)
		return
	}
	ref, err := s.runningContainer(r)
	if err != nil {
		writeError(w, err)
		return
	}
	id := ref.ID
	s.streams.Add(1)
	defer s.streams.Done()
	ss := s.openSession(w, r, opts)
	if ss == nil {
		return
	}
	s.metrics.sessionStarted("exec")
	defer s.metrics.sessionEnded("exec")
	ec := oci.ExecConfig{Args: opts.Command, TTY: opts.TTY, Resize: ss.resize}
	if ss.stdout != nil {
		ec.Stdout = ss.stdout
	}
	if ss.stderr != nil {
		ec.Stderr = ss.stderr
	}
	// Stdin goes through a pipe of our own: the process gets a file, so
	// its exit does not wait for the client to close stdin, and closing
	// our end is the process's EOF.
	var copying sync.WaitGroup
	var stdinR *os.File
	if ss.stdin != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			ss.finish(opts.Command, 0, fmt.Errorf("stdin pipe: %w", err))
			return
		}
		stdinR = pr
		ec.Stdin = pr
		copying.Add(1)
		go func() {
			defer copying.Done()
			io.Copy(pw, ss.stdin)
			pw.Close()
		}()
	}
	code, err := s.deps.Runtime.Exec(ss.ctx, id, ec)
	if stdinR != nil {
		stdinR.Close() // a copier blocked on a full pipe gets EPIPE
	}
	if err != nil {
		s.log.Debug("exec", "namespace", r.PathValue("namespace"), "pod", r.PathValue("pod"), "container", r.PathValue("container"), "err", err)
	}
	ss.finish(opts.Command, code, err)
	copying.Wait()
}

// serveAttach serves /attach/{namespace}/{pod}/{container}: the
// container's output from now on, and its stdin and terminal when the
// container has them, until it exits or the client leaves.
func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	opts, err := parseRCOptions(r.URL.Query(), false)
	if err != nil {
		writeError(w, err)
		return
	}
	ref, err := s.runningContainer(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.streams.Add(1)
	defer s.streams.Done()
	ss := s.openSession(w, r, opts)
	if ss == nil {
		return
	}
	s.metrics.sessionStarted("attach")
	defer s.metrics.sessionEnded("attach")
	// The client's streams are what it asked for; the container gets
	// only those it has (stdin: true, tty: true in its spec).
	stdin, resize := ss.stdin, ss.resize
	if !ref.Stdin {
		stdin = nil
	}
	if !ref.TTY {
		resize = nil
	}
	var stdout, stderr io.Writer
	if ss.stdout != nil {
		stdout = ss.stdout
	}
	if ss.stderr != nil {
		stderr = ss.stderr
	}
	err = s.deps.Runtime.AttachTTY(ss.ctx, ref.ID, stdin, stdout, stderr, resize)
	if errors.Is(err, oci.ErrNotFound) {
		err = nil // exited and removed meanwhile: the attach is over
	}
	ss.finish(nil, 0, err)
}
