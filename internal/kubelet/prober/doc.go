// Package prober runs liveness, readiness and startup probes: one worker
// per probe of a running container, stepping a small state machine
// (initial delay, period, timeout, success and failure thresholds) and
// telling the kubelet when a verdict changes. Exec probes run through the
// container runtime; httpGet and tcpSocket probes dial from inside the
// pod's network namespace (NetNSDialer), so they reach the pod the way
// its own processes do, whatever the node's routes.
//
// Lifecycle hooks (postStart, preStop) reuse the same handlers (Runner).
//
// Only the kubelet and tests import it.
package prober
