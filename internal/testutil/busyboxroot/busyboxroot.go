// Package busyboxroot builds a small root file system for Sentry tests and
// benchmarks: the OS's static busybox (package busybox-static) with a
// symbolic link per applet, a few files in /etc, and room for test
// programs. Only tests and benchmarks import it.
package busyboxroot

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// BusyboxPath is where busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// Build creates the tree under dir and returns the applet names. It fails
// with a message naming busybox-static if the binary is missing.
func Build(dir string) ([]string, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("the busybox-static package is required (%s): %w", BusyboxPath, err)
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing busybox applets: %w", err)
	}
	applets := strings.Fields(string(out))
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "root", "home", "var/tmp", "dev", "proc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	unix.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if a == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", a)); err != nil && !os.IsExist(err) {
			return nil, err
		}
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":    "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n",
		"etc/hostname": "sandbox\n",
		"etc/hosts":    "127.0.0.1 localhost\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	return applets, nil
}
