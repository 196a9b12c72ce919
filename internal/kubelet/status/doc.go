// Package status computes a pod's status from what the kubelet observed
// (Compute: phase, conditions, container states, IPs; pure, no I/O) and
// writes it to the API server through pods/status only when it changed
// (Manager). Static pods report through their mirror pods.
//
// Only the kubelet (internal/kubelet) and tests import it.
package status
