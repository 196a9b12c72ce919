//go:build integration

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSentryMaskedAndReadonlyPaths: config.json's linux.maskedPaths hide
// files (as /dev/null) and directories (as an empty read-only tmpfs), and
// linux.readonlyPaths make a subtree read-only while the rest of its file
// system stays writable. The host /proc and /sys entries Kubernetes lists
// that the Sentry does not have are skipped.
func TestSentryMaskedAndReadonlyPaths(t *testing.T) {
	e := newSentryEnv(t)
	dir := e.busyboxBundle([]string{"sh", "-c", `
		echo "secret=[$(cat /etc/secret)]"
		echo overwrite > /etc/secret; echo "secret-after-write=[$(cat /etc/secret)]"
		echo "secret-dev=$(stat -c %t,%T /etc/secret)"
		echo "secretdir=[$(ls -A /secretdir)]"
		touch /secretdir/new 2>&1
		echo "uptime=[$(cat /proc/uptime)]"
		echo "data=$(cat /data/kept)"
		echo new > /data/new 2>&1 || echo data-ro
		mkdir /data/sub 2>&1 || echo data-mkdir-ro
		echo fine > /writable && echo "writable=$(cat /writable)"
	`}, func(s *specs.Spec) {
		s.Linux.MaskedPaths = []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
			"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
			"/etc/secret", "/secretdir", "/proc/uptime"}
		s.Linux.ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", "/data"}
	})
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"secretdir", "data"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(rootfs, "etc/secret"), []byte("TOP SECRET\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "secretdir/hidden"), []byte("hidden\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "data/kept"), []byte("kept\n"), 0o644)

	r := e.visorCmd("run", "--bundle", dir, e.id("paths"))
	if r.code != 0 {
		t.Fatalf("visor run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	got := r.stdout + r.stderr
	for _, want := range []string{
		"secret=[]\n",
		"secret-after-write=[]\n",
		"secret-dev=1,3\n",
		"secretdir=[]\n",
		"touch: /secretdir/new: Read-only file system\n",
		"uptime=[]\n",
		"data=kept\n",
		"can't create /data/new: Read-only file system\n", "data-ro\n",
		"mkdir: can't create directory '/data/sub': Read-only file system\n", "data-mkdir-ro\n",
		"writable=fine\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if b, err := os.ReadFile(filepath.Join(rootfs, "etc/secret")); err != nil || string(b) != "TOP SECRET\n" {
		t.Errorf("host /etc/secret = %q, %v: a write went through the mask", b, err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "data/new")); !os.IsNotExist(err) {
		t.Errorf("a write reached the read-only /data on the host: %v", err)
	}
}
