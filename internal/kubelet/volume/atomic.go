package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// File is one file of a projected payload.
type File struct {
	Data []byte
	Mode os.FileMode
}

// dataLink is the symlink naming the current payload directory.
const dataLink = "..data"

// validPayloadPath checks a payload path: relative, no "..", not
// starting with "..".
func validPayloadPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if path.IsAbs(p) {
		return fmt.Errorf("path %q is absolute", p)
	}
	if strings.HasPrefix(p, "..") {
		return fmt.Errorf("path %q starts with '..'", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return fmt.Errorf("path %q contains '..'", p)
		}
		if seg == "" {
			return fmt.Errorf("path %q has an empty segment", p)
		}
	}
	return nil
}

// WriteAtomic makes dir hold exactly payload (path → file), atomically as
// containers see it: the files go to a new hidden directory, the "..data"
// symlink is switched to it by a rename, visible top-level symlinks point
// through "..data", and the previous directory is removed. A payload equal
// to what dir holds changes nothing. gid, if not negative, owns the files
// (fsGroup). It reports whether anything changed.
func WriteAtomic(dir string, payload map[string]File, gid int64) (bool, error) {
	for p := range payload {
		if err := validPayloadPath(p); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("creating volume dir: %w", err)
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	if old != "" && payloadEqual(filepath.Join(dir, old), payload, gid) {
		return false, nil
	}
	tsDir, err := os.MkdirTemp(dir, "..data_")
	if err != nil {
		return false, fmt.Errorf("creating payload dir: %w", err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tsDir)
		}
	}()
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, fmt.Errorf("writing %s: %w", p, err)
		}
		if err := os.WriteFile(full, f.Data, 0o600); err != nil {
			return false, fmt.Errorf("writing %s: %w", p, err)
		}
		if gid >= 0 {
			if err := os.Lchown(full, -1, int(gid)); err != nil {
				return false, fmt.Errorf("chown %s: %w", p, err)
			}
		}
		if err := os.Chmod(full, f.Mode.Perm()); err != nil {
			return false, fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	if gid >= 0 {
		filepath.WalkDir(tsDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Lchown(p, -1, int(gid))
			}
			return nil
		})
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return false, fmt.Errorf("creating data link: %w", err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataLink)); err != nil {
		os.Remove(tmpLink)
		return false, fmt.Errorf("switching data link: %w", err)
	}
	ok = true
	// Visible names: one symlink per top-level entry of the payload.
	top := map[string]bool{}
	for p := range payload {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	for name := range top {
		l := filepath.Join(dir, name)
		want := filepath.Join(dataLink, name)
		if cur, err := os.Readlink(l); err == nil && cur == want {
			continue
		}
		os.RemoveAll(l)
		if err := os.Symlink(want, l); err != nil {
			return true, fmt.Errorf("linking %s: %w", name, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		switch {
		case n == dataLink:
		case strings.HasPrefix(n, ".."):
			if filepath.Join(dir, n) != tsDir {
				os.RemoveAll(filepath.Join(dir, n))
			}
		case !top[n]:
			if e.Type()&os.ModeSymlink != 0 {
				os.Remove(filepath.Join(dir, n))
			}
		}
	}
	return true, nil
}

// payloadEqual reports whether dir holds exactly payload.
func payloadEqual(dir string, payload map[string]File, gid int64) bool {
	seen := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f, ok := payload[filepath.ToSlash(rel)]
		if !ok {
			return errors.New("extra file")
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != f.Mode.Perm() {
			return errors.New("mode differs")
		}
		if gid >= 0 && fileGID(info) != gid {
			return errors.New("group differs")
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.Data) {
			return errors.New("content differs")
		}
		seen++
		return nil
	})
	return err == nil && seen == len(payload)
}

// Paths returns a payload's paths, sorted (for messages and tests).
func Paths(payload map[string]File) []string {
	out := make([]string, 0, len(payload))
	for p := range payload {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
