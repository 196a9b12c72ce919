package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Handler serves the requests of one connection: the Gofer implements it.
// Methods are called concurrently. Errors should be unix.Errno values;
// any other error is answered EIO (and logged). Names were checked with
// ValidName before a method is called; handles were not.
type Handler interface {
	Attach() (Inode, error)
	Walk(dir Handle, names []string) ([]Inode, error)
	Stat(h Handle) (Stat, error)
	// Open returns a descriptor that Serve donates, then closes.
	Open(h Handle, flags uint32) (int, error)
	// Create returns the new file and a descriptor that Serve donates,
	// then closes.
	Create(dir Handle, name string, flags, mode, uid, gid uint32) (Inode, int, error)
	Mkdir(dir Handle, name string, mode, uid, gid uint32) (Inode, error)
	Mknod(dir Handle, name string, mode uint32, rdev uint64, uid, gid uint32) (Inode, error)
	Symlink(dir Handle, name, target string, uid, gid uint32) (Inode, error)
	Link(dir Handle, name string, target Handle) (Inode, error)
	Unlink(dir Handle, name string, flags uint32) error
	Rename(oldDir Handle, oldName string, newDir Handle, newName string, flags uint32) error
	Readlink(h Handle) (string, error)
	SetAttr(h Handle, attr SetAttr) (Stat, error)
	Getdents(h Handle, offset int64, size uint32) ([]Dirent, error)
	StatFS(h Handle) (StatFS, error)
	// Close releases handles; unknown ones are ignored.
	Close(hs []Handle)
}

// ServeOptions tune Serve.
type ServeOptions struct {
	// Logger receives connection-level events; nothing per request.
	Logger *slog.Logger
	// MaxInFlight bounds the requests handled at once (16 if zero).
	MaxInFlight int
}

// Serve answers requests on conn with h until the client closes the
// connection (then it returns nil) or ctx is done. It decodes hostile
// input without panicking: a malformed packet ends the connection with an
// error. Serve closes conn and waits for every handler call to return.
func Serve(ctx context.Context, conn *net.UnixConn, h Handler, opts ServeOptions) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxInFlight := opts.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = 16
	}
	s := &server{conn: conn, h: h, logger: logger, sem: make(chan struct{}, maxInFlight)}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	err := s.loop()
	s.wg.Wait()
	conn.Close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

type server struct {
	conn   *net.UnixConn
	h      Handler
	logger *slog.Logger
	sem    chan struct{}
	wg     sync.WaitGroup

	writeMu sync.Mutex
}

func (s *server) loop() error {
	buf := make([]byte, MaxMessageSize)
	oob := make([]byte, oobSize())
	versioned := false
	for {
		p, err := readPacket(s.conn, buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading a gofer request: %w", err)
		}
		if p.fd >= 0 {
			// Clients never donate descriptors.
			unix.Close(p.fd)
			return fmt.Errorf("reading a gofer request: %w: a descriptor was sent", ErrMalformed)
		}
		if !versioned {
			if p.typ != TypeVersion {
				return fmt.Errorf("%w: first request is %v, not Version", ErrMalformed, p.typ)
			}
			r, err := decodeRequest(p.typ, p.payload)
			if err != nil || r.Version == 0 {
				return fmt.Errorf("%w: bad Version request", ErrMalformed)
			}
			if err := s.reply(p.tag, TypeVersion, &reply{Version: min(r.Version, Version)}, -1); err != nil {
				return err
			}
			versioned = true
			continue
		}
		if p.typ == TypeVersion || p.typ == 0 || p.typ >= typeLast {
			return fmt.Errorf("%w: request type %v", ErrMalformed, p.typ)
		}
		req, err := decodeRequest(p.typ, p.payload)
		if err != nil {
			var errno unix.Errno
			if errors.As(err, &errno) {
				// A well-formed request with a bad name.
				if err := s.replyError(p.tag, errno); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("decoding a %v request: %w", p.typ, err)
		}
		s.sem <- struct{}{}
		s.wg.Add(1)
		go func(t MsgType, tag uint32, req *request) {
			defer func() {
				<-s.sem
				s.wg.Done()
			}()
			if err := s.handle(t, tag, req); err != nil {
				s.logger.Debug("gofer reply not sent", "err", err)
			}
		}(p.typ, p.tag, req)
	}
}

// handle runs one request and sends its reply.
func (s *server) handle(t MsgType, tag uint32, r *request) error {
	h := s.h
	out := &reply{}
	fd := -1
	var err error
	switch t {
	case TypeAttach:
		out.Inode, err = h.Attach()
	case TypeWalk:
		if len(r.Names) > MaxWalk {
			err = unix.EINVAL
			break
		}
		out.Inodes, err = h.Walk(r.Dir, r.Names)
	case TypeStat:
		out.Stat, err = h.Stat(r.Handle)
	case TypeOpen:
		fd, err = h.Open(r.Handle, r.Flags)
	case TypeCreate:
		out.Inode, fd, err = h.Create(r.Dir, r.Name, r.Flags, r.Mode, r.UID, r.GID)
	case TypeMkdir:
		out.Inode, err = h.Mkdir(r.Dir, r.Name, r.Mode, r.UID, r.GID)
	case TypeMknod:
		out.Inode, err = h.Mknod(r.Dir, r.Name, r.Mode, r.Rdev, r.UID, r.GID)
	case TypeSymlink:
		out.Inode, err = h.Symlink(r.Dir, r.Name, r.Target, r.UID, r.GID)
	case TypeLink:
		out.Inode, err = h.Link(r.Dir, r.Name, r.Target2)
	case TypeUnlink:
		err = h.Unlink(r.Dir, r.Name, r.Flags)
	case TypeRename:
		err = h.Rename(r.Dir, r.Name, r.NewDir, r.NewName, r.Flags)
	case TypeReadlink:
		out.Target, err = h.Readlink(r.Handle)
	case TypeSetAttr:
		out.Stat, err = h.SetAttr(r.Handle, r.Attr)
	case TypeGetdents:
		if r.Offset < 0 {
			err = unix.EINVAL
			break
		}
		out.Dirents, err = h.Getdents(r.Handle, r.Offset, min(r.Size, MaxMessageSize/2))
	case TypeStatFS:
		out.StatFS, err = h.StatFS(r.Handle)
	case TypeClose:
		h.Close(r.Handles)
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		var errno unix.Errno
		if !errors.As(err, &errno) || errno == 0 {
			s.logger.Error("gofer request failed", "type", t, "err", err)
			errno = unix.EIO
		}
		return s.replyError(tag, errno)
	}
	if expectsFD(t) {
		defer unix.Close(fd)
	}
	return s.reply(tag, t, out, fd)
}

func (s *server) reply(tag uint32, t MsgType, r *reply, fd int) error {
	e := &encoder{b: make([]byte, headerSize, 256)}
	putHeader(e.b, t|ReplyBit, tag)
	encodeReply(e, t, r)
	if len(e.b) > MaxMessageSize {
		return s.replyError(tag, unix.ENOMEM)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return writePacket(s.conn, e.b, fd)
}

func (s *server) replyError(tag uint32, errno unix.Errno) error {
	e := &encoder{b: make([]byte, headerSize, headerSize+4)}
	putHeader(e.b, TypeError, tag)
	e.u32(uint32(errno))
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return writePacket(s.conn, e.b, -1)
}
