package kernel

import (
	"context"
	"io"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/loader"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// execFile adapts an open file to loader.File.
type execFile struct{ fd *vfs.FileDescription }

// ReadAt implements loader.File.ReadAt.
func (f execFile) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	total := 0
	for total < len(p) {
		n, err := f.fd.PRead(ctx, &vfs.BytesDst{Buf: p[total:]}, off+int64(total), vfs.ReadOptions{})
		total += int(n)
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.EOF
		}
	}
	return total, nil
}

// ConfigureMMap implements loader.File.ConfigureMMap.
func (f execFile) ConfigureMMap(ctx context.Context, opts *memmap.MMapOpts) error {
	return f.fd.ConfigureMMap(ctx, opts)
}

// DecRef implements loader.File.DecRef.
func (f execFile) DecRef(ctx context.Context) { f.fd.DecRef(ctx) }

// openExecutable opens path (relative to fs's working directory) for
// execution with creds.
func (k *Kernel) openExecutable(ctx context.Context, fs *FSContext, creds *Credentials, path string) (loader.File, error) {
	root, cwd := fs.RootAndCwd()
	defer root.DecRef(ctx)
	defer cwd.DecRef(ctx)
	fd, err := k.vfs.OpenAt(ctx, creds.VFS(), &vfs.PathOperation{Root: root, Start: cwd, Path: path, FollowFinalSymlink: true},
		&vfs.OpenOptions{Flags: abi.O_RDONLY, FileExec: true})
	if err != nil {
		return nil, err
	}
	return execFile{fd: fd}, nil
}

// loadImage builds a new address space holding the program.
func (k *Kernel) loadImage(ctx context.Context, fs *FSContext, creds *Credentials, limits [abi.RLIM_NLIMITS]abi.Rlimit, filename string, argv, envv []string) (*mm.MemoryManager, loader.Image, error) {
	m := mm.New(mm.Deps{Platform: k.platform, MemoryFile: k.mf})
	cfg := loader.Config{
		Filename:   filename,
		Argv:       argv,
		Envv:       envv,
		Open:       func(ctx context.Context, p string) (loader.File, error) { return k.openExecutable(ctx, fs, creds, p) },
		UID:        creds.RealUID,
		EUID:       creds.EffectiveUID,
		GID:        creds.RealGID,
		EGID:       creds.EffectiveGID,
		StackLimit: limits[abi.RLIMIT_STACK].Cur,
		HWCap:      uint64(k.cpu.hwcap),
	}
	if _, err := io.ReadFull(k.random, cfg.Random[:]); err != nil {
		m.DecUsers(ctx)
		return nil, loader.Image{}, abi.EIO
	}
	// Leave a guard gap below the platform's limit for the stack top.
	m.SetLayout(m.Layout().MaxAddr-stackTopGap, limits[abi.RLIMIT_STACK].Cur)
	img, err := loader.Load(ctx, m, cfg)
	if err != nil {
		m.DecUsers(ctx)
		return nil, loader.Image{}, err
	}
	if id, ok := img.File.(execFile); ok {
		m.SetExecutable(ctx, id.fd)
	}
	return m, img, nil
}

// stackTopGap separates the stack from the top of the usable range.
const stackTopGap = 1 << 20

// Execve replaces the process image (execve(2)). On success the task runs
// the new program when it returns to application code; errors before the
// point of no return leave the old image intact.
func (t *Task) Execve(filename string, argv, envv []string) error {
	k := t.k
	fs := t.FSContext()
	creds := t.Credentials()
	m, img, err := k.loadImage(t, fs, creds, t.tg.limitsSnapshot(), filename, argv, envv)
	if err != nil {
		return err
	}
	defer img.File.DecRef(t)

	// Point of no return: other threads go, this one becomes the leader.
	if err := t.deThread(); err != nil {
		m.DecUsers(t)
		return err
	}

	t.clearChildTID()
	t.mu.Lock()
	old := t.mm
	t.mm = m
	t.name = img.Name
	fdt := t.fdTable
	t.mu.Unlock()
	old.DecUsers(t)

	// Descriptors: unshare the table, then close the close-on-exec ones.
	if fdt.refs.Load() > 1 {
		nfdt := fdt.Fork(t)
		t.mu.Lock()
		t.fdTable = nfdt
		t.mu.Unlock()
		fdt.DecRef(t)
		fdt = nfdt
	}
	fdt.CloseOnExec(t)

	k.mu.Lock()
	tg := t.tg
	if tg.handlers != nil {
		h := tg.handlers.copy()
		for i := range h.actions {
			if h.actions[i].Handler != abi.SIG_IGN {
				h.actions[i] = abi.SigAction{}
			} else {
				h.actions[i] = abi.SigAction{Handler: abi.SIG_IGN}
			}
		}
		tg.handlers = h
	}
	t.altStack = abi.SignalStack{Flags: abi.SS_DISABLE}
	t.robustList = 0
	tg.execed = true
	if t.vforkDone != nil {
		close(t.vforkDone)
		t.vforkDone = nil
	}
	k.mu.Unlock()

	t.regs = abi.PtraceRegs{Rip: img.Entry, Rsp: img.StackPointer, Eflags: 0x202, OrigRax: ^uint64(0)}
	t.ctx.SetFPState(k.initFP)
	t.restartBlock = nil
	t.SkipSyscallReturn()
	return nil
}

// deThread kills the other threads of the process and waits for them; the
// calling task then holds the process ID as its thread ID.
func (t *Task) deThread() error {
	k := t.k
	k.mu.Lock()
	tg := t.tg
	if tg.exiting {
		k.mu.Unlock()
		return abi.EINTR
	}
	for len(tg.tasks) > 1 {
		for _, o := range tg.tasks {
			if o != t {
				o.exiting = true
				o.interrupt()
				o.markDone()
			}
		}
		ch := make(chan struct{})
		tg.execWaiter = ch
		k.mu.Unlock()
		select {
		case <-ch:
		case <-t.done:
			return abi.EINTR
		}
		k.mu.Lock()
		if tg.exiting {
			k.mu.Unlock()
			return abi.EINTR
		}
	}
	if tg.leader != t {
		// Take over the leader's identity, as Linux's de_thread does.
		if k.tasks[t.tid] == t {
			delete(k.tasks, t.tid)
		}
		t.tid = tg.pid
		k.tasks[tg.pid] = t
		tg.leader = t
	}
	k.mu.Unlock()
	return nil
}

// limitsSnapshot returns the process's resource limits.
func (tg *ThreadGroup) limitsSnapshot() [abi.RLIM_NLIMITS]abi.Rlimit {
	tg.k.mu.Lock()
	defer tg.k.mu.Unlock()
	return tg.limits
}
