package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by calls on a closed or broken connection.
var ErrClosed = errors.New("gofer connection closed")

// Client is the Sentry's end of a connection. Its methods may be called
// concurrently; each waits for its reply. Errors are host errnos
// (unix.Errno) from the server, or ErrClosed / ErrMalformed (wrapped) if
// the connection broke.
type Client struct {
	conn    *net.UnixConn
	logger  *slog.Logger
	version uint16

	writeMu sync.Mutex

	mu sync.Mutex
	// pending, nextTag and err are guarded by mu.
	pending map[uint32]chan packet
	nextTag uint32
	err     error

	done chan struct{}
}

// NewClient starts a client on conn (see FileConn) and agrees on a
// version with the server. The client owns conn; Close releases it and
// stops the goroutine reading replies.
func NewClient(ctx context.Context, conn *net.UnixConn, logger *slog.Logger) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{conn: conn, logger: logger, pending: make(map[uint32]chan packet), done: make(chan struct{})}
	go c.readLoop()
	r, _, err := c.call(ctx, TypeVersion, &request{Version: Version})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("negotiating the gofer protocol version: %w", err)
	}
	if r.Version == 0 || r.Version > Version {
		c.Close()
		return nil, fmt.Errorf("negotiating the gofer protocol version: server chose %d, we speak up to %d", r.Version, Version)
	}
	c.version = r.Version
	return c, nil
}

// Close shuts the connection down, fails the calls in flight with
// ErrClosed and waits for the reader to stop.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	err := c.conn.Close()
	<-c.done
	return err
}

// fail marks the connection broken and wakes every waiting call.
func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
	for tag, ch := range c.pending {
		close(ch)
		delete(c.pending, tag)
	}
}

func (c *Client) readLoop() {
	defer close(c.done)
	buf := make([]byte, MaxMessageSize)
	oob := make([]byte, oobSize())
	for {
		p, err := readPacket(c.conn, buf, oob)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.logger.Debug("gofer connection broken", "err", err)
			}
			if errors.Is(err, ErrMalformed) {
				err = fmt.Errorf("gofer sent a bad reply: %w", err)
			} else {
				err = ErrClosed
			}
			c.fail(err)
			return
		}
		c.mu.Lock()
		ch, ok := c.pending[p.tag]
		delete(c.pending, p.tag)
		c.mu.Unlock()
		if !ok {
			c.logger.Debug("gofer reply for no request", "tag", p.tag, "type", p.typ)
			if p.fd >= 0 {
				unix.Close(p.fd)
			}
			continue
		}
		ch <- p
	}
}

// call sends a request and waits for its reply. A returned descriptor is
// the caller's to close.
func (c *Client) call(ctx context.Context, t MsgType, req *request) (*reply, int, error) {
	ch := make(chan packet, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, -1, err
	}
	c.nextTag++
	tag := c.nextTag
	c.pending[tag] = ch
	c.mu.Unlock()

	e := &encoder{b: make([]byte, headerSize, 64)}
	putHeader(e.b, t, tag)
	encodeRequest(e, t, req)
	c.writeMu.Lock()
	err := writePacket(c.conn, e.b, -1)
	c.writeMu.Unlock()
	if err != nil {
		c.mu.Lock()
		delete(c.pending, tag)
		c.mu.Unlock()
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, net.ErrClosed) {
			c.fail(ErrClosed)
			return nil, -1, ErrClosed
		}
		return nil, -1, fmt.Errorf("sending %v: %w", t, err)
	}

	var p packet
	var ok bool
	select {
	case p, ok = <-ch:
	case <-ctx.Done():
		c.mu.Lock()
		_, still := c.pending[tag]
		delete(c.pending, tag)
		c.mu.Unlock()
		if !still {
			// The reader took the reply already: it is on its way; drop it
			// and its descriptor.
			if p, ok := <-ch; ok && p.fd >= 0 {
				unix.Close(p.fd)
			}
		}
		return nil, -1, ctx.Err()
	}
	if !ok {
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return nil, -1, err
	}
	closeFD := func() {
		if p.fd >= 0 {
			unix.Close(p.fd)
		}
	}
	if p.typ == TypeError {
		closeFD()
		d := &decoder{b: p.payload}
		errno := d.u32()
		if err := d.finish(); err != nil || errno == 0 {
			return nil, -1, fmt.Errorf("gofer sent a bad error reply to %v: %w", t, ErrMalformed)
		}
		return nil, -1, unix.Errno(errno)
	}
	if p.typ != t|ReplyBit {
		closeFD()
		return nil, -1, fmt.Errorf("gofer answered %v with %v: %w", t, p.typ, ErrMalformed)
	}
	r, err := decodeReply(t, p.payload)
	if err != nil {
		closeFD()
		return nil, -1, fmt.Errorf("decoding the reply to %v: %w", t, err)
	}
	if expectsFD(t) != (p.fd >= 0) {
		closeFD()
		return nil, -1, fmt.Errorf("gofer's reply to %v has the wrong descriptors: %w", t, ErrMalformed)
	}
	return r, p.fd, nil
}

func checkName(name string) error {
	if !ValidName(name) {
		return unix.EINVAL
	}
	return nil
}

// Attach returns the root of the server's tree.
func (c *Client) Attach(ctx context.Context) (Inode, error) {
	r, _, err := c.call(ctx, TypeAttach, &request{})
	if err != nil {
		return Inode{}, err
	}
	return r.Inode, nil
}

