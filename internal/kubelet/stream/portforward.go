package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// Port-forward protocol names.
const (
	// PortForwardProtocol is the SPDY subprotocol.
	PortForwardProtocol = "portforward.k8s.io"
	// TunnelingPrefix marks a SPDY protocol carried in WebSocket binary
	// messages (kubectl's default since v1.31).
	TunnelingPrefix = "SPDY/3.1+"
)

// portForwardStreamType values of the streamType header.
const (
	streamTypeData  = corev1.StreamTypeData
	streamTypeError = corev1.StreamTypeError
)

// servePortForward serves /portForward/{namespace}/{pod}: SPDY
// portforward.k8s.io, directly or tunnelled in a WebSocket. Each client
// connection is a pair of streams (error, data) with the same requestID
// and a port header; the data stream is joined to a TCP connection to
// that port inside the pod's network namespace.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ns, pod := r.PathValue("namespace"), r.PathValue("pod")
	ps, ok := s.deps.Pods.GetPod(ns, pod)
	if !ok {
		writeError(w, containerError(ErrPodNotFound, ns, pod, "", false))
		return
	}
	if ps.NetNS == "" && !ps.HostNetwork {
		writeError(w, badRequest("pod %s/%s has no network namespace yet", ns, pod))
		return
	}
	netns := ps.NetNS
	incoming := make(chan httpstream.Stream, 16)
	stop := make(chan struct{})
	defer close(stop)
	onStream := func(st httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case incoming <- st:
			return nil
		case <-stop:
			return errors.New("port-forward session is over")
		}
	}
	s.streams.Add(1)
	defer s.streams.Done()
	var conn httpstream.Connection
	switch {
	case wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		conn = s.tunnel(w, r, onStream)
	case httpstream.IsUpgradeRequest(r) && !wsstream.IsWebSocketRequest(r):
		if _, err := httpstream.Handshake(r, w, []string{PortForwardProtocol}); err != nil {
			return
		}
		conn = spdy.NewResponseUpgraderWithPings(pingPeriod).UpgradeResponse(w, r, onStream)
	default:
		writeError(w, badRequest("port-forward needs an upgraded connection (SPDY, or SPDY tunnelled in a WebSocket as %s%s)", TunnelingPrefix, PortForwardProtocol))
		return
	}
	if conn == nil {
		return // the upgrade answered
	}
	defer conn.Close()
	conn.SetIdleTimeout(s.cfg.StreamIdleTimeout)
	s.metrics.sessionStarted("portforward")
	defer s.metrics.sessionEnded("portforward")
	pf := &portForwarder{s: s, netns: netns, pod: ns + "/" + pod, pairs: map[string]*streamPair{}}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	pf.run(ctx, conn, incoming)
}

func badRequest(format string, args ...any) error {
	return apierrorsBadRequest(fmt.Sprintf(format, args...))
}

// portForwarder pairs a session's streams and serves each pair.
type portForwarder struct {
	s     *Server
	netns string
	pod   string

	pairs map[string]*streamPair // by requestID; only run's goroutine
	wg    sync.WaitGroup
}

// streamPair is one forwarded connection.
type streamPair struct {
	id          string
	port        int32
	data, error httpstream.Stream
	created     time.Time
}

// run pairs streams until the connection closes or ctx ends, then waits
// for the forwarded connections to finish.
func (pf *portForwarder) run(ctx context.Context, conn httpstream.Connection, incoming <-chan httpstream.Stream) {
	timeout := pf.s.cfg.StreamCreationTimeout
	tick := time.NewTicker(max(timeout/4, 10*time.Millisecond))
	defer tick.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		conn.Close() // unblocks the copies
		pf.wg.Wait()
	}()
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-ctx.Done():
			return
		case st := <-incoming:
			pf.add(ctx, st)
		case <-tick.C:
			now := pf.s.now()
			for id, p := range pf.pairs {
				if now.Sub(p.created) > timeout {
					delete(pf.pairs, id)
					msg := fmt.Sprintf("timed out waiting for the other stream of request %s", id)
					if p.error != nil {
						io.WriteString(p.error, msg)
						p.error.Close()
					}
					if p.data != nil {
						p.data.Reset()
					}
				}
			}
		}
	}
}

