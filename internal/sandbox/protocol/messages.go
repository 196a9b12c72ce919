package protocol

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Version is the protocol version this package speaks.
const Version = 1

// MaxMessageSize bounds a packet, header included.
const MaxMessageSize = 128 << 10

// MaxWalk bounds the names of one Walk (EINVAL beyond), so its reply
// fits in a packet.
const MaxWalk = 256

// headerSize is the size of a packet's header.
const headerSize = 8

// MsgType identifies a message.
type MsgType uint8

// Message types. A reply has the request's type with ReplyBit set.
const (
	TypeVersion MsgType = iota + 1
	TypeAttach
	TypeWalk
	TypeStat
	TypeOpen
	TypeCreate
	TypeMkdir
	TypeMknod
	TypeSymlink
	TypeLink
	TypeUnlink
	TypeRename
	TypeReadlink
	TypeSetAttr
	TypeGetdents
	TypeStatFS
	TypeClose
	typeLast

	// TypeError is the reply to a request that failed: a 4-byte errno.
	TypeError MsgType = 0x7f
	// ReplyBit marks replies.
	ReplyBit MsgType = 0x80
)

var typeNames = [...]string{
	TypeVersion: "Version", TypeAttach: "Attach", TypeWalk: "Walk", TypeStat: "Stat",
	TypeOpen: "Open", TypeCreate: "Create", TypeMkdir: "Mkdir", TypeMknod: "Mknod",
	TypeSymlink: "Symlink", TypeLink: "Link", TypeUnlink: "Unlink", TypeRename: "Rename",
	TypeReadlink: "Readlink", TypeSetAttr: "SetAttr", TypeGetdents: "Getdents",
	TypeStatFS: "StatFS", TypeClose: "Close",
}

