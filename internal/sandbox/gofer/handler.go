package gofer

import (
	"encoding/binary"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/protocol"
)

// node is a file the Sentry holds a handle to.
type node struct {
	// fd is an O_PATH descriptor of the file.
	fd  int
	typ uint32 // S_IF* bits; a file's type never changes

	// dirMu guards dirFD, the descriptor getdents reads through.
	dirMu sync.Mutex
	dirFD int
}

// handler serves one connection: one tree and the handles into it.
type handler struct {
	procFD   int
	rootFD   int
	readOnly bool

	mu sync.Mutex
	// nodes and next are guarded by mu.
	nodes map[protocol.Handle]*node
	next  protocol.Handle
}

var _ protocol.Handler = (*handler)(nil)

func (g *Gofer) newHandler(r root) (*handler, error) {
	return &handler{procFD: g.procFD, rootFD: r.fd, readOnly: r.readOnly, nodes: make(map[protocol.Handle]*node), next: 1}, nil
}

// closeAll releases every handle when the connection ends.
func (h *handler) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, n := range h.nodes {
		n.close()
		delete(h.nodes, k)
	}
}

func (n *node) close() {
	unix.Close(n.fd)
	if n.dirFD >= 0 {
		unix.Close(n.dirFD)
	}
}

func (h *handler) get(hd protocol.Handle) (*node, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.nodes[hd]
	if !ok {
		return nil, unix.EBADF
	}
	return n, nil
}

func (h *handler) getDir(hd protocol.Handle) (*node, error) {
	n, err := h.get(hd)
	if err != nil {
		return nil, err
	}
	if n.typ != unix.S_IFDIR {
		return nil, unix.ENOTDIR
	}
	return n, nil
}

// add makes fd (an O_PATH descriptor) a new handle, returning it with the
// file's attributes; it closes fd on error.
func (h *handler) add(fd int) (protocol.Inode, error) {
	st, err := fstat(fd)
	if err != nil {
		unix.Close(fd)
		return protocol.Inode{}, err
	}
	n := &node{fd: fd, typ: st.Mode & unix.S_IFMT, dirFD: -1}
	h.mu.Lock()
	hd := h.next
	h.next++
	h.nodes[hd] = n
	h.mu.Unlock()
	return protocol.Inode{Handle: hd, Stat: st}, nil
}

// resolveFlags keep every open inside the served tree and never follow a
// symbolic link, magic or not.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openChild opens name in dir with openat2; name is a single checked
// component (protocol.ValidName).
func openChild(dir int, name string, flags uint64, mode uint64) (int, error) {
	how := unix.OpenHow{Flags: flags | unix.O_NOFOLLOW | unix.O_CLOEXEC, Mode: mode, Resolve: resolveFlags}
	for {
		fd, err := unix.Openat2(dir, name, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			// EAGAIN: a concurrent rename made the kernel give up a
			// lookup; retrying is what openat2(2) advises.
			continue
		}
		return fd, err
	}
}

// reopen opens n's inode with flags through /proc/self/fd.
func (h *handler) reopen(n *node, flags int) (int, error) {
	if n.typ == unix.S_IFDIR {
		return unix.Openat(n.fd, ".", flags|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	return unix.Openat(h.procFD, strconv.Itoa(n.fd), flags|unix.O_CLOEXEC, 0)
}

func fstat(fd int) (protocol.Stat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return protocol.Stat{}, err
	}
	return protocol.Stat{
		Mode:    st.Mode,
		UID:     st.Uid,
		GID:     st.Gid,
		Nlink:   uint32(st.Nlink),
		Blksize: uint32(st.Blksize),
		Ino:     st.Ino,
		Dev:     st.Dev,
		Rdev:    st.Rdev,
		Size:    uint64(st.Size),
		Blocks:  uint64(st.Blocks),
		Atime:   protocol.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtime:   protocol.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctime:   protocol.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}, nil
}

func (h *handler) checkWritable() error {
	if h.readOnly {
		return unix.EROFS
	}
	return nil
}

// Attach implements protocol.Handler.Attach.
// The root may be a directory or, for a bind mount of one file, a
// regular file.
func (h *handler) Attach() (protocol.Inode, error) {
	fd, err := unix.FcntlInt(uintptr(h.rootFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return protocol.Inode{}, err
	}
	return h.add(fd)
}

// Walk implements protocol.Handler.Walk.
func (h *handler) Walk(dir protocol.Handle, names []string) ([]protocol.Inode, error) {
	n, err := h.getDir(dir)
	if err != nil {
		return nil, err
	}
	var out []protocol.Inode
	cur := n.fd
	for i, name := range names {
		fd, err := openChild(cur, name, unix.O_PATH, 0)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			break
		}
		in, err := h.add(fd)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			break
		}
		out = append(out, in)
		if in.Stat.Mode&unix.S_IFMT != unix.S_IFDIR {
			break
		}
		cur = fd
	}
	return out, nil
}

