package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// rcProtocols are the remote command protocols, preferred first. Over
// SPDY, v5 is v4 (it only adds the WebSocket CLOSE signal).
var rcProtocols = []string{
	remotecommand.StreamProtocolV5Name,
	remotecommand.StreamProtocolV4Name,
	remotecommand.StreamProtocolV3Name,
	remotecommand.StreamProtocolV2Name,
	remotecommand.StreamProtocolV1Name,
}

// protocolVersion returns 1..5 for a remote command protocol name (the
// WebSocket base64 variants included).
func protocolVersion(p string) int {
	p = strings.Replace(p, "base64.", "", 1)
	switch p {
	case remotecommand.StreamProtocolV5Name:
		return 5
	case remotecommand.StreamProtocolV4Name:
		return 4
	case remotecommand.StreamProtocolV3Name:
		return 3
	case remotecommand.StreamProtocolV2Name:
		return 2
	}
	return 1
}

// pingPeriod keeps SPDY connections through idle proxies alive.
const pingPeriod = 5 * time.Second

// rcOptions are the streams and command of an exec or attach.
type rcOptions struct {
	Stdin, Stdout, Stderr, TTY bool
	Command                    []string
}

// flag reads a stream flag: Kubernetes' kubelet names (input, output,
// error) with 1, or the API's (stdin, stdout, stderr) with true.
func flag(q url.Values, names ...string) (bool, *field.Error) {
	for _, n := range names {
		v := q.Get(n)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, field.Invalid(field.NewPath(n), v, "must be 1, 0, true or false")
		}
		if b {
			return true, nil
		}
	}
	return false, nil
}

// parseRCOptions parses the query of /exec (command required) or
// /attach. With a TTY there is no separate stderr: the terminal merges it
// into stdout.
func parseRCOptions(q url.Values, exec bool) (rcOptions, error) {
	var o rcOptions
	var errs field.ErrorList
	var e *field.Error
	if o.Stdin, e = flag(q, corev1.ExecStdinParam, "stdin"); e != nil {
		errs = append(errs, e)
	}
	if o.Stdout, e = flag(q, corev1.ExecStdoutParam, "stdout"); e != nil {
		errs = append(errs, e)
	}
	if o.Stderr, e = flag(q, corev1.ExecStderrParam, "stderr"); e != nil {
		errs = append(errs, e)
	}
	if o.TTY, e = flag(q, corev1.ExecTTYParam); e != nil {
		errs = append(errs, e)
	}
	if o.TTY {
		o.Stderr = false
	}
	if exec {
		o.Command = q[corev1.ExecCommandParam]
		if len(o.Command) == 0 || o.Command[0] == "" {
			errs = append(errs, field.Required(field.NewPath("command"), "exec needs a command"))
		}
	}
	if !o.Stdin && !o.Stdout && !o.Stderr {
		errs = append(errs, field.Required(field.NewPath("stdin"), "at least one of stdin, stdout and stderr is required"))
	}
	if len(errs) > 0 {
		kind := "PodAttachOptions"
		if exec {
			kind = "PodExecOptions"
		}
		return o, apierrors.NewInvalid(schema.GroupKind{Kind: kind}, "", errs)
	}
	return o, nil
}

// session is one upgraded exec or attach connection, whatever its
// transport: the client's streams, terminal sizes, and a way to report
// the outcome.
type session struct {
	protocol string
	// Stdin, Stdout, Stderr are nil when not requested.
	stdin          io.Reader
	stdout, stderr io.Writer
	// resize delivers terminal sizes (TTY only; else nil).
	resize <-chan oci.TermSize
	// ctx ends when the client goes away or the server stops.
	ctx    context.Context
	cancel context.CancelFunc
	// writeStatus reports the outcome on the error stream.
	writeStatus func(*metav1.Status) error
	// closeConn tears the connection down.
	closeConn func()
	wg        sync.WaitGroup
}

// close ends the session and waits for its goroutines.
func (ss *session) close() {
	ss.cancel()
	ss.closeConn()
	ss.wg.Wait()
}

// finish reports the outcome of the command (exit code or error) and
// closes the session.
func (ss *session) finish(command []string, code int, err error) {
	ss.writeStatus(commandStatus(command, code, err))
	ss.close()
}

