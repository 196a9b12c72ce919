package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SubPath returns the host path of sub inside a volume mounted at base,
// creating it as a directory when it does not exist (as Kubernetes does).
// sub must be relative without "..", and once symlinks are resolved the
// result must stay inside base.
func SubPath(base, sub string) (string, error) {
	if sub == "" {
		return base, nil
	}
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPath %q must be relative", sub)
	}
	for _, seg := range strings.Split(filepath.ToSlash(sub), "/") {
		if seg == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	root, err := filepath.EvalSymlinks(base)
	if err != nil {
		return "", fmt.Errorf("resolving volume path: %w", err)
	}
	p := filepath.Join(base, sub)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		// Create the directories one by one, refusing to follow a
		// symlink out of the volume on the way.
		cur := root
		for _, seg := range strings.Split(filepath.ToSlash(filepath.Clean(sub)), "/") {
			next := filepath.Join(cur, seg)
			perm := os.FileMode(0o750)
			if info, err := os.Stat(cur); err == nil {
				perm = info.Mode().Perm()
			}
			if err := os.Mkdir(next, perm); err != nil && !errors.Is(err, os.ErrExist) {
				return "", fmt.Errorf("creating subPath %q: %w", sub, err)
			}
			r, err := filepath.EvalSymlinks(next)
			if err != nil {
				return "", fmt.Errorf("resolving subPath %q: %w", sub, err)
			}
			if !within(root, r) {
				return "", fmt.Errorf("subPath %q resolves outside the volume", sub)
			}
			cur = r
		}
		return cur, nil
	}
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("resolving subPath %q: %w", sub, err)
	}
	if !within(root, r) {
		return "", fmt.Errorf("subPath %q resolves outside the volume", sub)
	}
	return r, nil
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}
