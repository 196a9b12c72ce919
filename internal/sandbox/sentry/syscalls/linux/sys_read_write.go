package linux

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func doRead(t *kernel.Task, f *vfs.FileDescription, dst *ioSeq, offset int64, opts vfs.ReadOptions) (uint64, error) {
	if dst.NumBytes() == 0 && offset < 0 {
		// A zero-length read still checks the descriptor.
		if !f.IsReadable() {
			return 0, abi.EBADF
		}
	}
	n, err := blockingIO(t, f, vfs.EventReadable|vfs.EventHUp, func() (int64, error) {
		if offset >= 0 {
			return f.PRead(t, dst, offset, opts)
		}
		return f.Read(t, dst, opts)
	})
	return uint64(n), err
}

func doWrite(t *kernel.Task, f *vfs.FileDescription, src *ioSeq, offset int64, opts vfs.WriteOptions) (uint64, error) {
	var total int64
	n, err := blockingIO(t, f, vfs.EventWritable|vfs.EventErr, func() (int64, error) {
		var n int64
		var err error
		if offset >= 0 {
			n, err = f.PWrite(t, src, offset+total, opts)
		} else {
			n, err = f.Write(t, src, opts)
		}
		total += n
		return n, err
	})
	if err == abi.EPIPE {
		info := abi.SigInfo{Signo: int32(abi.SIGPIPE), Code: abi.SI_USER}
		info.SetPID(t.ThreadGroup().PID())
		t.SendThreadSignal(t, &info)
	}
	return uint64(n), err
}

func sysRead(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	dst, err := singleIO(t, a[1], a[2])
	if err != nil {
		return 0, err
	}
	return doRead(t, f, dst, -1, vfs.ReadOptions{})
}

func sysWrite(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	src, err := singleIO(t, a[1], a[2])
	if err != nil {
		return 0, err
	}
	return doWrite(t, f, src, -1, vfs.WriteOptions{})
}

func sysPread64(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if int64(a[3]) < 0 {
		return 0, abi.EINVAL
	}
	dst, err := singleIO(t, a[1], a[2])
	if err != nil {
		return 0, err
	}
	return doRead(t, f, dst, int64(a[3]), vfs.ReadOptions{})
}

func sysPwrite64(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if int64(a[3]) < 0 {
		return 0, abi.EINVAL
	}
	src, err := singleIO(t, a[1], a[2])
	if err != nil {
		return 0, err
	}
	return doWrite(t, f, src, int64(a[3]), vfs.WriteOptions{})
}

func sysReadv(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	dst, err := iovecIO(t, a[1], int32(a[2]))
	if err != nil {
		return 0, err
	}
	return doRead(t, f, dst, -1, vfs.ReadOptions{})
}

func sysWritev(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	src, err := iovecIO(t, a[1], int32(a[2]))
	if err != nil {
		return 0, err
	}
	return doWrite(t, f, src, -1, vfs.WriteOptions{})
}

func sysPreadv(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return preadv(t, a, 0)
}

func sysPreadv2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return preadv(t, a, uint32(a[5]))
}

func preadv(t *kernel.Task, a *[6]uint64, flags uint32) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	dst, err := iovecIO(t, a[1], int32(a[2]))
	if err != nil {
		return 0, err
	}
	off := int64(a[3])
	if off < -1 || (off == -1 && flags == 0 && a[5] == 0 && false) {
		return 0, abi.EINVAL
	}
	return doRead(t, f, dst, off, vfs.ReadOptions{Flags: flags})
}

func sysPwritev(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return pwritev(t, a, 0)
}

func sysPwritev2(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return pwritev(t, a, uint32(a[5]))
}

func pwritev(t *kernel.Task, a *[6]uint64, flags uint32) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	src, err := iovecIO(t, a[1], int32(a[2]))
	if err != nil {
		return 0, err
	}
	off := int64(a[3])
	if off < -1 {
		return 0, abi.EINVAL
	}
	return doWrite(t, f, src, off, vfs.WriteOptions{Flags: flags})
}

func sysLseek(t *kernel.Task, a *[6]uint64) (uint64, error) {
	f, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer f.DecRef(t)
	if a[2] > abi.SEEK_HOLE {
		return 0, abi.EINVAL
	}
	n, err := f.Seek(t, int64(a[1]), int32(a[2]))
	return uint64(n), err
}

// sysSendfile copies between descriptors through a kernel buffer.
func sysSendfile(t *kernel.Task, a *[6]uint64) (uint64, error) {
	out, err := getFile(t, int32(a[0]))
	if err != nil {
		return 0, err
	}
	defer out.DecRef(t)
	in, err := getFile(t, int32(a[1]))
	if err != nil {
		return 0, err
	}
	defer in.DecRef(t)
	if !in.IsReadable() || !out.IsWritable() {
		return 0, abi.EBADF
	}
	count := int64(a[3])
	if count < 0 {
		return 0, abi.EINVAL
	}
	if count > maxRWCount {
		count = maxRWCount
	}
	var off int64 = -1
	if a[2] != 0 {
		if err := copyIn(t, a[2], &off); err != nil {
			return 0, err
		}
		if off < 0 {
			return 0, abi.EINVAL
		}
	}
	buf := make([]byte, 64<<10)
	var total int64
	for total < count {
		chunk := buf
		if int64(len(chunk)) > count-total {
			chunk = chunk[:count-total]
		}
		dst := &vfs.BytesDst{Buf: chunk}
		var n int64
		if off >= 0 {
			n, err = in.PRead(t, dst, off+total, vfs.ReadOptions{})
		} else {
			n, err = blockingIO(t, in, vfs.EventReadable, func() (int64, error) { return in.Read(t, dst, vfs.ReadOptions{}) })
		}
		if n == 0 || err != nil {
			break
		}
		src := &vfs.BytesSrc{Buf: chunk[:n]}
		w, werr := blockingIO(t, out, vfs.EventWritable, func() (int64, error) { return out.Write(t, src, vfs.WriteOptions{}) })
		total += w
		if werr != nil {
			if total == 0 {
				return 0, werr
			}
			break
		}
		if w < n {
			break
		}
	}
	if a[2] != 0 {
		noff := off + total
		if err := copyOut(t, a[2], &noff); err != nil {
			return 0, err
		}
	}
	if total == 0 && err != nil {
		return 0, err
	}
	return uint64(total), nil
}