// commandStatus is the error-stream Status for a command's outcome: the
// exit code in a NonZeroExitCode cause, which makes `kubectl exec` exit
// with it.
func commandStatus(command []string, code int, err error) *metav1.Status {
	switch {
	case err != nil:
		return &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
			Reason: metav1.StatusReasonInternalError, Message: err.Error()}
	case code != 0:
		if code < 0 || code > 255 {
			code = 255 & code
		}
		return &metav1.Status{
			Status: metav1.StatusFailure,
			Reason: remotecommand.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
				{Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(code)},
			}},
			Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command %v: exit status %d", command, code),
		}
	}
	return &metav1.Status{Status: metav1.StatusSuccess}
}

// statusWriter encodes a Status for the protocol version: JSON from v4
// on, a plain message before (nothing on success).
func statusWriter(version int, w io.Writer) func(*metav1.Status) error {
	return func(st *metav1.Status) error {
		if version >= 4 {
			st.Kind, st.APIVersion = "Status", "v1"
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		}
		if st.Status == metav1.StatusSuccess {
			return nil
		}
		_, err := io.WriteString(w, st.Message)
		return err
	}
}

// openSession upgrades the request to a WebSocket or SPDY session with
// the streams opts asks for. It returns nil after answering the request
// itself (not an upgrade, no common protocol, client too slow).
func (s *Server) openSession(w http.ResponseWriter, r *http.Request, opts rcOptions) *session {
	switch {
	case wsstream.IsWebSocketRequest(r):
		return s.wsSession(w, r, opts)
	case httpstream.IsUpgradeRequest(r):
		return s.spdySession(w, r, opts)
	}
	writeError(w, apierrors.NewBadRequest("exec and attach need an upgraded connection (WebSocket or SPDY)"))
	return nil
}

// readResizes decodes JSON terminal sizes from r onto the returned
// channel until r ends; then it calls gone (may be nil).
func (ss *session) readResizes(r io.Reader, tty bool, gone func()) <-chan oci.TermSize {
	var ch chan oci.TermSize
	if tty {
		ch = make(chan oci.TermSize, 4)
	}
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		if gone != nil {
			defer gone()
		}
		if !tty {
			io.Copy(io.Discard, r)
			return
		}
		dec := json.NewDecoder(r)
		for {
			// The client encodes its TerminalSize without JSON tags.
			var sz struct{ Width, Height uint16 }
			if err := dec.Decode(&sz); err != nil {
				return
			}
			select {
			case ch <- oci.TermSize{Width: sz.Width, Height: sz.Height}:
			case <-ss.ctx.Done():
				return
			}
		}
	}()
	return ch
}

// WebSocket channels of the remote command protocol.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// wsSession opens a remote command session over a WebSocket
// (channel.k8s.io framing, versions v1 to v5, binary or base64).
func (s *Server) wsSession(w http.ResponseWriter, r *http.Request, opts rcOptions) *session {
	stdinType := wsstream.IgnoreChannel
	if opts.Stdin {
		stdinType = wsstream.ReadChannel
	}
	channels := []wsstream.ChannelType{stdinType, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.ReadChannel}
	protocols := wsstream.NewDefaultChannelProtocols(channels)
	for _, p := range []string{remotecommand.StreamProtocolV5Name, remotecommand.StreamProtocolV4Name,
		remotecommand.StreamProtocolV3Name, remotecommand.StreamProtocolV2Name} {
		protocols[p] = wsstream.ChannelProtocolConfig{Binary: true, Channels: channels}
		protocols[strings.Replace(p, "channel", "base64.channel", 1)] = wsstream.ChannelProtocolConfig{Binary: false, Channels: channels}
	}
	conn := wsstream.NewConn(protocols)
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	protocol, chans, err := conn.Open(w, r)
	if err != nil {
		s.log.Debug("websocket upgrade", "path", r.URL.Path, "err", err)
		return nil
	}
	ctx, cancel := context.WithCancel(r.Context())
	ss := &session{protocol: protocol, ctx: ctx, cancel: cancel, closeConn: func() { conn.Close() }}
	version := protocolVersion(protocol)
	if protocol == "" || protocol == wsstream.ChannelWebSocketProtocol || protocol == wsstream.Base64ChannelWebSocketProtocol {
		version = 1
	}
	if opts.Stdin {
		ss.stdin = chans[chanStdin]
	}
	if opts.Stdout {
		ss.stdout = chans[chanStdout]
	}
	if opts.Stderr {
		ss.stderr = chans[chanStderr]
	}
	ss.writeStatus = statusWriter(version, chans[chanError])
	// The resize channel ends only when the connection does: it tells
	// that the client went away.
	ss.resize = ss.readResizes(chans[chanResize], opts.TTY && version >= 3, cancel)
	// An empty message on the first writable channel tells the client
	// that the streams are ready.
	switch {
	case opts.Stdout:
		chans[chanStdout].Write(nil)
	case opts.Stderr:
		chans[chanStderr].Write(nil)
	default:
		chans[chanError].Write(nil)
	}
	return ss
}