// Stat implements protocol.Handler.Stat.
func (h *handler) Stat(hd protocol.Handle) (protocol.Stat, error) {
	n, err := h.get(hd)
	if err != nil {
		return protocol.Stat{}, err
	}
	return fstat(n.fd)
}

// openFlags are the open(2) flags a Sentry may ask for.
const openFlags = unix.O_ACCMODE | unix.O_TRUNC | unix.O_APPEND | unix.O_NONBLOCK | unix.O_DIRECT

// Open implements protocol.Handler.Open.
func (h *handler) Open(hd protocol.Handle, flags uint32) (int, error) {
	n, err := h.get(hd)
	if err != nil {
		return -1, err
	}
	flags &= openFlags
	if flags&unix.O_ACCMODE == unix.O_ACCMODE {
		return -1, unix.EINVAL
	}
	writes := flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	if writes {
		if err := h.checkWritable(); err != nil {
			return -1, err
		}
	}
	switch n.typ {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		if writes {
			return -1, unix.EISDIR
		}
	default:
		return -1, unix.ENXIO
	}
	return h.reopen(n, int(flags))
}

// Create implements protocol.Handler.Create.
func (h *handler) Create(dir protocol.Handle, name string, flags, mode, uid, gid uint32) (protocol.Inode, int, error) {
	if err := h.checkWritable(); err != nil {
		return protocol.Inode{}, -1, err
	}
	d, err := h.getDir(dir)
	if err != nil {
		return protocol.Inode{}, -1, err
	}
	acc := flags & (unix.O_ACCMODE | unix.O_APPEND | unix.O_NONBLOCK | unix.O_DIRECT)
	if acc&unix.O_ACCMODE == unix.O_ACCMODE {
		return protocol.Inode{}, -1, unix.EINVAL
	}
	fd, err := openChild(d.fd, name, uint64(acc|unix.O_CREAT|unix.O_EXCL), uint64(mode&0o7777))
	if err != nil {
		return protocol.Inode{}, -1, err
	}
	if err := unix.Fchown(fd, int(uid), int(gid)); err != nil {
		unix.Close(fd)
		unix.Unlinkat(d.fd, name, 0)
		return protocol.Inode{}, -1, err
	}
	// The handle names the very inode just created.
	pfd, err := unix.Openat(h.procFD, strconv.Itoa(fd), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return protocol.Inode{}, -1, err
	}
	in, err := h.add(pfd)
	if err != nil {
		unix.Close(fd)
		return protocol.Inode{}, -1, err
	}
	return in, fd, nil
}

// finishMake opens the handle of a file just made called name in d, and
// sets its owner.
func (h *handler) finishMake(d *node, name string, uid, gid uint32) (protocol.Inode, error) {
	fd, err := openChild(d.fd, name, unix.O_PATH, 0)
	if err != nil {
		return protocol.Inode{}, err
	}
	if err := unix.Fchownat(fd, "", int(uid), int(gid), unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Close(fd)
		return protocol.Inode{}, err
	}
	return h.add(fd)
}

// Mkdir implements protocol.Handler.Mkdir.
func (h *handler) Mkdir(dir protocol.Handle, name string, mode, uid, gid uint32) (protocol.Inode, error) {
	if err := h.checkWritable(); err != nil {
		return protocol.Inode{}, err
	}
	d, err := h.getDir(dir)
	if err != nil {
		return protocol.Inode{}, err
	}
	if err := unix.Mkdirat(d.fd, name, mode&0o7777); err != nil {
		return protocol.Inode{}, err
	}
	in, err := h.finishMake(d, name, uid, gid)
	if err != nil {
		unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
	}
	return in, err
}

