package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// hostPath checks (and for the *OrCreate types creates) a hostPath
// volume's path and returns it.
func hostPath(p string, t *corev1.HostPathType) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("hostPath %q is not absolute", p)
	}
	p = filepath.Clean(p)
	typ := corev1.HostPathUnset
	if t != nil {
		typ = *t
	}
	info, err := os.Stat(p)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("checking hostPath %s: %w", p, err)
	}
	switch typ {
	case corev1.HostPathUnset:
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", fmt.Errorf("creating hostPath directory %s: %w", p, err)
			}
			return p, nil
		}
		if !info.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case corev1.HostPathDirectory:
		if !exists || !info.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil && !errors.Is(err, os.ErrExist) {
				return "", fmt.Errorf("creating hostPath file %s: %w", p, err)
			}
			if f != nil {
				f.Close()
			}
			return p, nil
		}
		if info.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is a directory, not a file", p)
		}
	case corev1.HostPathFile:
		if !exists || !info.Mode().IsRegular() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case corev1.HostPathSocket:
		if !exists || info.Mode()&os.ModeSocket == 0 {
			return "", fmt.Errorf("hostPath type check failed: %s is not a socket file", p)
		}
	case corev1.HostPathCharDev:
		if !exists || info.Mode()&os.ModeCharDevice == 0 {
			return "", fmt.Errorf("hostPath type check failed: %s is not a character device", p)
		}
	case corev1.HostPathBlockDev:
		if !exists || info.Mode()&os.ModeDevice == 0 || info.Mode()&os.ModeCharDevice != 0 {
			return "", fmt.Errorf("hostPath type check failed: %s is not a block device", p)
		}
	default:
		return "", fmt.Errorf("unknown hostPath type %q", typ)
	}
	return p, nil
}
