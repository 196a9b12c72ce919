package control

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// frame is one received message: its payload and the descriptors that
// came with it. The receiver owns the files.
type frame struct {
	payload []byte
	files   []*os.File
}

func (f *frame) closeFiles() {
	for _, file := range f.files {
		file.Close()
	}
	f.files = nil
}

// errFraming marks errors after which the stream is out of step.
var errFraming = fmt.Errorf("%w: bad frame", ErrProtocol)

// readFrame reads one frame. Descriptors attached to the header are
// returned; descriptors attached anywhere else are dropped by the kernel
// (plain reads have no room for them). A clean EOF before a frame returns
// io.EOF.
func readFrame(c *net.UnixConn) (*frame, error) {
	var hdr [4]byte
	oob := make([]byte, unix.CmsgSpace((MaxFDs+1)*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(hdr[:], oob)
	f := &frame{}
	if oobn > 0 {
		files, perr := parseRights(oob[:oobn])
		f.files = files
		if perr != nil {
			f.closeFiles()
			return nil, fmt.Errorf("%w: %v", errFraming, perr)
		}
	}
	if err != nil {
		f.closeFiles()
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	if n == 0 {
		f.closeFiles()
		return nil, io.EOF
	}
	if flags&unix.MSG_CTRUNC != 0 || len(f.files) > MaxFDs {
		f.closeFiles()
		return nil, fmt.Errorf("%w: more than %d descriptors", errFraming, MaxFDs)
	}
	if n < len(hdr) {
		if _, err := io.ReadFull(c, hdr[n:]); err != nil {
			f.closeFiles()
			return nil, fmt.Errorf("%w: short header: %v", errFraming, err)
		}
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size == 0 || size > MaxMessage {
		f.closeFiles()
		return nil, fmt.Errorf("%w: length %d not in 1..%d", errFraming, size, MaxMessage)
	}
	f.payload = make([]byte, size)
	if _, err := io.ReadFull(c, f.payload); err != nil {
		f.closeFiles()
		return nil, fmt.Errorf("%w: short payload: %v", errFraming, err)
	}
	return f, nil
}

// parseRights extracts SCM_RIGHTS descriptors, closing any it cannot use.
func parseRights(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parsing control message: %w", err)
	}
	var files []*os.File
	var bad error
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			bad = fmt.Errorf("unexpected control message (level %d type %d)", m.Header.Level, m.Header.Type)
			continue
		}
		for _, fd := range fds {
			unix.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "fd "+strconv.Itoa(fd)))
		}
	}
	return files, bad
}

// writeFrame sends v as one frame with files attached to its header.
func writeFrame(c *net.UnixConn, v any, files []*os.File) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding message: %w", err)
	}
	if len(payload) > MaxMessage {
		return fmt.Errorf("%w: message of %d bytes exceeds %d", ErrInvalid, len(payload), MaxMessage)
	}
	if len(files) > MaxFDs {
		return fmt.Errorf("%w: %d descriptors exceed %d", ErrInvalid, len(files), MaxFDs)
	}
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	n, _, err := c.WriteMsgUnix(buf, oob, nil)
	if err != nil {
		return fmt.Errorf("sending message: %w", err)
	}
	// A stream socket may take part of a large frame; the descriptors went
	// with the first byte, the rest follows as plain data.
	if n < len(buf) {
		if _, err := c.Write(buf[n:]); err != nil {
			return fmt.Errorf("sending message: %w", err)
		}
	}
	return nil
}

// sunPathMax is the room in sockaddr_un.sun_path, less the final NUL.
const sunPathMax = 107

// shortPath makes a socket path usable with bind and connect even when it
// is longer than sun_path: it opens the directory and names the socket
// through /proc/self/fd. The caller closes dir (nil if not needed) after
// the bind or connect.
func shortPath(path string) (short string, dir *os.File, err error) {
	if len(path) <= sunPathMax {
		return path, nil, nil
	}
	d, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("opening socket directory: %w", err)
	}
	short = "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/" + filepath.Base(path)
	if len(short) > sunPathMax {
		d.Close()
		return "", nil, fmt.Errorf("socket name %q too long", filepath.Base(path))
	}
	return short, d, nil
}

// Listen creates the control socket at path and listens on it. The host
// side calls it before starting boot and passes the listener's File to
// boot, then closes its own copy; closing never unlinks the path.
func Listen(path string) (*net.UnixListener, error) {
	short, dir, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	if dir != nil {
		defer dir.Close()
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: short, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	return ln, nil
}

// FileListener turns an inherited listening descriptor (bootconfig
// BootFDs.Control) into a listener for Server.Serve. It takes ownership of
// f.
func FileListener(f *os.File) (*net.UnixListener, error) {
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("control socket is a %T, want a unix socket", ln)
	}
	ul.SetUnlinkOnClose(false)
	return ul, nil
}
