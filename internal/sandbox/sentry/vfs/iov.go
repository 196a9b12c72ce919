package vfs

import (
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Dst is where a read puts its data: application memory (the kernel
// implements it over the task's address space, translating iovecs) or a
// kernel buffer (BytesDst). A Dst is consumed as it is filled. Methods are
// called by one goroutine at a time.
type Dst interface {
	// NumBytes returns how many bytes remain to be filled.
	NumBytes() int64
	// CopyOut copies up to NumBytes of src to the destination and advances
	// it. It returns how many bytes it copied and, if that is less than
	// min(len(src), NumBytes), EFAULT.
	CopyOut(src []byte) (int, error)
	// CopyOutFrom calls readv with buffers that alias (or stand in for) the
	// next bytes of the destination, at most NumBytes in total, then
	// advances by what readv returned. It lets a host read land directly in
	// application memory. readv's error is returned as is, with the count
	// it returned.
	CopyOutFrom(readv func(bufs [][]byte) (int, error)) (int, error)
}

// Src is where a write takes its data from; it mirrors Dst.
type Src interface {
	// NumBytes returns how many bytes remain to be consumed.
	NumBytes() int64
	// CopyIn copies up to NumBytes of the source into dst and advances it.
	// It returns how many bytes it copied and, if that is less than
	// min(len(dst), NumBytes), EFAULT.
	CopyIn(dst []byte) (int, error)
	// CopyInTo calls writev with buffers holding the next bytes of the
	// source, at most NumBytes in total, then advances by what writev
	// returned.
	CopyInTo(writev func(bufs [][]byte) (int, error)) (int, error)
}

// BytesDst is a Dst over a byte slice, for reads into kernel memory.
type BytesDst struct {
	// Buf is the unfilled rest of the destination.
	Buf []byte
}

// NumBytes implements Dst.NumBytes.
func (b *BytesDst) NumBytes() int64 { return int64(len(b.Buf)) }

// CopyOut implements Dst.CopyOut.
func (b *BytesDst) CopyOut(src []byte) (int, error) {
	n := copy(b.Buf, src)
	b.Buf = b.Buf[n:]
	return n, nil
}

// CopyOutFrom implements Dst.CopyOutFrom.
func (b *BytesDst) CopyOutFrom(readv func(bufs [][]byte) (int, error)) (int, error) {
	if len(b.Buf) == 0 {
		return 0, nil
	}
	n, err := readv([][]byte{b.Buf})
	if n < 0 {
		n = 0
	}
	b.Buf = b.Buf[n:]
	return n, err
}

// BytesSrc is a Src over a byte slice, for writes from kernel memory.
type BytesSrc struct {
	// Buf is the unconsumed rest of the source.
	Buf []byte
}

// NumBytes implements Src.NumBytes.
func (b *BytesSrc) NumBytes() int64 { return int64(len(b.Buf)) }

// CopyIn implements Src.CopyIn.
func (b *BytesSrc) CopyIn(dst []byte) (int, error) {
	n := copy(dst, b.Buf)
	b.Buf = b.Buf[n:]
	return n, nil
}

// CopyInTo implements Src.CopyInTo.
func (b *BytesSrc) CopyInTo(writev func(bufs [][]byte) (int, error)) (int, error) {
	if len(b.Buf) == 0 {
		return 0, nil
	}
	n, err := writev([][]byte{b.Buf})
	if n < 0 {
		n = 0
	}
	b.Buf = b.Buf[n:]
	return n, err
}

// UserMemory gives ioctl handlers access to the caller's memory. The kernel
// implements it over the calling task's address space.
type UserMemory interface {
	// CopyIn copies len(dst) bytes from addr; it returns EFAULT (with the
	// count copied) if the range is not readable.
	CopyIn(addr uintptr, dst []byte) (int, error)
	// CopyOut copies src to addr; it returns EFAULT (with the count copied)
	// if the range is not writable.
	CopyOut(addr uintptr, src []byte) (int, error)
}

// LimitedDst returns a Dst that gives at most n bytes of dst. Reads use it
// to stop at a file's end without a bounce buffer.
func LimitedDst(dst Dst, n int64) Dst {
	if n >= dst.NumBytes() {
		return dst
	}
	return &limitedDst{dst: dst, left: n}
}

type limitedDst struct {
	dst  Dst
	left int64
}

func (l *limitedDst) NumBytes() int64 { return l.left }

func (l *limitedDst) CopyOut(src []byte) (int, error) {
	if int64(len(src)) > l.left {
		src = src[:l.left]
	}
	n, err := l.dst.CopyOut(src)
	l.left -= int64(n)
	return n, err
}

func (l *limitedDst) CopyOutFrom(readv func(bufs [][]byte) (int, error)) (int, error) {
	n, err := l.dst.CopyOutFrom(func(bufs [][]byte) (int, error) {
		return readv(truncateBufs(bufs, l.left))
	})
	l.left -= int64(n)
	return n, err
}

// LimitedSrc returns a Src that gives at most n bytes of src.
func LimitedSrc(src Src, n int64) Src {
	if n >= src.NumBytes() {
		return src
	}
	return &limitedSrc{src: src, left: n}
}

type limitedSrc struct {
	src  Src
	left int64
}

func (l *limitedSrc) NumBytes() int64 { return l.left }

func (l *limitedSrc) CopyIn(dst []byte) (int, error) {
	if int64(len(dst)) > l.left {
		dst = dst[:l.left]
	}
	n, err := l.src.CopyIn(dst)
	l.left -= int64(n)
	return n, err
}

func (l *limitedSrc) CopyInTo(writev func(bufs [][]byte) (int, error)) (int, error) {
	n, err := l.src.CopyInTo(func(bufs [][]byte) (int, error) {
		return writev(truncateBufs(bufs, l.left))
	})
	l.left -= int64(n)
	return n, err
}

// truncateBufs returns the prefix of bufs holding at most n bytes.
func truncateBufs(bufs [][]byte, n int64) [][]byte {
	var out [][]byte
	for _, b := range bufs {
		if n <= 0 {
			break
		}
		if int64(len(b)) > n {
			b = b[:n]
		}
		out = append(out, b)
		n -= int64(len(b))
	}
	return out
}

// HostReadv adapts a host file descriptor to Dst.CopyOutFrom: it reads at
// offset (or at the host file's offset if offset is -1), retrying on EINTR.
func HostReadv(fd int, offset int64) func(bufs [][]byte) (int, error) {
	return func(bufs [][]byte) (int, error) {
		for {
			var n int
			var err error
			if offset < 0 {
				n, err = unix.Readv(fd, bufs)
			} else {
				n, err = unix.Preadv(fd, bufs, offset)
			}
			if err == unix.EINTR {
				continue
			}
			if n < 0 {
				n = 0
			}
			return n, abi.FromHost(err)
		}
	}
}

// HostWritev adapts a host file descriptor to Src.CopyInTo, like HostReadv.
func HostWritev(fd int, offset int64) func(bufs [][]byte) (int, error) {
	return func(bufs [][]byte) (int, error) {
		for {
			var n int
			var err error
			if offset < 0 {
				n, err = unix.Writev(fd, bufs)
			} else {
				n, err = unix.Pwritev(fd, bufs, offset)
			}
			if err == unix.EINTR {
				continue
			}
			if n < 0 {
				n = 0
			}
			return n, abi.FromHost(err)
		}
	}
}
