package proc

import (
	"context"
	"sort"
	"strconv"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// staticDir is a directory whose entries are computed by list and lookup.
type staticDir struct {
	inode
	vfs.ReadOnlyDir
	// names lists the fixed entries in order; make builds one.
	names []string
	make  func(name string) vfs.Inode
	// dynamic, if set, lists extra entries (pids, fds) after the fixed
	// ones, with stable offsets, and looks them up.
	dynamic func(ctx context.Context) []dynEntry
	lookup  func(ctx context.Context, name string) (vfs.Inode, error)
}

// dynEntry is a dynamic directory entry: offset orders the listing and
// must stay the same for the same entry.
type dynEntry struct {
	name   string
	typ    uint8
	offset int64
}

// Lookup implements vfs.DirInode.Lookup.
func (d *staticDir) Lookup(ctx context.Context, name string) (vfs.Inode, error) {
	for _, n := range d.names {
		if n == name {
			return d.make(name), nil
		}
	}
	if d.lookup != nil {
		return d.lookup(ctx, name)
	}
	return nil, abi.ENOENT
}

// Open implements vfs.Inode.Open.
func (d *staticDir) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	if opts.Flags&abi.O_ACCMODE != abi.O_RDONLY {
		return nil, abi.EISDIR
	}
	fd := &dirFD{dir: d}
	fd.vfsfd.Init(fd, opts.Flags, vd)
	return &fd.vfsfd, nil
}

// dirFD lists a staticDir.
type dirFD struct {
	vfs.DirectoryFileDefaults
	vfsfd vfs.FileDescription
	dir   *staticDir

	mu  sync.Mutex
	off int64 // +checklocks:mu
}

// dynBase is the offset of the first dynamic entry.
const dynBase = 1 << 20

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *dirFD) IterDirents(ctx context.Context, cb vfs.IterDirentsCallback) error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	d := fd.dir
	var entries []dynEntry
	entries = append(entries, dynEntry{".", abi.DT_DIR, 0}, dynEntry{"..", abi.DT_DIR, 1})
	for i, n := range d.names {
		entries = append(entries, dynEntry{n, abi.DirentType(d.make(n).Type()), int64(2 + i)})
	}
	if d.dynamic != nil {
		entries = append(entries, d.dynamic(ctx)...)
	}
	for i, e := range entries {
		if e.offset < fd.off {
			continue
		}
		next := e.offset + 1
		if i+1 < len(entries) {
			next = entries[i+1].offset
		}
		if err := cb(vfs.Dirent{Name: e.name, Type: e.typ, Ino: uint64(e.offset) + 1, NextOff: next}); err != nil {
			return err
		}
		fd.off = next
	}
	return nil
}

// Seek implements vfs.FileDescriptionImpl.Seek.
func (fd *dirFD) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	switch whence {
	case abi.SEEK_SET:
	case abi.SEEK_CUR:
		offset += fd.off
	default:
		return 0, abi.EINVAL
	}
	if offset < 0 {
		return 0, abi.EINVAL
	}
	fd.off = offset
	return offset, nil
}

// rootDir is /proc itself.
type rootDir struct {
	staticDir
}

var (
	_ vfs.DirInode       = (*rootDir)(nil)
	_ vfs.DirRevalidator = (*rootDir)(nil)
)

func (d *rootDir) init(fs *filesystem, mode, uid, gid uint32) {
	d.inode.init(fs, mode, uid, gid)
	d.names = []string{"self", "thread-self", "cpuinfo", "filesystems", "loadavg", "meminfo", "mounts", "stat", "uptime", "version"}
	d.make = func(name string) vfs.Inode {
		switch name {
		case "self":
			return fs.newSymlink(func(ctx context.Context) (string, error) {
				t := taskOf(ctx)
				if t == nil {
					return "", abi.ENOENT
				}
				return strconv.Itoa(int(t.ThreadGroup().PID())), nil
			})
		case "thread-self":
			return fs.newSymlink(func(ctx context.Context) (string, error) {
				t := taskOf(ctx)
				if t == nil {
					return "", abi.ENOENT
				}
				return strconv.Itoa(int(t.ThreadGroup().PID())) + "/task/" + strconv.Itoa(int(t.ThreadID())), nil
			})
		case "mounts":
			return fs.newSymlink(func(context.Context) (string, error) { return "self/mounts", nil })
		}
		return fs.newFile(0o444, 0, 0, systemFile(fs, name))
	}
	d.dynamic = func(ctx context.Context) []dynEntry {
		var out []dynEntry
		for _, tg := range fs.k.ThreadGroups() {
			if tg.Leader() == nil {
				continue
			}
			out = append(out, dynEntry{strconv.Itoa(int(tg.PID())), abi.DT_DIR, dynBase + int64(tg.PID())})
		}
		return out
	}
	d.lookup = func(ctx context.Context, name string) (vfs.Inode, error) {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 || strconv.Itoa(pid) != name {
			return nil, abi.ENOENT
		}
		tg := fs.k.ThreadGroupWithID(int32(pid))
		if tg == nil || tg.Leader() == nil {
			return nil, abi.ENOENT
		}
		return fs.newPidDir(tg, nil), nil
	}
}

// Revalidate implements vfs.DirRevalidator: a process directory goes away
// with its process.
func (d *rootDir) Revalidate(ctx context.Context, name string, child vfs.Inode) bool {
	if pd, ok := child.(*pidDir); ok {
		return !pd.tg.IsReaped() && pd.tg.Leader() != nil
	}
	return true
}

