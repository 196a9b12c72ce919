// Package kubeletproxy is the API server's client of node kubelets: it
// proxies the subresources a kubelet answers (pods/log, pods/exec,
// pods/attach, pods/portforward, nodes/proxy) to the pod's node over TLS
// with the API server's kubelet client certificate, upgrade-aware so that
// exec, attach and port-forward (WebSocket or SPDY) pass through, and it
// fetches nodes' /stats/summary for the metrics API.
//
// The kubelet's address comes from the Node: the first of its
// status.addresses of a preferred type (InternalIP, Hostname, ExternalIP)
// and status.daemonEndpoints.kubeletEndpoint.Port (10250 if unset).
//
// The API server's request pipeline authenticates and authorizes the
// request (create on pods/exec, pods/attach, pods/portforward; get on
// pods/log; nodes/proxy by verb) before calling ServeSubresource. Only the
// apiserver and the server wiring import this package.
package kubeletproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"
	statsv1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// DefaultKubeletPort is used when a Node reports no kubelet port.
const DefaultKubeletPort = 10250

// Config holds the client's settings.
type Config struct {
	// ClientCertificate is the API server's kubelet client certificate
	// (CN podvisor-apiserver-kubelet-client, O system:masters).
	ClientCertificate tls.Certificate
	// KubeletCAs verifies kubelets' serving certificates; nil skips the
	// verification, as Kubernetes does without
	// --kubelet-certificate-authority.
	KubeletCAs *x509.CertPool
	// AddressTypes is the order of preference of node addresses; nil is
	// InternalIP, Hostname, ExternalIP.
	AddressTypes []corev1.NodeAddressType
}

// NodeGetter finds a Node (the API server's store or cache).
type NodeGetter interface {
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
}

// Deps are the client's collaborators.
type Deps struct {
	Nodes  NodeGetter
	Logger *slog.Logger
}

// Client reaches kubelets. It is safe for concurrent use.
type Client struct {
	cfg       Config
	deps      Deps
	transport *http.Transport
}

// New returns a Client.
func New(cfg Config, deps Deps) (*Client, error) {
	if deps.Nodes == nil || deps.Logger == nil {
		return nil, errors.New("kubeletproxy: Nodes and Logger are required")
	}
	if len(cfg.ClientCertificate.Certificate) == 0 {
		return nil, errors.New("kubeletproxy: no kubelet client certificate")
	}
	if cfg.AddressTypes == nil {
		cfg.AddressTypes = []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName, corev1.NodeExternalIP}
	}
	tc := &tls.Config{
		Certificates: []tls.Certificate{cfg.ClientCertificate},
		RootCAs:      cfg.KubeletCAs,
		// Without a CA, the kubelet's certificate is not checked (the
		// Kubernetes default); the connection is still encrypted and the
		// kubelet still checks ours.
		InsecureSkipVerify: cfg.KubeletCAs == nil,
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"http/1.1"},
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{cfg: cfg, deps: deps, transport: tr}, nil
}

// Close drops idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// nodeURL is the kubelet's base URL.
func (c *Client) nodeURL(n *corev1.Node) (*url.URL, error) {
	port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		port = DefaultKubeletPort
	}
	for _, t := range c.cfg.AddressTypes {
		for _, a := range n.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return &url.URL{Scheme: "https", Host: net.JoinHostPort(a.Address, strconv.Itoa(int(port)))}, nil
			}
		}
	}
	return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("node %s reports no address to reach its kubelet", n.Name))
}

// NodeURL returns the base URL of node name's kubelet.
func (c *Client) NodeURL(ctx context.Context, name string) (*url.URL, error) {
	n, err := c.deps.Nodes.GetNode(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.nodeURL(n)
}

// Summary fetches node name's /stats/summary.
func (c *Client) Summary(ctx context.Context, name string) (*statsv1.Summary, error) {
	u, err := c.NodeURL(ctx, name)
	if err != nil {
		return nil, err
	}
	u.Path = "/stats/summary"
	u.RawQuery = "only_cpu_and_memory=true"
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("stats of node %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("stats of node %s: kubelet answered %d: %s", name, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var s statsv1.Summary
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("decoding stats of node %s: %w", name, err)
	}
	return &s, nil
}

// ServeSubresource proxies an authorized request for a kubelet-served
// subresource of obj (a Pod, or a Node for nodes/proxy) to the kubelet.
func (c *Client) ServeSubresource(w http.ResponseWriter, r *http.Request, resource, subresource string, obj runtime.Object) {
	var (
		nodeName string
		loc      *url.URL
		err      error
		upgrade  bool
	)
	switch o := obj.(type) {
	case *corev1.Pod:
		if resource != "pods" {
			err = notFound(resource, subresource)
			break
		}
		nodeName = o.Spec.NodeName
		loc, upgrade, err = podLocation(o, subresource, r.URL.Query())
	case *corev1.Node:
		if resource != "nodes" || subresource != "proxy" {
			err = notFound(resource, subresource)
			break
		}
		nodeName = o.Name
		loc = &url.URL{Path: "/" + proxyRest(r.URL.Path, o.Name), RawQuery: r.URL.RawQuery}
	default:
		err = notFound(resource, subresource)
	}
	if err == nil && nodeName == "" {
		err = apierrors.NewBadRequest("the pod does not have a host assigned")
	}
	var base *url.URL
	if err == nil {
		base, err = c.NodeURL(r.Context(), nodeName)
	}
	if err != nil {
		writeStatus(w, err)
		return
	}
	loc.Scheme, loc.Host = base.Scheme, base.Host
	// The user's credentials stay here: the kubelet sees the API server.
	out := r.Clone(r.Context())
	for _, h := range []string{"Authorization", "Impersonate-User", "Impersonate-Group", "Impersonate-Uid"} {
		out.Header.Del(h)
	}
	for k := range out.Header {
		if strings.HasPrefix(k, "Impersonate-Extra-") {
			out.Header.Del(k)
		}
	}
	h := proxy.NewUpgradeAwareHandler(loc, c.transport, false, upgrade, responder{log: c.deps.Logger})
	h.UseLocationHost = true
	h.FlushInterval = -1 // logs -f: every write at once
	h.ServeHTTP(controlled{w}, out)
}

// controlled gives the proxy Hijack and Flush through whatever wraps the
// connection's writer (the API server's recorders unwrap), since the
// proxy asserts http.Hijacker on the writer itself.
type controlled struct{ http.ResponseWriter }

func (c controlled) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(c.ResponseWriter).Hijack()
}

