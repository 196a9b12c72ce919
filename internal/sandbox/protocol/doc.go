// Package protocol is the wire protocol between the Sentry and the Gofer:
// small, versioned, over a unix SOCK_SEQPACKET socket pair (one packet per
// message, file descriptors donated with SCM_RIGHTS). The Sentry's
// Gofer-backed file system uses Client; the Gofer serves with Serve and a
// Handler. It imports neither side (depcheck enforces this).
//
// # Model
//
// The server names files by Handles it keeps (an O_PATH file descriptor in
// the Gofer), like lisafs's FDs: Attach returns the root's, Walk one per
// name walked, and Close releases them. Names in requests are single path
// components: never empty, ".", "..", or holding '/' or NUL. Path
// resolution, symbolic links included, happens in the Sentry; the server
// never resolves a path. Regular files are read and written through host
// file descriptors the server opens and donates (Open, Create): data never
// crosses the socket.
//
// # Framing
//
// Every packet starts with an 8-byte header: type (1 byte), 3 reserved
// bytes (zero), and a tag (4 bytes, little-endian) chosen by the client and
// echoed in the reply, so many requests can be in flight. A reply's type is
// the request's type with ReplyBit set, or TypeError with an errno. All
// integers are little-endian; a string is a 2-byte length and its bytes.
// A packet is at most MaxMessageSize bytes.
//
// # Messages
//
// The first request on a connection must be Version; the server answers
// with the version both speak (the lower of the two) or closes the
// connection. Each request below notes what it supports.
//
//	Version   client's highest version → version to speak
//	Attach    → the root's handle and attributes
//	Walk      dir, names → handle and attributes of each name walked, in
//	          order; stops early at a missing name (ENOENT only if the first
//	          is missing) or at a non-directory. Symbolic links are not
//	          followed: walking one returns the link itself.
//	Stat      handle → attributes
//	Open      handle, flags → a donated host fd. Flags are open(2)'s
//	          access mode, O_TRUNC, O_APPEND, O_NONBLOCK and O_DIRECT; any
//	          other flag is ignored. Regular files and directories only
//	          (ENXIO for special files, which the Sentry implements itself).
//	Create    dir, name, flags, mode, owner → handle, attributes and a
//	          donated fd of a new regular file (O_EXCL: EEXIST if present).
//	Mkdir     dir, name, mode, owner → handle and attributes
//	Mknod     dir, name, mode, owner → handle and attributes. Regular
//	          files, FIFOs and sockets only; device nodes are EPERM (the
//	          Sentry's devices do not need them).
//	Symlink   dir, name, target, owner → handle and attributes
//	Link      dir, name, target handle → handle and attributes
//	Unlink    dir, name, flags (AT_REMOVEDIR) → nothing
//	Rename    old dir, old name, new dir, new name, flags (RENAME_NOREPLACE,
//	          RENAME_EXCHANGE) → nothing
//	Readlink  handle → target
//	SetAttr   handle, mask (STATX_MODE, UID, GID, SIZE, ATIME, MTIME) and
//	          values → attributes after the change. A symbolic link's mode
//	          and times cannot be changed (ignored, as Linux does for mode).
//	Getdents  handle, offset, size → entries from offset ("." and ".."
//	          included), at most about size bytes; offsets are the host's
//	          d_off cookies, 0 the start; no entries means the end.
//	StatFS    handle → file system statistics
//	Close     handles → nothing; unknown handles are ignored.
//
// A read-only server answers every change with EROFS.
package protocol
