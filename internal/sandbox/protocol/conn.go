package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// NewSocketPair returns the two ends of a new connection: a unix
// SOCK_SEQPACKET socket pair, close-on-exec. The host side passes one end
// to the Gofer process and the other to the Sentry.
func NewSocketPair() (sentry, gofer *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating a gofer socket pair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "gofer-client"), os.NewFile(uintptr(fds[1]), "gofer-server"), nil
}

// FileConn returns a connection over f, a SOCK_SEQPACKET unix socket,
// taking over f (which is closed). Reads and writes go through Go's
// network poller; received descriptors are close-on-exec.
func FileConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("using %s as a connection: %w", f.Name(), err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("using %s as a connection: not a unix socket", f.Name())
	}
	return uc, nil
}

// packet is one received message.
type packet struct {
	typ     MsgType
	tag     uint32
	payload []byte
	// fd is a donated file descriptor, or -1.
	fd int
}

func putHeader(b []byte, t MsgType, tag uint32) {
	b[0] = byte(t)
	b[1], b[2], b[3] = 0, 0, 0
	binary.LittleEndian.PutUint32(b[4:], tag)
}

// writePacket sends one packet, donating fd if it is not -1.
func writePacket(c *net.UnixConn, b []byte, fd int) error {
	if len(b) > MaxMessageSize {
		return fmt.Errorf("sending a %d-byte message: larger than %d", len(b), MaxMessageSize)
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	n, oobn, err := c.WriteMsgUnix(b, oob, nil)
	if err != nil {
		return err
	}
	if n != len(b) || oobn != len(oob) {
		return fmt.Errorf("sending a message: short write of %d of %d bytes", n, len(b))
	}
	return nil
}

// errTruncated is returned for packets longer than MaxMessageSize.
var errTruncated = errors.New("message larger than the maximum size")

// readPacket receives one packet. A packet with descriptors beyond the
// first has the extra ones closed; a malformed packet is an error wrapping
// ErrMalformed (its descriptor closed).
func readPacket(c *net.UnixConn, buf, oob []byte) (packet, error) {
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if errors.Is(err, io.EOF) {
		err = net.ErrClosed
	}
	if err != nil {
		return packet{}, err
	}
	p := packet{fd: -1}
	if oobn > 0 {
		fds := parseRights(oob[:oobn])
		if len(fds) > 0 {
			p.fd = fds[0]
			for _, fd := range fds[1:] {
				unix.Close(fd)
			}
		}
	}
	fail := func(e error) (packet, error) {
		if p.fd >= 0 {
			unix.Close(p.fd)
		}
		return packet{}, e
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return fail(fmt.Errorf("%w: %w", ErrMalformed, errTruncated))
	}
	if n == 0 {
		// A zero-length packet is how SOCK_SEQPACKET reports the peer's
		// shutdown.
		return fail(net.ErrClosed)
	}
	if n < headerSize {
		return fail(fmt.Errorf("%w: %d-byte packet", ErrMalformed, n))
	}
	if buf[1] != 0 || buf[2] != 0 || buf[3] != 0 {
		return fail(fmt.Errorf("%w: reserved header bytes set", ErrMalformed))
	}
	p.typ = MsgType(buf[0])
	p.tag = binary.LittleEndian.Uint32(buf[4:])
	p.payload = append([]byte(nil), buf[headerSize:n]...)
	return p, nil
}

// parseRights returns the descriptors of SCM_RIGHTS messages in oob.
func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if r, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

// oobSize returns the control buffer size for a packet: room for a few
// descriptors, so extra ones are received (and closed) rather than leaked
// by truncation.
func oobSize() int { return unix.CmsgSpace(4 * 4) }
