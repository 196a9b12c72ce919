package linux

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// maxRWCount bounds one read or write (Linux's MAX_RW_COUNT).
const maxRWCount = 0x7ffff000

// ioSeq is application memory described by iovecs, as a vfs.Dst (reads)
// or vfs.Src (writes). It is consumed as data moves.
type ioSeq struct {
	t    *kernel.Task
	m    *mm.MemoryManager
	iovs []abi.Iovec
	left int64
}

var (
	_ vfs.Dst = (*ioSeq)(nil)
	_ vfs.Src = (*ioSeq)(nil)
)

// singleIO is the sequence of one buffer.
func singleIO(t *kernel.Task, addr, n uint64) (*ioSeq, error) {
	if int64(n) < 0 {
		return nil, abi.EINVAL
	}
	if n > maxRWCount {
		n = maxRWCount
	}
	if addr+n < addr {
		return nil, abi.EFAULT
	}
	return &ioSeq{t: t, m: t.MemoryManager(), iovs: []abi.Iovec{{Base: addr, Len: n}}, left: int64(n)}, nil
}

// iovecIO reads an iovec array and returns its sequence.
func iovecIO(t *kernel.Task, addr uint64, count int32) (*ioSeq, error) {
	if count < 0 || count > abi.UIO_MAXIOV {
		return nil, abi.EINVAL
	}
	iovs := make([]abi.Iovec, count)
	if count > 0 {
		if _, err := t.MemoryManager().CopyIn(t, addr, abi.SliceAsBytes(iovs)); err != nil {
			return nil, abi.EFAULT
		}
	}
	var total int64
	out := iovs[:0]
	for _, iov := range iovs {
		if int64(iov.Len) < 0 {
			return nil, abi.EINVAL
		}
		if total+int64(iov.Len) > maxRWCount {
			iov.Len = uint64(maxRWCount - total)
		}
		total += int64(iov.Len)
		if iov.Len > 0 {
			out = append(out, iov)
		}
	}
	return &ioSeq{t: t, m: t.MemoryManager(), iovs: out, left: total}, nil
}

// NumBytes implements vfs.Dst.NumBytes and vfs.Src.NumBytes.
func (s *ioSeq) NumBytes() int64 { return s.left }

func (s *ioSeq) advance(n uint64) {
	s.left -= int64(n)
	for n > 0 && len(s.iovs) > 0 {
		if n < s.iovs[0].Len {
			s.iovs[0].Base += n
			s.iovs[0].Len -= n
			return
		}
		n -= s.iovs[0].Len
		s.iovs = s.iovs[1:]
	}
}

// CopyOut implements vfs.Dst.CopyOut.
func (s *ioSeq) CopyOut(src []byte) (int, error) {
	done := 0
	for len(src) > 0 && len(s.iovs) > 0 {
		iov := s.iovs[0]
		n := uint64(len(src))
		if n > iov.Len {
			n = iov.Len
		}
		c, err := s.m.CopyOut(s.t, iov.Base, src[:n])
		s.advance(uint64(c))
		done += c
		src = src[c:]
		if err != nil {
			return done, abi.EFAULT
		}
	}
	return done, nil
}

// CopyIn implements vfs.Src.CopyIn.
func (s *ioSeq) CopyIn(dst []byte) (int, error) {
	done := 0
	for len(dst) > 0 && len(s.iovs) > 0 {
		iov := s.iovs[0]
		n := uint64(len(dst))
		if n > iov.Len {
			n = iov.Len
		}
		c, err := s.m.CopyIn(s.t, iov.Base, dst[:n])
		s.advance(uint64(c))
		done += c
		dst = dst[c:]
		if err != nil {
			return done, abi.EFAULT
		}
	}
	return done, nil
}

// pinLimit bounds the memory pinned for one direct transfer.
const pinLimit = 4 << 20

// pin pins the next bytes of the sequence (at most pinLimit) and returns
// buffers aliasing them.
func (s *ioSeq) pin(at memmap.AccessType) ([][]byte, []memmap.FileRange, error) {
	var bufs [][]byte
	var all []memmap.FileRange
	var total uint64
	for _, iov := range s.iovs {
		n := iov.Len
		if total+n > pinLimit {
			n = pinLimit - total
		}
		frs, err := s.m.Pin(s.t, iov.Base, n, at)
		for _, fr := range frs {
			bufs = append(bufs, s.m.Bytes(fr))
			total += fr.Length()
		}
		all = append(all, frs...)
		if err != nil {
			if len(bufs) == 0 {
				return nil, nil, abi.EFAULT
			}
			break
		}
		if total >= pinLimit {
			break
		}
	}
	return bufs, all, nil
}

// CopyOutFrom implements vfs.Dst.CopyOutFrom: readv fills pinned
// application memory directly.
func (s *ioSeq) CopyOutFrom(readv func(bufs [][]byte) (int, error)) (int, error) {
	if s.left == 0 {
		return 0, nil
	}
	bufs, frs, err := s.pin(memmap.Write)
	if err != nil {
		return 0, err
	}
	n, rerr := readv(bufs)
	s.m.Unpin(frs)
	if n > 0 {
		s.advance(uint64(n))
	}
	return n, rerr
}

// CopyInTo implements vfs.Src.CopyInTo.
func (s *ioSeq) CopyInTo(writev func(bufs [][]byte) (int, error)) (int, error) {
	if s.left == 0 {
		return 0, nil
	}
	bufs, frs, err := s.pin(memmap.Read)
	if err != nil {
		return 0, err
	}
	n, werr := writev(bufs)
	s.m.Unpin(frs)
	if n > 0 {
		s.advance(uint64(n))
	}
	return n, werr
}

// blockingIO runs op until it does not return EAGAIN, waiting for events
// on f in between (unless f is non-blocking). Bytes moved before an
// interruption are returned without error.
func blockingIO(t *kernel.Task, f *vfs.FileDescription, events vfs.EventMask, op func() (int64, error)) (int64, error) {
	n, err := op()
	if err != abi.EAGAIN || f.StatusFlags()&abi.O_NONBLOCK != 0 {
		if err == abi.EAGAIN && n > 0 {
			return n, nil
		}
		return n, err
	}
	entry, ch := vfs.NewChannelEntry(events)
	if rerr := f.EventRegister(entry); rerr != nil {
		return n, err
	}
	defer f.EventUnregister(entry)
	total := n
	for {
		n, err = op()
		total += n
		if err != abi.EAGAIN {
			if err != nil && total > 0 && err != abi.EPIPE {
				return total, nil
			}
			return total, err
		}
		if berr := t.Block(ch); berr != nil {
			if total > 0 {
				return total, nil
			}
			return 0, berr
		}
	}
}
