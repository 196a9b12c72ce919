package volume

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

func fileGID(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Gid)
	}
	return -1
}

// setOwnership gives group gid to everything under dir, as Kubernetes
// does for fsGroup: group read (and write unless readOnly) on files,
// group rwx and setgid on directories, so that new files inherit the
// group.
func setOwnership(dir string, gid int64, readOnly bool) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(p, -1, int(gid)); err != nil {
			return err
		}
		mode := info.Mode()
		perm := mode.Perm() | 0o040
		if !readOnly {
			perm |= 0o020
		}
		if d.IsDir() {
			perm |= 0o010
			return os.Chmod(p, perm|os.ModeSetgid)
		}
		if perm&0o100 != 0 {
			perm |= 0o010
		}
		return os.Chmod(p, perm)
	})
}
