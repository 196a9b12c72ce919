package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrUnsafeLayer is wrapped when a layer tar tries to write outside its
// directory: a path with "..", or one that goes through a symlink.
var ErrUnsafeLayer = errors.New("unsafe layer entry")

// Unpack extracts one layer tar (uncompressed) into dir, converting OCI
// whiteouts to overlayfs's format: ".wh.NAME" becomes a 0/0 character
// device NAME, ".wh..wh..opq" sets trusted.overlay.opaque=y on its
// directory. Device nodes are skipped (a container gets its /dev from the
// runtime); FIFOs are kept. Entries that escape dir (".." paths, paths
// through a symlink, hard links to outside) are refused with
// ErrUnsafeLayer. It returns the number of bytes of file content written.
//
// Preconditions: dir exists and is empty; the caller runs as root (to
// chown, and to make whiteout devices).
func Unpack(r io.Reader, dir string) (int64, error) {
	tr := tar.NewReader(r)
	var written int64
	type dirTime struct {
		p string
		t time.Time
	}
	var dirTimes []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return written, fmt.Errorf("reading layer: %w", err)
		}
		rel, err := safeRel(hdr.Name)
		if err != nil {
			return written, err
		}
		if rel == "" {
			continue // the root itself
		}
		parent, base := path.Split(rel)
		if err := ensureParents(dir, strings.TrimSuffix(parent, "/")); err != nil {
			return written, fmt.Errorf("%w: %q: %v", ErrUnsafeLayer, hdr.Name, err)
		}
		pdir := filepath.Join(dir, parent)
		if base == ".wh..wh..opq" {
			if err := unix.Setxattr(pdir, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
				return written, fmt.Errorf("marking %s opaque: %w", parent, err)
			}
			continue
		}
		if name, ok := strings.CutPrefix(base, ".wh."); ok {
			p := filepath.Join(pdir, name)
			os.RemoveAll(p)
			if err := unix.Mknod(p, unix.S_IFCHR, 0); err != nil {
				return written, fmt.Errorf("creating whiteout %s: %w", rel, err)
			}
			continue
		}
		target := filepath.Join(dir, rel)
		// A later entry replaces an earlier one, except a directory
		// replacing a directory (its metadata is updated instead).
		if fi, err := os.Lstat(target); err == nil {
			if !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
				if err := os.RemoveAll(target); err != nil {
					return written, fmt.Errorf("replacing %s: %w", rel, err)
				}
			}
		}
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return written, fmt.Errorf("creating dir %s: %w", rel, err)
			}
			dirTimes = append(dirTimes, dirTime{target, hdr.ModTime})
		case tar.TypeReg, tar.TypeRegA:
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return written, fmt.Errorf("creating %s: %w", rel, err)
			}
			n, err := io.Copy(f, tr)
			written += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return written, fmt.Errorf("writing %s: %w", rel, err)
			}
		case tar.TypeSymlink:
			// The link's text is never followed here: parents are
			// checked with Lstat and files created with O_EXCL.
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return written, fmt.Errorf("creating symlink %s: %w", rel, err)
			}
		case tar.TypeLink:
			lrel, err := safeRel(hdr.Linkname)
			if err != nil || lrel == "" {
				return written, fmt.Errorf("%w: hard link %q to %q", ErrUnsafeLayer, hdr.Name, hdr.Linkname)
			}
			lparent, _ := path.Split(lrel)
			if err := checkParents(dir, strings.TrimSuffix(lparent, "/")); err != nil {
				return written, fmt.Errorf("%w: hard link %q to %q: %v", ErrUnsafeLayer, hdr.Name, hdr.Linkname, err)
			}
			src := filepath.Join(dir, lrel)
			fi, err := os.Lstat(src)
			if err != nil {
				return written, fmt.Errorf("%w: hard link %q to %q, which is not in this layer", ErrUnsafeLayer, hdr.Name, hdr.Linkname)
			}
			if fi.IsDir() {
				return written, fmt.Errorf("%w: hard link %q to directory %q", ErrUnsafeLayer, hdr.Name, hdr.Linkname)
			}
			if err := os.Link(src, target); err != nil {
				return written, fmt.Errorf("linking %s: %w", rel, err)
			}
			continue // shares the inode's metadata
		case tar.TypeFifo:
			if err := unix.Mkfifo(target, mode); err != nil {
				return written, fmt.Errorf("creating fifo %s: %w", rel, err)
			}
		case tar.TypeChar, tar.TypeBlock:
			continue // device nodes are not unpacked
		default:
			continue // pax headers, sparse and unknown types carry no files
		}
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return written, fmt.Errorf("chown %s: %w", rel, err)
		}
		if hdr.Typeflag != tar.TypeSymlink {
			// After chown, which clears set-id bits.
			if err := unix.Chmod(target, mode); err != nil {
				return written, fmt.Errorf("chmod %s: %w", rel, err)
			}
		}
		for k, v := range hdr.PAXRecords {
			if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && (strings.HasPrefix(x, "user.") || x == "security.capability") {
				unix.Lsetxattr(target, x, []byte(v), 0)
			}
		}
		if hdr.Typeflag != tar.TypeDir {
			setTimes(target, hdr.ModTime)
		}
	}
	// Directory times last: creating entries in them changed them.
	for i := len(dirTimes) - 1; i >= 0; i-- {
		setTimes(dirTimes[i].p, dirTimes[i].t)
	}
	return written, nil
}

func setTimes(p string, t time.Time) {
	ts := unix.NsecToTimespec(t.UnixNano())
	unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// safeRel cleans a tar path to a relative one; "" is the root. A path that
// climbs above the root is refused (an absolute path is taken as relative
// to the root, as tar does).
func safeRel(name string) (string, error) {
	c := path.Clean("/" + name)
	if strings.Contains(name, "..") {
		// path.Clean("/"+x) clamps "../a" to "/a"; refuse instead of
		// silently rewriting an entry that meant to escape.
		for _, part := range strings.Split(name, "/") {
			if part == ".." {
				return "", fmt.Errorf("%w: %q climbs out of the layer", ErrUnsafeLayer, name)
			}
		}
	}
	return strings.TrimPrefix(c, "/"), nil
}

// checkParents verifies that no existing component of rel (a directory
// path relative to dir) is a symlink or a non-directory.
func checkParents(dir, rel string) error {
	if rel == "" {
		return nil
	}
	p := dir
	for _, part := range strings.Split(rel, "/") {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symlink", strings.TrimPrefix(p, dir+"/"))
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", strings.TrimPrefix(p, dir+"/"))
		}
	}
	return nil
}

// ensureParents creates the missing directories of rel under dir, refusing
// to go through a symlink.
func ensureParents(dir, rel string) error {
	if err := checkParents(dir, rel); err != nil {
		return err
	}
	if rel == "" {
		return nil
	}
	return os.MkdirAll(filepath.Join(dir, rel), 0o755)
}
