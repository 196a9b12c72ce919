// Package container is the host side of visor: it turns an OCI bundle into
// a running sandbox and keeps track of it between CLI invocations.
//
//   - Bundles: LoadBundle reads config.json (runtime-spec types), checks
//     every field visor honours and names the field of each problem, and
//     derives the boot and gofer configurations (bootconfig).
//   - State: one directory per container under the runtime root
//     (<root>/<id>/) holding state.json (written atomically), the control
//     socket, the exit-status file and the sandbox log; <root>/<id>.lock
//     serialises CLI invocations on the same container (flock).
//   - Lifecycle: creating → created → running → stopped. Create starts the
//     gofer and `visor boot` in their namespaces, inside the container's
//     cgroup, with their configuration and descriptors, and waits for the
//     Sentry's control handshake; Start, Kill, Exec, Processes and Events
//     talk to the Sentry through internal/sandbox/control; Delete kills
//     what is left, removes the cgroup and the state directory.
//   - Exit status: the Sentry writes the container's status into
//     <root>/<id>/exit before it exits (bootconfig.WriteExitStatus) and
//     exits with the same code, so a waiting parent, a subreaper or a later
//     `visor state` all see it. docs/visor.md has the whole process model.
//
// Lock order: a container's lock file, then nothing else (no two
// containers are ever locked together).
//
// Only cmd/visor imports this package.
package container
