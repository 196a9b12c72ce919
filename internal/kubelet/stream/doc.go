// Package stream is the kubelet's HTTPS server (port 10250): the paths the
// API server proxies pods/log, pods/exec, pods/attach and pods/portforward
// to, the node's stats (/stats/summary, which the metrics API is built
// from) and its Prometheus metrics (/metrics, /metrics/resource), plus
// /healthz and /pods.
//
// Paths, as Kubernetes' kubelet serves them:
//
//	GET  /containerLogs/{namespace}/{pod}/{container}   follow, previous, sinceSeconds, sinceTime, tailLines, timestamps, limitBytes
//	POST /exec/{namespace}/{pod}/{container}            command (repeated), input, output, error, tty (also stdin, stdout, stderr)
//	POST /attach/{namespace}/{pod}/{container}          input, output, error, tty
//	POST /portForward/{namespace}/{pod}                 ports in the stream headers
//	GET  /stats/summary, /metrics, /metrics/resource, /healthz, /pods
//
// Exec, attach and port-forward are upgraded connections. Exec and attach
// speak the remote command protocol: over WebSocket (subprotocols
// v5.channel.k8s.io down to channel.k8s.io, kubectl's default) or over SPDY
// (X-Stream-Protocol-Version v5 ... channel.k8s.io, kubectl's fallback).
// Port-forward speaks portforward.k8s.io over SPDY, either directly or
// tunnelled in a WebSocket (subprotocol SPDY/3.1+portforward.k8s.io,
// kubectl's default), and opens each connection inside the pod's network
// namespace. The framing comes from k8s.io/streaming (spdy, wsstream); the
// stream negotiation, the resize channel and the error channel (a
// metav1.Status carrying the exit code) are here.
//
// Every request is authenticated (a client certificate from the cluster CA,
// or a bearer token through a TokenReview) and authorized: the API server's
// kubelet client (and system:masters) may do anything, everyone else needs
// a SubjectAccessReview on the node's subresource (nodes/proxy, nodes/stats,
// nodes/metrics, nodes/log), as Kubernetes' webhook authorization does.
// Anonymous requests get 401, denied ones 403.
//
// The kubelet owns its pods: it gives the server its PodLookup (which pods
// run, which runtime container is a pod's container now and before its
// last restart, where a pod's network namespace is) and the Runtime that
// runs them (*oci.Runtime). Only the agent wiring, tests and benchmarks
// import this package.
package stream
