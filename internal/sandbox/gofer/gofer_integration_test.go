//go:build integration

package gofer

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/protocol"
)

// buildHelper builds testdata/goferhelper without cgo, as visor is built,
// so DropCapabilities can reach every thread.
func buildHelper(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "goferhelper")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/goferhelper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the gofer helper (needs the go tool): %v\n%s", err, out)
	}
	return bin
}

// TestConfinedGofer runs a Gofer the way visor does — a new mount
// namespace, pivot_root, capabilities dropped, seccomp — and checks it
// can no longer open sockets, fork or see the host's files, yet serves.
func TestConfinedGofer(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("TestConfinedGofer needs root (mount namespaces, pivot_root)")
	}
	bin := buildHelper(t)
	hostDir := t.TempDir()
	probe := filepath.Join(hostDir, "host-only")
	if err := os.WriteFile(probe, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := mkTree(t, map[string]string{"etc/hostname": "sandboxed", "tmp/": "/"}, map[string]string{"etc/escape": "../../../.." + probe})

	cs, gs, err := protocol.NewSocketPair()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-root", rootfs, "-probe", probe)
	cmd.ExtraFiles = []*os.File{gs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gs.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the helper's report: %v; stderr:\n%s", err, stderr.String())
	}
	report := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		report[k] = v
	}
	for k, want := range map[string]string{
		"inet":   "EPERM",  // no networking
		"unix":   "EPERM",  // no new sockets of any kind
		"probe":  "ENOENT", // the host's files are gone from its view
		"fork":   "EPERM",
		"capeff": "0x1f", // CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID
	} {
		if report[k] != want {
			t.Errorf("confined gofer: %s = %q, want %q (report %q)", k, report[k], want, strings.TrimSpace(line))
		}
	}

	// It still serves, under its seccomp filter.
	ctx := context.Background()
	cc, err := protocol.FileConn(cs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := protocol.NewClient(ctx, cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root, err := c.Attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := c.Walk(ctx, root.Handle, []string{"etc", "hostname"})
	if err != nil || len(ins) != 2 {
		t.Fatalf("walk: %v, %v; stderr:\n%s", ins, err, stderr.String())
	}
	fd, err := c.Open(ctx, ins[1].Handle, unix.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFD(t, fd); got != "sandboxed" {
		t.Errorf("read %q", got)
	}
	tmp, err := c.Walk(ctx, root.Handle, []string{"tmp"})
	if err != nil {
		t.Fatal(err)
	}
	f, wfd, err := c.Create(ctx, tmp[0].Handle, "f", unix.O_RDWR, 0o600, 1000, 1000)
	if err != nil {
		t.Fatalf("create under seccomp: %v; stderr:\n%s", err, stderr.String())
	}
	unix.Close(wfd)
	if _, err := c.SetAttr(ctx, f.Handle, protocol.SetAttr{Mask: unix.STATX_MODE | unix.STATX_SIZE, Mode: 0o644, Size: 10}); err != nil {
		t.Errorf("setattr under seccomp: %v", err)
	}
	if _, err := c.Getdents(ctx, tmp[0].Handle, 0, 4096); err != nil {
		t.Errorf("getdents under seccomp: %v", err)
	}
	esc, err := c.Walk(ctx, root.Handle, []string{"etc", "escape"})
	if err != nil || esc[1].Stat.Mode&unix.S_IFMT != unix.S_IFLNK {
		t.Fatalf("walk to the escaping link: %v, %v", esc, err)
	}
	if _, err := c.Open(ctx, esc[1].Handle, unix.O_RDONLY); !errors.Is(err, unix.ENXIO) {
		t.Errorf("open of the escaping link: %v, want ENXIO", err)
	}
	fi, err := os.Stat(filepath.Join(rootfs, "tmp", "f"))
	if err != nil || fi.Size() != 10 || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Errorf("file made through the confined gofer: %v, %v", fi, err)
	}
}
