package devpts_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/devpts"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// stubFD stands for the host terminal's file description.
type stubFD struct {
	vfs.FileDefaults
	vfsfd vfs.FileDescription
}

func TestHostTerminal(t *testing.T) {
	ctx := context.Background()
	v := vfs.New(vfs.Config{})
	fs, root := devpts.New(v)
	ns := v.NewMountNamespaceFrom(fs, root, "devpts", vfs.MountFlags{})
	rd := ns.Root()
	t.Cleanup(func() { rd.DecRef(ctx); ns.DecRef(ctx) })
	pop := func(p string) *vfs.PathOperation { return &vfs.PathOperation{Root: rd, Start: rd, Path: p} }
	list := func() []string {
		var names []string
		dir, err := v.OpenAt(ctx, creds, pop("/"), &vfs.OpenOptions{Flags: abi.O_RDONLY})
		if err != nil {
			t.Fatal(err)
		}
		defer dir.DecRef(ctx)
		dir.IterDirents(ctx, func(d vfs.Dirent) error { names = append(names, d.Name); return nil })
		return names
	}

	opens := 0
	open := func(ctx context.Context, vd vfs.VirtualDentry, flags uint32) (*vfs.FileDescription, error) {
		opens++
		fd := &stubFD{}
		fd.vfsfd.Init(fd, flags, vd)
		return &fd.vfsfd, nil
	}
	idx, err := devpts.AddHostTerminal(fs, open)
	if err != nil || idx != 0 {
		t.Fatalf("AddHostTerminal = %d, %v; want 0", idx, err)
	}
	// A terminal made by ptmx skips the host terminal's index.
	master, err := v.OpenAt(ctx, creds, pop("ptmx"), &vfs.OpenOptions{Flags: abi.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	defer master.DecRef(ctx)
	m := mem{}
	if _, err := master.Ioctl(ctx, m, abi.TIOCGPTN, 1); err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint32(m[1]); n != 1 {
		t.Errorf("ptmx allocated %d, want 1 (0 is the host terminal)", n)
	}
	st, err := v.StatAt(ctx, creds, pop("0"), abi.STATX_BASIC_STATS)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode != abi.S_IFCHR|0o620 || st.RdevMajor != 136 || st.RdevMinor != 0 || st.GID != 5 {
		t.Errorf("stat /dev/pts/0: mode %o rdev %d:%d gid %d; want a 0620 char device 136:0 of group 5", st.Mode, st.RdevMajor, st.RdevMinor, st.GID)
	}
	fd, err := v.OpenAt(ctx, creds, pop("0"), &vfs.OpenOptions{Flags: abi.O_RDWR})
	if err != nil {
		t.Fatal(err)
	}
	fst, err := fd.Stat(ctx, abi.STATX_BASIC_STATS)
	fd.DecRef(ctx)
	if err != nil || opens != 1 || fst.Ino != st.Ino || fst.RdevMinor != 0 {
		t.Errorf("open: %d opener calls, fstat ino %d (%v); want 1 call and ino %d as stat gives", opens, fst.Ino, err, st.Ino)
	}
	if diff := cmp.Diff([]string{".", "..", "ptmx", "0", "1"}, list()); diff != "" {
		t.Errorf("/dev/pts (-want +got):\n%s", diff)
	}
	devpts.RemoveHostTerminal(fs, 0)
	if _, err := v.StatAt(ctx, creds, pop("0"), abi.STATX_TYPE); errnoOf(err) != abi.ENOENT {
		t.Errorf("stat after RemoveHostTerminal: %v, want ENOENT", err)
	}
	if idx, err := devpts.AddHostTerminal(fs, open); err != nil || idx != 0 {
		t.Errorf("AddHostTerminal after removal = %d, %v; want 0 again", idx, err)
	}
}