// Mknod implements protocol.Handler.Mknod: regular files, FIFOs and
// sockets only.
func (h *handler) Mknod(dir protocol.Handle, name string, mode uint32, rdev uint64, uid, gid uint32) (protocol.Inode, error) {
	if err := h.checkWritable(); err != nil {
		return protocol.Inode{}, err
	}
	switch mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFIFO, unix.S_IFSOCK:
	default:
		return protocol.Inode{}, unix.EPERM
	}
	d, err := h.getDir(dir)
	if err != nil {
		return protocol.Inode{}, err
	}
	if err := unix.Mknodat(d.fd, name, mode&(unix.S_IFMT|0o7777), 0); err != nil {
		return protocol.Inode{}, err
	}
	in, err := h.finishMake(d, name, uid, gid)
	if err != nil {
		unix.Unlinkat(d.fd, name, 0)
	}
	return in, err
}

// Symlink implements protocol.Handler.Symlink.
func (h *handler) Symlink(dir protocol.Handle, name, target string, uid, gid uint32) (protocol.Inode, error) {
	if err := h.checkWritable(); err != nil {
		return protocol.Inode{}, err
	}
	if target == "" || len(target) >= unix.PathMax {
		return protocol.Inode{}, unix.EINVAL
	}
	d, err := h.getDir(dir)
	if err != nil {
		return protocol.Inode{}, err
	}
	if err := unix.Symlinkat(target, d.fd, name); err != nil {
		return protocol.Inode{}, err
	}
	in, err := h.finishMake(d, name, uid, gid)
	if err != nil {
		unix.Unlinkat(d.fd, name, 0)
	}
	return in, err
}

// Link implements protocol.Handler.Link.
func (h *handler) Link(dir protocol.Handle, name string, target protocol.Handle) (protocol.Inode, error) {
	if err := h.checkWritable(); err != nil {
		return protocol.Inode{}, err
	}
	d, err := h.getDir(dir)
	if err != nil {
		return protocol.Inode{}, err
	}
	t, err := h.get(target)
	if err != nil {
		return protocol.Inode{}, err
	}
	if t.typ == unix.S_IFDIR {
		return protocol.Inode{}, unix.EPERM
	}
	if err := unix.Linkat(t.fd, "", d.fd, name, unix.AT_EMPTY_PATH); err != nil {
		return protocol.Inode{}, err
	}
	fd, err := openChild(d.fd, name, unix.O_PATH, 0)
	if err != nil {
		return protocol.Inode{}, err
	}
	return h.add(fd)
}

// Unlink implements protocol.Handler.Unlink.
func (h *handler) Unlink(dir protocol.Handle, name string, flags uint32) error {
	if err := h.checkWritable(); err != nil {
		return err
	}
	if flags&^unix.AT_REMOVEDIR != 0 {
		return unix.EINVAL
	}
	d, err := h.getDir(dir)
	if err != nil {
		return err
	}
	return unix.Unlinkat(d.fd, name, int(flags))
}

// Rename implements protocol.Handler.Rename.
func (h *handler) Rename(oldDir protocol.Handle, oldName string, newDir protocol.Handle, newName string, flags uint32) error {
	if err := h.checkWritable(); err != nil {
		return err
	}
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return unix.EINVAL
	}
	od, err := h.getDir(oldDir)
	if err != nil {
		return err
	}
	nd, err := h.getDir(newDir)
	if err != nil {
		return err
	}
	return unix.Renameat2(od.fd, oldName, nd.fd, newName, uint(flags))
}

// Readlink implements protocol.Handler.Readlink.
func (h *handler) Readlink(hd protocol.Handle) (string, error) {
	n, err := h.get(hd)
	if err != nil {
		return "", err
	}
	if n.typ != unix.S_IFLNK {
		return "", unix.EINVAL
	}
	buf := make([]byte, unix.PathMax)
	l, err := unix.Readlinkat(n.fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:l]), nil
}

