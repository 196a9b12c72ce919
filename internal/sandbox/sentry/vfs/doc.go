// Package vfs is the Sentry's virtual file system: mounts and mount
// namespaces, path resolution, dentries and file descriptions. File systems
// (package fsimpl/<fs>) implement the Inode and FileDescriptionImpl
// contracts defined here; the kernel and the system call layer call
// VirtualFilesystem's *At operations and FileDescription's methods.
//
// Who may import it: Sentry packages at or above the vfs layer (fsimpl,
// kernel, net, syscalls, boot). It imports only the layers below it.
//
// # Path resolution
//
// Every path is resolved here, one component at a time, never on the host:
// symbolic links are read through SymlinkInode.Readlink and followed in the
// Sentry (at most MaxSymlinkTraversals per resolution, then ELOOP); ".."
// never climbs above the resolution root (PathOperation.Root, the task's
// root); mounts are crossed in both directions. File systems answer only
// single-name questions (DirInode.Lookup, Create, ...).
//
// # Errors
//
// Every error returned by this package and by the contracts it defines is an
// abi.Errno that the system call layer returns to the application as is.
// EAGAIN from a file operation means "would block": the caller waits for
// readiness (EventRegister) unless the file is O_NONBLOCK, then retries. A
// write that blocks part-way returns the bytes written with EAGAIN; the Src
// has advanced past them, so a blocking caller waits and writes the rest.
//
// # How the kernel uses it
//
//	v := vfs.New(vfs.Config{Clock: ..., Logger: ...})
//	v.RegisterFilesystemType(tmpfs.FilesystemType{MemoryFile: mf}) // and devpts, proc, ...
//	ns := v.NewMountNamespaceFrom(rootFS, rootDentry, "rootfs", flags)
//	root := ns.Root() // a task's root and cwd hold VirtualDentry references
//	fd, err := v.OpenAt(ctx, creds, &vfs.PathOperation{Root: root, Start: cwd,
//		Path: path, FollowFinalSymlink: true}, &vfs.OpenOptions{Flags: flags, Mode: mode &^ umask})
//	n, err := fd.Read(ctx, dst, vfs.ReadOptions{}) // dst: application memory
//	fd.DecRef(ctx) // when the last FD table slot referring to it closes
//
// Credentials are passed explicitly; contexts that are vfs.Blocker let a
// FIFO open be interrupted by signals.
//
// # Reference counting
//
// Dentries, mounts, file systems and file descriptions are reference
// counted. A VirtualDentry returned by this package carries a reference the
// caller must drop with DecRef; IncRef takes another. A Dentry's reference
// count covers external holders (file descriptions, task roots and working
// directories, mounts, walks in progress) and its cached children. A dentry
// with no references stays in its parent's cache (in an LRU of bounded size,
// FilesystemOptions.MaxCachedDentries) until evicted, when its Inode's DecRef
// is called.
//
// # Lock order
//
//	VirtualFilesystem.mountMu
//	  VirtualFilesystem.renameMu
//	    Dentry.dirMu (ancestors before descendants; unrelated dentries
//	                  only under renameMu held for writing, by depth then
//	                  address)
//	      Filesystem.cacheMu
//	        file system internal locks (inode locks, then data locks)
//	          WaitQueue.mu
//
// A path walk holds at most one Dentry.dirMu at a time and never holds
// mountMu or renameMu across a call into a file system.
package vfs
