// Package oci runs containers through the OCI runtime command line (runc,
// and later visor, at the same seam) for the kubelet. It builds bundles
// (config.json from a ContainerConfig), starts one small monitor process
// per container (the shim, `podvisor-shim`) that owns the container's
// stdio, writes its CRI-format log and records its exit, and answers the
// kubelet's questions (Status, List, Logs, Stats) from the runtime's state
// and the shim's files, so that the agent can be killed and restarted
// without losing containers or logs.
//
// The kubelet's per-pod worker is the caller. A typical life cycle:
//
//	id, err := rt.CreateContainer(ctx, sandbox, cfg) // shim + `runtime create`
//	err = rt.Start(ctx, id)                          // `runtime start`
//	st, err := rt.Status(ctx, id)                    // created/running/exited
//	err = rt.Stop(ctx, id, grace)                    // SIGTERM, wait, SIGKILL
//	err = rt.Remove(ctx, id)                         // `runtime delete`, files gone
//
// Nothing here is specific to runc: a Handler names the binary and its
// state root, and a pod chooses its handler by name (its RuntimeClass).
//
// Only the kubelet (internal/kubelet/...), the agent wiring,
// cmd/podvisor-shim and cmd/podvisor (the shim: RunShim) and benchmarks
// import this package. It is the whole of the shim binary, so it must not
// import the orchestrator's libraries (internal/depcheck checks).
//
// On-disk layout, under Config.StateDir:
//
//	containers/<id>/meta.json    what CreateContainer was asked, and when
//	containers/<id>/bundle/      config.json (rootfs is the caller's path)
//	containers/<id>/shim.pid     the shim's pid
//	containers/<id>/init.pid     the container's init pid (host pid ns)
//	containers/<id>/exit.json    written by the shim when the container exits
//	containers/<id>/shim.log     the shim's own diagnostics
//	containers/<id>/runtime.log  the runtime binary's log (runc --log)
//	containers/<id>/attach.sock  the shim's stream socket (see Attach)
//
// Concurrency: a Runtime is safe for concurrent use; operations on one
// container are serialised by a per-container lock, different containers
// proceed in parallel.
package oci