// spdyStream is a stream the client created, with the signal that its
// reply went out.
type spdyStream struct {
	stream    httpstream.Stream
	replySent <-chan struct{}
}

// spdySession opens a remote command session over SPDY: the client
// creates one stream per standard stream (header streamType), plus error
// and, with a TTY (v3+), resize.
func (s *Server) spdySession(w http.ResponseWriter, r *http.Request, opts rcOptions) *session {
	protocol, err := httpstream.Handshake(r, w, rcProtocols)
	if err != nil {
		return nil // Handshake answered
	}
	version := protocolVersion(protocol)
	incoming := make(chan spdyStream)
	stop := make(chan struct{})
	conn := spdy.NewResponseUpgraderWithPings(pingPeriod).UpgradeResponse(w, r,
		func(st httpstream.Stream, replySent <-chan struct{}) error {
			select {
			case incoming <- spdyStream{st, replySent}:
				return nil
			case <-stop:
				return errors.New("unexpected stream")
			}
		})
	if conn == nil {
		close(stop)
		return nil // the upgrade answered
	}
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	want := map[string]bool{corev1.StreamTypeError: true}
	want[corev1.StreamTypeStdin] = opts.Stdin
	want[corev1.StreamTypeStdout] = opts.Stdout
	want[corev1.StreamTypeStderr] = opts.Stderr
	want[corev1.StreamTypeResize] = opts.TTY && version >= 3
	expected := 0
	for _, v := range want {
		if v {
			expected++
		}
	}
	got := map[string]spdyStream{}
	timer := time.NewTimer(s.cfg.StreamCreationTimeout)
	defer timer.Stop()
	fail := func(msg string) *session {
		close(stop)
		s.log.Debug("spdy session", "path", r.URL.Path, "err", msg)
		if e, ok := got[corev1.StreamTypeError]; ok {
			statusWriter(version, e.stream)(&metav1.Status{Status: metav1.StatusFailure, Message: msg})
		}
		conn.Close()
		return nil
	}
	for len(got) < expected {
		select {
		case st := <-incoming:
			t := st.stream.Headers().Get(corev1.StreamType)
			if !want[t] {
				st.stream.Reset()
				continue
			}
			if _, dup := got[t]; dup {
				return fail(fmt.Sprintf("duplicate %s stream", t))
			}
			got[t] = st
		case <-timer.C:
			return fail("timed out waiting for the client to create streams")
		case <-conn.CloseChan():
			return fail("connection closed while creating streams")
		case <-r.Context().Done():
			return fail("server stopping")
		}
	}
	close(stop)
	for _, st := range got {
		select {
		case <-st.replySent:
		case <-timer.C:
			return fail("timed out replying to the client's streams")
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	ss := &session{protocol: protocol, ctx: ctx, cancel: cancel}
	ss.closeConn = func() {
		for _, st := range got {
			st.stream.Close()
		}
		conn.Close()
	}
	if st, ok := got[corev1.StreamTypeStdin]; ok {
		ss.stdin = st.stream
	}
	if st, ok := got[corev1.StreamTypeStdout]; ok {
		ss.stdout = st.stream
	}
	if st, ok := got[corev1.StreamTypeStderr]; ok {
		ss.stderr = st.stream
	}
	if st, ok := got[corev1.StreamTypeResize]; ok {
		ss.resize = ss.readResizes(st.stream, true, nil)
	}
	ss.writeStatus = statusWriter(version, got[corev1.StreamTypeError].stream)
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		select {
		case <-conn.CloseChan():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ss
}