// add files a new stream under its request; a complete pair starts
// forwarding.
func (pf *portForwarder) add(ctx context.Context, st httpstream.Stream) {
	h := st.Headers()
	id := h.Get(corev1.PortForwardRequestIDHeader)
	port, perr := parsePort(h.Get(corev1.PortHeader))
	if id == "" {
		// Clients before request IDs paired streams by identifier: the
		// error stream comes right before its data stream.
		id = strconv.FormatUint(uint64(st.Identifier()), 10)
		if h.Get(corev1.StreamType) == streamTypeData {
			id = strconv.FormatUint(uint64(st.Identifier()-2), 10)
		}
	}
	p := pf.pairs[id]
	if p == nil {
		p = &streamPair{id: id, port: port, created: pf.s.now()}
		pf.pairs[id] = p
	}
	switch h.Get(corev1.StreamType) {
	case streamTypeError:
		if p.error != nil {
			st.Reset()
			return
		}
		p.error = st
	case streamTypeData:
		if p.data != nil {
			st.Reset()
			return
		}
		p.data = st
	default:
		st.Reset()
		return
	}
	if p.error == nil || p.data == nil {
		return
	}
	delete(pf.pairs, id)
	if perr != nil {
		io.WriteString(p.error, perr.Error())
		p.error.Close()
		p.data.Reset()
		return
	}
	pf.wg.Add(1)
	go func() {
		defer pf.wg.Done()
		pf.forward(ctx, p)
	}()
}

func parsePort(v string) (int32, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q: must be a number from 1 to 65535", v)
	}
	return int32(n), nil
}

// forward joins one pair's data stream to the pod's port. Failures go
// to the pair's error stream, which kubectl prints.
func (pf *portForwarder) forward(ctx context.Context, p *streamPair) {
	defer p.error.Close()
	defer p.data.Close()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := pf.s.deps.Dial(dctx, pf.netns, p.port)
	cancel()
	if err != nil {
		fmt.Fprintf(p.error, "error forwarding port %d to pod %s: %v", p.port, pf.pod, err)
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(c, p.data) // the client's bytes; EOF is its half-close
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
	}()
	if _, err := io.Copy(p.data, c); err != nil && ctx.Err() == nil && !isClosed(err) {
		fmt.Fprintf(p.error, "error copying from port %d of pod %s: %v", p.port, pf.pod, err)
	}
	// The pod closed its side: so does the client's stream; the copy
	// from the client ends when it sees that, or when the session ends.
	p.data.Close()
	select {
	case <-done:
	case <-ctx.Done():
		c.Close()
		<-done
	}
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset")
}

// tunnel accepts a WebSocket carrying SPDY (kubectl's port-forward
// default) and runs a SPDY server connection inside it.
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request, onStream httpstream.NewStreamHandler) httpstream.Connection {
	up := websocket.Upgrader{
		Subprotocols: []string{TunnelingPrefix + PortForwardProtocol},
		// Clients authenticate with certificates or tokens, never
		// cookies: there is no cross-site request to guard against.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			writeError(w, statusError(status, reason.Error()))
		},
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil // Upgrade answered
	}
	if ws.Subprotocol() == "" {
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseProtocolError, "no supported subprotocol"), time.Now().Add(time.Second))
		ws.Close()
		return nil
	}
	conn, err := spdy.NewServerConnectionWithPings(newTunnelConn(ws), onStream, pingPeriod)
	if err != nil {
		ws.Close()
		s.log.Debug("spdy over websocket", "err", err)
		return nil
	}
	return conn
}

// tunnelConn is a net.Conn over WebSocket binary messages: each write is
// one message, reads run across message boundaries.
type tunnelConn struct {
	ws *websocket.Conn

	rmu sync.Mutex
	cur io.Reader // +checklocks:rmu

	wmu sync.Mutex // serialises writers (gorilla allows one)
}

func newTunnelConn(ws *websocket.Conn) *tunnelConn { return &tunnelConn{ws: ws} }

func (t *tunnelConn) Read(p []byte) (int, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	for {
		if t.cur == nil {
			mt, r, err := t.ws.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
					return 0, io.EOF
				}
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				continue
			}
			t.cur = r
		}
		n, err := t.cur.Read(p)
		if errors.Is(err, io.EOF) {
			t.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (t *tunnelConn) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if err := t.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (t *tunnelConn) Close() error {
	t.wmu.Lock()
	t.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	t.wmu.Unlock()
	return t.ws.Close()
}

func (t *tunnelConn) LocalAddr() net.Addr                { return t.ws.LocalAddr() }
func (t *tunnelConn) RemoteAddr() net.Addr               { return t.ws.RemoteAddr() }
func (t *tunnelConn) SetReadDeadline(d time.Time) error  { return t.ws.SetReadDeadline(d) }
func (t *tunnelConn) SetWriteDeadline(d time.Time) error { return t.ws.SetWriteDeadline(d) }
func (t *tunnelConn) SetDeadline(d time.Time) error {
	if err := t.ws.SetReadDeadline(d); err != nil {
		return err
	}
	return t.ws.SetWriteDeadline(d)
}

var _ net.Conn = (*tunnelConn)(nil)