func (c controlled) Flush() { http.NewResponseController(c.ResponseWriter).Flush() }

func (c controlled) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// proxyRest is the part of a nodes/{name}/proxy/... path after proxy.
func proxyRest(p, node string) string {
	marker := "/nodes/" + node + "/proxy"
	i := strings.Index(p, marker)
	if i < 0 {
		return ""
	}
	return strings.TrimPrefix(p[i+len(marker):], "/")
}

func notFound(resource, subresource string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: resource + "/" + subresource}, "")
}

// podLocation is the kubelet path and query for a pod subresource, from
// the API's options (PodLogOptions, PodExecOptions, PodAttachOptions,
// PodPortForwardOptions). upgrade reports subresources that need an
// upgraded connection.
func podLocation(pod *corev1.Pod, sub string, q url.Values) (*url.URL, bool, error) {
	ns, name := pod.Namespace, pod.Name
	switch sub {
	case "log":
		c, err := containerFor(pod, q.Get("container"), true)
		if err != nil {
			return nil, false, err
		}
		out := url.Values{}
		for _, k := range []string{"follow", "previous", "timestamps", "sinceSeconds", "sinceTime", "tailLines", "limitBytes"} {
			if v := q.Get(k); v != "" {
				out.Set(k, v)
			}
		}
		return &url.URL{Path: "/containerLogs/" + ns + "/" + name + "/" + c, RawQuery: out.Encode()}, false, nil
	case "exec", "attach":
		c, err := containerFor(pod, q.Get("container"), false)
		if err != nil {
			return nil, false, err
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("cannot %s into a container in a completed pod; current phase is %s", sub, pod.Status.Phase))
		}
		out := url.Values{}
		for api, kubelet := range map[string]string{"stdin": corev1.ExecStdinParam, "stdout": corev1.ExecStdoutParam, "stderr": corev1.ExecStderrParam, "tty": corev1.ExecTTYParam} {
			if b, _ := strconv.ParseBool(q.Get(api)); b {
				out.Set(kubelet, "1")
			}
		}
		if sub == "exec" {
			cmd := q["command"]
			if len(cmd) == 0 {
				return nil, false, apierrors.NewBadRequest("exec needs a command")
			}
			out[corev1.ExecCommandParam] = cmd
		}
		return &url.URL{Path: "/" + sub + "/" + ns + "/" + name + "/" + c, RawQuery: out.Encode()}, true, nil
	case "portforward":
		return &url.URL{Path: "/portForward/" + ns + "/" + name}, true, nil
	}
	return nil, false, notFound("pods", sub)
}

// containerFor checks or defaults the container name: the only
// container, or the default-container annotation.
func containerFor(pod *corev1.Pod, name string, initOK bool) (string, error) {
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	all := slices.Clone(names)
	for _, c := range pod.Spec.InitContainers {
		all = append(all, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		all = append(all, c.Name)
	}
	if name == "" {
		if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" && slices.Contains(all, d) {
			return d, nil
		}
		if len(names) == 1 {
			return names[0], nil
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names))
	}
	if !slices.Contains(all, name) {
		return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
	}
	return name, nil
}

// responder reports proxy failures as a Status.
type responder struct{ log *slog.Logger }

// Error implements proxy.ErrorResponder.Error.
func (p responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	p.log.Debug("proxying to kubelet", "path", r.URL.Path, "err", err)
	writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("error reaching the kubelet: %v", err)))
}

func writeStatus(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	b, _ := json.Marshal(&st)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	w.Write(b)
}
