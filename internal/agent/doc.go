// Package agent wires a node agent (`podvisor agent`, and the agent
// `podvisor server` runs in-process) from a Config and Deps: it joins the
// cluster (internal/nodejoin) or takes in-process credentials, builds the
// API client, the image store (importing the archives dropped in
// <data-dir>/images), the pod sandbox manager, the OCI runtime (runc, and
// visor when its binary is found), the pod network factory and the
// kubelet, and runs them until its context ends.
//
// Layout under Config.DataDir:
//
//	pki/             ca.crt, client.crt/key, kubelet.crt/key (nodejoin)
//	image-store/     the image store; images/ holds archives to import
//	runtime/         container records (internal/runtime/oci)
//	net/             IPAM state
//	pods/<uid>/      volumes, hosts and resolv.conf
//	logs/            container logs
//	manifests/       the default static pod directory
//
// and under Config.RunDir (a tmpfs: it does not survive a reboot, nor do
// the namespaces it pins): pods/ (sandboxes) and runc/ (runc's state).
//
// Only cmd/podvisor, internal/server, tests and benchmarks import it.
package agent
