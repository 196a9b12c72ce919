package prober

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Result is one probe's (or a worker's) verdict.
type Result int

// Results.
const (
	Unknown Result = iota
	Success
	Failure
)

func (r Result) String() string {
	switch r {
	case Success:
		return "success"
	case Failure:
		return "failure"
	}
	return "unknown"
}

// maxOutput bounds the output kept from an exec probe or an HTTP body
// (the message of an Unhealthy event).
const maxOutput = 10 << 10

// Exec runs a command in a container and returns its exit code and
// combined output; a ctx deadline ends the command (ErrTimeout-like
// errors are reported by the caller as a failure).
type Exec func(ctx context.Context, containerID string, cmd []string, out io.Writer) (int, error)

// Runner runs probe and hook handlers.
type Runner struct {
	// Exec runs exec handlers (the runtime's Exec).
	Exec Exec
}

// Target is where a handler runs.
type Target struct {
	// ContainerID is the runtime container (exec handlers).
	ContainerID string
	// Container resolves named ports.
	Container *corev1.Container
	// PodIP is the default host of httpGet and tcpSocket handlers.
	PodIP string
	// NetNS is the pod's pinned network namespace ("" for hostNetwork).
	NetNS string
}

// Handler is the common part of probe and lifecycle handlers.
type Handler struct {
	Exec      *corev1.ExecAction
	HTTPGet   *corev1.HTTPGetAction
	TCPSocket *corev1.TCPSocketAction
	GRPC      *corev1.GRPCAction
	Sleep     *corev1.SleepAction
}

// ProbeHandler converts a probe's handler.
func ProbeHandler(p *corev1.Probe) Handler {
	return Handler{Exec: p.Exec, HTTPGet: p.HTTPGet, TCPSocket: p.TCPSocket, GRPC: p.GRPC}
}

// HookHandler converts a lifecycle handler.
func HookHandler(h *corev1.LifecycleHandler) Handler {
	return Handler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket, Sleep: h.Sleep}
}

// Run runs h against t within ctx (whose deadline is the timeout) and
// returns the verdict and a message (the command's output, the HTTP
// status, the dial error).
func (r *Runner) Run(ctx context.Context, h Handler, t Target) (Result, string) {
	switch {
	case h.Exec != nil:
		return r.runExec(ctx, h.Exec, t)
	case h.HTTPGet != nil:
		return runHTTP(ctx, h.HTTPGet, t)
	case h.TCPSocket != nil:
		return runTCP(ctx, h.TCPSocket, t)
	case h.Sleep != nil:
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return Success, ""
		case <-ctx.Done():
			return Failure, "sleep interrupted"
		}
	case h.GRPC != nil:
		return Failure, "gRPC probes are not supported by this kubelet"
	}
	return Failure, "the handler has no action"
}

// boundedBuffer keeps the first maxOutput bytes written.
type boundedBuffer struct{ bytes.Buffer }

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}

func (r *Runner) runExec(ctx context.Context, e *corev1.ExecAction, t Target) (Result, string) {
	if r.Exec == nil {
		return Failure, "exec handlers are not supported"
	}
	if len(e.Command) == 0 {
		return Failure, "exec handler has no command"
	}
	var out boundedBuffer
	code, err := r.Exec(ctx, t.ContainerID, e.Command, &out)
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return Failure, fmt.Sprintf("command %q timed out", strings.Join(e.Command, " "))
	}
	if err != nil {
		return Failure, err.Error()
	}
	msg := strings.TrimSpace(out.String())
	if code != 0 {
		if msg == "" {
			msg = fmt.Sprintf("command %q exited with %d", strings.Join(e.Command, " "), code)
		}
		return Failure, msg
	}
	return Success, msg
}

// resolvePort resolves a port number or a container port name.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	if c != nil {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	return 0, fmt.Errorf("port %q not found in the container's ports", p.StrVal)
}

func runTCP(ctx context.Context, a *corev1.TCPSocketAction, t Target) (Result, string) {
	port, err := resolvePort(a.Port, t.Container)
	if err != nil {
		return Failure, err.Error()
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	c, err := NetNSDialer(t.NetNS)(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return Failure, fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), errors.Unwrap(err))
	}
	c.Close()
	return Success, ""
}

func runHTTP(ctx context.Context, a *corev1.HTTPGetAction, t Target) (Result, string) {
	port, err := resolvePort(a.Port, t.Container)
	if err != nil {
		return Failure, err.Error()
	}
	host := a.Host
	if host == "" {
		host = t.PodIP
	}
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	p := a.Path
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if pu, err := url.Parse(p); err == nil {
		u.Path, u.RawQuery = pu.Path, pu.RawQuery
	} else {
		u.Path = p
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Failure, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range a.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	tr := &http.Transport{
		DialContext:       NetNSDialer(t.NetNS),
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	defer tr.CloseIdleConnections()
	redirects := 0
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			redirects++
			if redirects > 10 {
				return errors.New("stopped after 10 redirects")
			}
			// Like Kubernetes: a redirect to another host is not
			// followed, and counts as success.
			if req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return Failure, fmt.Sprintf("Get %q: %v", u.String(), unwrapURL(err))
	}
	defer resp.Body.Close()
	var body boundedBuffer
	io.Copy(&body, io.LimitReader(resp.Body, maxOutput))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return Success, ""
	}
	return Failure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