// Walk walks names from dir, returning an Inode for each name walked (see
// the package doc: it may stop early).
func (c *Client) Walk(ctx context.Context, dir Handle, names []string) ([]Inode, error) {
	if len(names) > MaxWalk {
		return nil, unix.EINVAL
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return nil, err
		}
	}
	r, _, err := c.call(ctx, TypeWalk, &request{Dir: dir, Names: names})
	if err != nil {
		return nil, err
	}
	if len(r.Inodes) > len(names) {
		return nil, fmt.Errorf("gofer walked %d names of %d: %w", len(r.Inodes), len(names), ErrMalformed)
	}
	return r.Inodes, nil
}

// Stat returns h's attributes.
func (c *Client) Stat(ctx context.Context, h Handle) (Stat, error) {
	r, _, err := c.call(ctx, TypeStat, &request{Handle: h})
	if err != nil {
		return Stat{}, err
	}
	return r.Stat, nil
}

// Open returns a host descriptor of h opened with flags; the caller owns it.
func (c *Client) Open(ctx context.Context, h Handle, flags uint32) (int, error) {
	_, fd, err := c.call(ctx, TypeOpen, &request{Handle: h, Flags: flags})
	return fd, err
}

// Create makes a regular file and returns it with an open host descriptor.
func (c *Client) Create(ctx context.Context, dir Handle, name string, flags, mode, uid, gid uint32) (Inode, int, error) {
	if err := checkName(name); err != nil {
		return Inode{}, -1, err
	}
	r, fd, err := c.call(ctx, TypeCreate, &request{Dir: dir, Name: name, Flags: flags, Mode: mode, UID: uid, GID: gid})
	if err != nil {
		return Inode{}, -1, err
	}
	return r.Inode, fd, nil
}

func (c *Client) make(ctx context.Context, t MsgType, req *request) (Inode, error) {
	if err := checkName(req.Name); err != nil {
		return Inode{}, err
	}
	r, _, err := c.call(ctx, t, req)
	if err != nil {
		return Inode{}, err
	}
	return r.Inode, nil
}

// Mkdir makes a directory.
func (c *Client) Mkdir(ctx context.Context, dir Handle, name string, mode, uid, gid uint32) (Inode, error) {
	return c.make(ctx, TypeMkdir, &request{Dir: dir, Name: name, Mode: mode, UID: uid, GID: gid})
}

// Mknod makes a regular file, FIFO or socket file (mode holds the type).
func (c *Client) Mknod(ctx context.Context, dir Handle, name string, mode uint32, rdev uint64, uid, gid uint32) (Inode, error) {
	return c.make(ctx, TypeMknod, &request{Dir: dir, Name: name, Mode: mode, Rdev: rdev, UID: uid, GID: gid})
}

// Symlink makes a symbolic link to target.
func (c *Client) Symlink(ctx context.Context, dir Handle, name, target string, uid, gid uint32) (Inode, error) {
	return c.make(ctx, TypeSymlink, &request{Dir: dir, Name: name, Target: target, UID: uid, GID: gid})
}

// Link makes name in dir a hard link to target.
func (c *Client) Link(ctx context.Context, dir Handle, name string, target Handle) (Inode, error) {
	return c.make(ctx, TypeLink, &request{Dir: dir, Name: name, Target2: target})
}

// Unlink removes name from dir; flags may hold unix.AT_REMOVEDIR.
func (c *Client) Unlink(ctx context.Context, dir Handle, name string, flags uint32) error {
	if err := checkName(name); err != nil {
		return err
	}
	_, _, err := c.call(ctx, TypeUnlink, &request{Dir: dir, Name: name, Flags: flags})
	return err
}

// Rename renames oldName in oldDir to newName in newDir (renameat2 flags).
func (c *Client) Rename(ctx context.Context, oldDir Handle, oldName string, newDir Handle, newName string, flags uint32) error {
	if err := checkName(oldName); err != nil {
		return err
	}
	if err := checkName(newName); err != nil {
		return err
	}
	_, _, err := c.call(ctx, TypeRename, &request{Dir: oldDir, Name: oldName, NewDir: newDir, NewName: newName, Flags: flags})
	return err
}

// Readlink returns a symbolic link's target.
func (c *Client) Readlink(ctx context.Context, h Handle) (string, error) {
	r, _, err := c.call(ctx, TypeReadlink, &request{Handle: h})
	if err != nil {
		return "", err
	}
	return r.Target, nil
}

// SetAttr changes h's attributes and returns them.
func (c *Client) SetAttr(ctx context.Context, h Handle, attr SetAttr) (Stat, error) {
	r, _, err := c.call(ctx, TypeSetAttr, &request{Handle: h, Attr: attr})
	if err != nil {
		return Stat{}, err
	}
	return r.Stat, nil
}

// Getdents lists the directory h from offset (0 for the start), at most
// about size bytes of names; an empty result means the end.
func (c *Client) Getdents(ctx context.Context, h Handle, offset int64, size uint32) ([]Dirent, error) {
	r, _, err := c.call(ctx, TypeGetdents, &request{Handle: h, Offset: offset, Size: size})
	if err != nil {
		return nil, err
	}
	return r.Dirents, nil
}

// StatFS returns the statistics of h's file system.
func (c *Client) StatFS(ctx context.Context, h Handle) (StatFS, error) {
	r, _, err := c.call(ctx, TypeStatFS, &request{Handle: h})
	if err != nil {
		return StatFS{}, err
	}
	return r.StatFS, nil
}

// maxCloseBatch bounds the handles of one Close message.
const maxCloseBatch = 4096

// CloseHandles releases handles.
func (c *Client) CloseHandles(ctx context.Context, hs ...Handle) error {
	for len(hs) > 0 {
		n := min(len(hs), maxCloseBatch)
		if _, _, err := c.call(ctx, TypeClose, &request{Handles: hs[:n]}); err != nil {
			return err
		}
		hs = hs[n:]
	}
	return nil
}