// String implements fmt.Stringer.
func (t MsgType) String() string {
	base := t &^ ReplyBit
	if base > 0 && base < typeLast {
		if t&ReplyBit != 0 {
			return typeNames[base] + "Reply"
		}
		return typeNames[base]
	}
	if t == TypeError {
		return "Error"
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Handle names a file the server keeps open for the client.
type Handle uint64

// Timespec is a time as seconds and nanoseconds since the epoch.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Stat is a file's attributes.
type Stat struct {
	Mode    uint32 // type and permission bits
	UID     uint32
	GID     uint32
	Nlink   uint32
	Blksize uint32
	Ino     uint64
	Dev     uint64
	Rdev    uint64
	Size    uint64
	Blocks  uint64
	Atime   Timespec
	Mtime   Timespec
	Ctime   Timespec
}

func (s *Stat) encode(e *encoder) {
	e.u32(s.Mode)
	e.u32(s.UID)
	e.u32(s.GID)
	e.u32(s.Nlink)
	e.u32(s.Blksize)
	e.u64(s.Ino)
	e.u64(s.Dev)
	e.u64(s.Rdev)
	e.u64(s.Size)
	e.u64(s.Blocks)
	for _, t := range []Timespec{s.Atime, s.Mtime, s.Ctime} {
		e.i64(t.Sec)
		e.i64(t.Nsec)
	}
}

func (s *Stat) decode(d *decoder) {
	s.Mode, s.UID, s.GID, s.Nlink, s.Blksize = d.u32(), d.u32(), d.u32(), d.u32(), d.u32()
	s.Ino, s.Dev, s.Rdev, s.Size, s.Blocks = d.u64(), d.u64(), d.u64(), d.u64(), d.u64()
	for _, t := range []*Timespec{&s.Atime, &s.Mtime, &s.Ctime} {
		t.Sec, t.Nsec = d.i64(), d.i64()
	}
}

// statSize is the encoded size of a Stat.
const statSize = 5*4 + 5*8 + 3*16

// Inode is a handle and its file's attributes.
type Inode struct {
	Handle Handle
	Stat   Stat
}

func (i *Inode) encode(e *encoder) {
	e.u64(uint64(i.Handle))
	i.Stat.encode(e)
}

func (i *Inode) decode(d *decoder) {
	i.Handle = Handle(d.u64())
	i.Stat.decode(d)
}

// SetAttr describes a change of attributes; Mask holds unix.STATX_MODE,
// STATX_UID, STATX_GID, STATX_SIZE, STATX_ATIME and STATX_MTIME bits.
type SetAttr struct {
	Mask  uint32
	Mode  uint32
	UID   uint32
	GID   uint32
	Size  uint64
	Atime Timespec
	Mtime Timespec
}

// Dirent is a directory entry.
type Dirent struct {
	Ino uint64
	// Off is the offset of the next entry (getdents64's d_off).
	Off  int64
	Type uint8
	Name string
}

// StatFS is a file system's statistics.
type StatFS struct {
	Type    uint64
	Bsize   uint64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Namelen uint64
	Frsize  uint64
}

// ValidName reports whether name is a single path component the protocol
// accepts: not empty, ".", "..", at most 255 bytes, without '/' or NUL.
func ValidName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= 255 &&
		!strings.ContainsAny(name, "/\x00")
}

// request is the body of a request: every field the server needs.
type request struct {
	Version uint16
	Handle  Handle
	Dir     Handle
	Name    string
	Names   []string
	Flags   uint32
	Mode    uint32
	UID     uint32
	GID     uint32
	Rdev    uint64
	Target  string
	Target2 Handle
	NewDir  Handle
	NewName string
	Attr    SetAttr
	Offset  int64
	Size    uint32
	Handles []Handle
}

// encodeRequest encodes the fields of r that requests of type t carry.
func encodeRequest(e *encoder, t MsgType, r *request) {
	switch t {
	case TypeVersion:
		e.u16(r.Version)
	case TypeAttach:
	case TypeWalk:
		e.u64(uint64(r.Dir))
		e.u32(uint32(len(r.Names)))
		for _, n := range r.Names {
			e.str(n)
		}
	case TypeStat, TypeReadlink, TypeStatFS:
		e.u64(uint64(r.Handle))
	case TypeOpen:
		e.u64(uint64(r.Handle))
		e.u32(r.Flags)
	case TypeCreate, TypeMkdir, TypeMknod, TypeSymlink:
		e.u64(uint64(r.Dir))
		e.str(r.Name)
		e.u32(r.Flags)
		e.u32(r.Mode)
		e.u32(r.UID)
		e.u32(r.GID)
		e.u64(r.Rdev)
		e.str(r.Target)
	case TypeLink:
		e.u64(uint64(r.Dir))
		e.str(r.Name)
		e.u64(uint64(r.Target2))
	case TypeUnlink:
		e.u64(uint64(r.Dir))
		e.str(r.Name)
		e.u32(r.Flags)
	case TypeRename:
		e.u64(uint64(r.Dir))
		e.str(r.Name)
		e.u64(uint64(r.NewDir))
		e.str(r.NewName)
		e.u32(r.Flags)
	case TypeSetAttr:
		e.u64(uint64(r.Handle))
		a := &r.Attr
		e.u32(a.Mask)
		e.u32(a.Mode)
		e.u32(a.UID)
		e.u32(a.GID)
		e.u64(a.Size)
		e.i64(a.Atime.Sec)
		e.i64(a.Atime.Nsec)
		e.i64(a.Mtime.Sec)
		e.i64(a.Mtime.Nsec)
	case TypeGetdents:
		e.u64(uint64(r.Handle))
		e.i64(r.Offset)
		e.u32(r.Size)
	case TypeClose:
		e.u32(uint32(len(r.Handles)))
		for _, h := range r.Handles {
			e.u64(uint64(h))
		}
	}
}

// decodeRequest decodes a request of type t, checking names.
func decodeRequest(t MsgType, b []byte) (*request, error) {
	d := &decoder{b: b}
	r := &request{}
	switch t {
	case TypeVersion:
		r.Version = d.u16()
	case TypeAttach:
	case TypeWalk:
		r.Dir = Handle(d.u64())
		n := d.count(2)
		for i := 0; i < n && d.err == nil; i++ {
			r.Names = append(r.Names, d.str())
		}
	case TypeStat, TypeReadlink, TypeStatFS:
		r.Handle = Handle(d.u64())
	case TypeOpen:
		r.Handle = Handle(d.u64())
		r.Flags = d.u32()
	case TypeCreate, TypeMkdir, TypeMknod, TypeSymlink:
		r.Dir = Handle(d.u64())
		r.Name = d.str()
		r.Flags, r.Mode, r.UID, r.GID = d.u32(), d.u32(), d.u32(), d.u32()
		r.Rdev = d.u64()
		r.Target = d.str()
	case TypeLink:
		r.Dir = Handle(d.u64())
		r.Name = d.str()
		r.Target2 = Handle(d.u64())
	case TypeUnlink:
		r.Dir = Handle(d.u64())
		r.Name = d.str()
		r.Flags = d.u32()
	case TypeRename:
		r.Dir = Handle(d.u64())
		r.Name = d.str()
		r.NewDir = Handle(d.u64())
		r.NewName = d.str()
		r.Flags = d.u32()
	case TypeSetAttr:
		r.Handle = Handle(d.u64())
		a := &r.Attr
		a.Mask, a.Mode, a.UID, a.GID = d.u32(), d.u32(), d.u32(), d.u32()
		a.Size = d.u64()
		a.Atime.Sec, a.Atime.Nsec = d.i64(), d.i64()
		a.Mtime.Sec, a.Mtime.Nsec = d.i64(), d.i64()
	case TypeGetdents:
		r.Handle = Handle(d.u64())
		r.Offset = d.i64()
		r.Size = d.u32()
	case TypeClose:
		n := d.count(8)
		for i := 0; i < n && d.err == nil; i++ {
			r.Handles = append(r.Handles, Handle(d.u64()))
		}
	default:
		return nil, fmt.Errorf("%w: unknown request type %d", ErrMalformed, t)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	// Names are checked here, once, so no handler can see a bad one.
	names := r.Names
	switch t {
	case TypeCreate, TypeMkdir, TypeMknod, TypeSymlink, TypeLink, TypeUnlink:
		names = []string{r.Name}
	case TypeRename:
		names = []string{r.Name, r.NewName}
	}
	for _, n := range names {
		if !ValidName(n) {
			return nil, unix.EINVAL
		}
	}
	return r, nil
}

// reply is the body of a reply.
type reply struct {
	Version uint16
	Inode   Inode
	Inodes  []Inode
	Stat    Stat
	Target  string
	Dirents []Dirent
	StatFS  StatFS
}

// encodeReply encodes the fields of r that replies to type t carry.
func encodeReply(e *encoder, t MsgType, r *reply) {
	switch t {
	case TypeVersion:
		e.u16(r.Version)
	case TypeAttach, TypeCreate, TypeMkdir, TypeMknod, TypeSymlink, TypeLink:
		r.Inode.encode(e)
	case TypeWalk:
		e.u32(uint32(len(r.Inodes)))
		for i := range r.Inodes {
			r.Inodes[i].encode(e)
		}
	case TypeStat, TypeSetAttr:
		r.Stat.encode(e)
	case TypeReadlink:
		e.str(r.Target)
	case TypeGetdents:
		e.u32(uint32(len(r.Dirents)))
		for _, de := range r.Dirents {
			e.u64(de.Ino)
			e.i64(de.Off)
			e.u8(de.Type)
			e.str(de.Name)
		}
	case TypeStatFS:
		s := &r.StatFS
		for _, v := range []uint64{s.Type, s.Bsize, s.Blocks, s.Bfree, s.Bavail, s.Files, s.Ffree, s.Namelen, s.Frsize} {
			e.u64(v)
		}
	}
}

// decodeReply decodes a reply to a request of type t.
func decodeReply(t MsgType, b []byte) (*reply, error) {
	d := &decoder{b: b}
	r := &reply{}
	switch t {
	case TypeVersion:
		r.Version = d.u16()
	case TypeAttach, TypeCreate, TypeMkdir, TypeMknod, TypeSymlink, TypeLink:
		r.Inode.decode(d)
	case TypeWalk:
		n := d.count(8 + statSize)
		r.Inodes = make([]Inode, n)
		for i := range r.Inodes {
			r.Inodes[i].decode(d)
		}
	case TypeStat, TypeSetAttr:
		r.Stat.decode(d)
	case TypeReadlink:
		r.Target = d.str()
	case TypeGetdents:
		n := d.count(8 + 8 + 1 + 2)
		r.Dirents = make([]Dirent, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			de := Dirent{Ino: d.u64(), Off: d.i64(), Type: d.u8(), Name: d.str()}
			r.Dirents = append(r.Dirents, de)
		}
	case TypeStatFS:
		s := &r.StatFS
		for _, p := range []*uint64{&s.Type, &s.Bsize, &s.Blocks, &s.Bfree, &s.Bavail, &s.Files, &s.Ffree, &s.Namelen, &s.Frsize} {
			*p = d.u64()
		}
	case TypeOpen, TypeUnlink, TypeRename, TypeClose:
	default:
		return nil, fmt.Errorf("%w: unknown reply type %d", ErrMalformed, t)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// expectsFD reports whether a successful reply to t carries a file
// descriptor.
func expectsFD(t MsgType) bool { return t == TypeOpen || t == TypeCreate }