// SetAttr implements protocol.Handler.SetAttr. A symbolic link's mode and
// times are left alone (its mode cannot change on Linux; its times would
// need the link's parent).
func (h *handler) SetAttr(hd protocol.Handle, a protocol.SetAttr) (protocol.Stat, error) {
	if err := h.checkWritable(); err != nil {
		return protocol.Stat{}, err
	}
	n, err := h.get(hd)
	if err != nil {
		return protocol.Stat{}, err
	}
	magic := strconv.Itoa(n.fd)
	isLink := n.typ == unix.S_IFLNK
	if a.Mask&(unix.STATX_UID|unix.STATX_GID) != 0 {
		uid, gid := -1, -1
		if a.Mask&unix.STATX_UID != 0 {
			uid = int(a.UID)
		}
		if a.Mask&unix.STATX_GID != 0 {
			gid = int(a.GID)
		}
		if err := unix.Fchownat(n.fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return protocol.Stat{}, err
		}
	}
	// The mode is set after the owner: chown clears set-user-ID bits.
	if a.Mask&unix.STATX_MODE != 0 && !isLink {
		if err := unix.Fchmodat(h.procFD, magic, a.Mode&0o7777, 0); err != nil {
			return protocol.Stat{}, err
		}
	}
	if a.Mask&unix.STATX_SIZE != 0 {
		if n.typ != unix.S_IFREG {
			return protocol.Stat{}, unix.EINVAL
		}
		fd, err := h.reopen(n, unix.O_WRONLY)
		if err != nil {
			return protocol.Stat{}, err
		}
		err = unix.Ftruncate(fd, int64(a.Size))
		unix.Close(fd)
		if err != nil {
			return protocol.Stat{}, err
		}
	}
	if a.Mask&(unix.STATX_ATIME|unix.STATX_MTIME) != 0 && !isLink {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if a.Mask&unix.STATX_ATIME != 0 {
			ts[0] = unix.Timespec{Sec: a.Atime.Sec, Nsec: a.Atime.Nsec}
		}
		if a.Mask&unix.STATX_MTIME != 0 {
			ts[1] = unix.Timespec{Sec: a.Mtime.Sec, Nsec: a.Mtime.Nsec}
		}
		if err := unix.UtimesNanoAt(h.procFD, magic, ts, 0); err != nil {
			return protocol.Stat{}, err
		}
	}
	return fstat(n.fd)
}

// Getdents implements protocol.Handler.Getdents, "." and ".." included
// (the Sentry replaces their inode numbers).
func (h *handler) Getdents(hd protocol.Handle, offset int64, size uint32) ([]protocol.Dirent, error) {
	n, err := h.getDir(hd)
	if err != nil {
		return nil, err
	}
	n.dirMu.Lock()
	defer n.dirMu.Unlock()
	if n.dirFD < 0 {
		fd, err := h.reopen(n, unix.O_RDONLY)
		if err != nil {
			return nil, err
		}
		n.dirFD = fd
	}
	if _, err := unix.Seek(n.dirFD, offset, unix.SEEK_SET); err != nil {
		return nil, err
	}
	buf := make([]byte, max(min(size, 64<<10), 1024))
	l, err := unix.Getdents(n.dirFD, buf)
	if err != nil {
		return nil, err
	}
	var out []protocol.Dirent
	for b := buf[:l]; len(b) >= 19; {
		reclen := int(binary.LittleEndian.Uint16(b[16:]))
		if reclen < 19 || reclen > len(b) {
			return nil, unix.EIO
		}
		name := b[19:reclen]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		out = append(out, protocol.Dirent{
			Ino:  binary.LittleEndian.Uint64(b[0:]),
			Off:  int64(binary.LittleEndian.Uint64(b[8:])),
			Type: b[18],
			Name: string(name),
		})
		b = b[reclen:]
	}
	return out, nil
}

// StatFS implements protocol.Handler.StatFS.
func (h *handler) StatFS(hd protocol.Handle) (protocol.StatFS, error) {
	n, err := h.get(hd)
	if err != nil {
		return protocol.StatFS{}, err
	}
	var s unix.Statfs_t
	if err := unix.Fstatfs(n.fd, &s); err != nil {
		return protocol.StatFS{}, err
	}
	return protocol.StatFS{
		Type: uint64(s.Type), Bsize: uint64(s.Bsize), Blocks: s.Blocks, Bfree: s.Bfree, Bavail: s.Bavail,
		Files: s.Files, Ffree: s.Ffree, Namelen: uint64(s.Namelen), Frsize: uint64(s.Frsize),
	}, nil
}

// Close implements protocol.Handler.Close.
func (h *handler) Close(hs []protocol.Handle) {
	h.mu.Lock()
	var closing []*node
	for _, hd := range hs {
		if n, ok := h.nodes[hd]; ok {
			closing = append(closing, n)
			delete(h.nodes, hd)
		}
	}
	h.mu.Unlock()
	for _, n := range closing {
		n.dirMu.Lock()
		n.close()
		n.dirMu.Unlock()
	}
}