// pidDir is /proc/[pid] (or /proc/[pid]/task/[tid] when task is set).
type pidDir struct {
	staticDir
	tg   *kernel.ThreadGroup
	task *kernel.Task
}

var (
	_ vfs.DirInode       = (*pidDir)(nil)
	_ vfs.DirRevalidator = (*pidDir)(nil)
)

// subject returns the task the directory describes (the leader for a
// process directory), or nil once it is gone.
func (d *pidDir) subject() *kernel.Task {
	if d.task != nil {
		return d.task
	}
	return d.tg.Leader()
}

func (fs *filesystem) newPidDir(tg *kernel.ThreadGroup, task *kernel.Task) *pidDir {
	d := &pidDir{tg: tg, task: task}
	var uid, gid uint32
	if l := d.subject(); l != nil {
		c := l.Credentials()
		uid, gid = c.RealUID, c.RealGID
	}
	d.inode.init(fs, abi.S_IFDIR|0o555, uid, gid)
	d.names = []string{"auxv", "cgroup", "cmdline", "comm", "cwd", "environ", "exe", "fd", "limits", "maps", "mountinfo", "mounts", "root", "stat", "statm", "status"}
	if task == nil {
		d.names = append(d.names, "task")
	}
	sort.Strings(d.names)
	d.make = func(name string) vfs.Inode {
		switch name {
		case "fd":
			return fs.newFDDir(d)
		case "task":
			return fs.newTaskDir(tg)
		case "cwd", "root", "exe":
			return fs.newMagicLink(d, name)
		}
		mode := uint32(0o444)
		if name == "environ" || name == "auxv" {
			mode = 0o400
		}
		return fs.newFile(mode, uid, gid, pidFile(fs, d, name))
	}
	return d
}

// Revalidate implements vfs.DirRevalidator.
func (d *pidDir) Revalidate(ctx context.Context, name string, child vfs.Inode) bool {
	if td, ok := child.(*pidDir); ok && td.task != nil {
		return taskAlive(td.task)
	}
	// fd entries change as the process opens and closes files.
	if _, ok := child.(*fdDir); ok {
		return true
	}
	return true
}

func taskAlive(t *kernel.Task) bool {
	return t.Kernel().TaskWithID(t.ThreadID()) == t
}

// newTaskDir is /proc/[pid]/task.
func (fs *filesystem) newTaskDir(tg *kernel.ThreadGroup) vfs.Inode {
	d := &taskDir{}
	d.inode.init(fs, abi.S_IFDIR|0o555, 0, 0)
	d.make = func(string) vfs.Inode { return nil }
	d.dynamic = func(ctx context.Context) []dynEntry {
		var out []dynEntry
		for _, t := range tg.Tasks() {
			out = append(out, dynEntry{strconv.Itoa(int(t.ThreadID())), abi.DT_DIR, dynBase + int64(t.ThreadID())})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].offset < out[j].offset })
		return out
	}
	d.lookup = func(ctx context.Context, name string) (vfs.Inode, error) {
		tid, err := strconv.Atoi(name)
		if err != nil {
			return nil, abi.ENOENT
		}
		for _, t := range tg.Tasks() {
			if int(t.ThreadID()) == tid {
				return fs.newPidDir(tg, t), nil
			}
		}
		return nil, abi.ENOENT
	}
	return d
}

// taskDir is /proc/[pid]/task.
type taskDir struct {
	staticDir
}

// Revalidate implements vfs.DirRevalidator: thread directories go away
// with their threads.
func (d *taskDir) Revalidate(ctx context.Context, name string, child vfs.Inode) bool {
	if td, ok := child.(*pidDir); ok && td.task != nil {
		return taskAlive(td.task)
	}
	return true
}

// fdDir is /proc/[pid]/fd.
type fdDir struct {
	staticDir
	pd *pidDir
}

// Revalidate implements vfs.DirRevalidator: each lookup finds the file
// the descriptor holds now.
func (d *fdDir) Revalidate(ctx context.Context, name string, child vfs.Inode) bool { return false }

func (fs *filesystem) newFDDir(pd *pidDir) vfs.Inode {
	d := &fdDir{pd: pd}
	uid, gid := pd.UIDGID()
	d.inode.init(fs, abi.S_IFDIR|0o500, uid, gid)
	d.make = func(string) vfs.Inode { return nil }
	d.dynamic = func(ctx context.Context) []dynEntry {
		t := pd.subject()
		if t == nil {
			return nil
		}
		fdt := t.FDTable()
		if fdt == nil {
			return nil
		}
		var out []dynEntry
		for _, fd := range fdt.FDs() {
			out = append(out, dynEntry{strconv.Itoa(int(fd)), abi.DT_LNK, dynBase + int64(fd)})
		}
		return out
	}
	d.lookup = func(ctx context.Context, name string) (vfs.Inode, error) {
		n, err := strconv.Atoi(name)
		if err != nil || n < 0 || strconv.Itoa(n) != name {
			return nil, abi.ENOENT
		}
		t := pd.subject()
		if t == nil || t.FDTable() == nil {
			return nil, abi.ENOENT
		}
		f, _, err := t.FDTable().Get(int32(n))
		if err != nil {
			return nil, abi.ENOENT
		}
		f.DecRef(ctx)
		return fs.newFDLink(pd, int32(n)), nil
	}
	return d
}

// UIDGID returns the owner of the process directory.
func (d *pidDir) UIDGID() (uint32, uint32) {
	st := d.StatAttrs()
	return st.UID, st.GID
}
