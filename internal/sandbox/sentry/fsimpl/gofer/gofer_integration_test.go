//go:build integration

package gofer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/gofer"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
	"github.com/podvisor/podvisor/internal/testutil/gofertest"
	"github.com/podvisor/podvisor/internal/testutil/memfile"
)

// TestConfinedGoferProcess mounts a rootfs served by a confined Gofer
// process (its own mount namespace, pivot_root, capabilities dropped,
// seccomp) and runs the escape reads and file operations through the
// Sentry's VFS, as a sandbox does.
func TestConfinedGoferProcess(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	if err := os.WriteFile(secret, []byte("HOST SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := hostTree(t, map[string]string{"etc/shadow": "decoy inside the rootfs", "tmp/": ""}, map[string]string{
		"etc/x":        "../../../../../../../../etc/shadow",
		"etc/abs":      "/etc/shadow",
		"etc/outside":  secret,
		"etc/hostdir":  outside,
		"rootlink":     "/",
		"etc/procroot": "/proc/self/root" + secret,
	})
	client, report := gofertest.StartConfined(t, dir, false, secret)
	if !strings.Contains(report, "inet=EPERM") || !strings.Contains(report, "probe=ENOENT") {
		t.Errorf("confined gofer report %q", report)
	}
	ctx := context.Background()
	mf := memfile.New(t, 64<<20)
	v := vfs.New(vfs.Config{})
	fs, rd, err := gofer.New(ctx, v, gofer.Options{Client: client, MemoryFile: mf, MaxCachedDentries: 32})
	if err != nil {
		t.Fatal(err)
	}
	ns := v.NewMountNamespaceFrom(fs, rd, "rootfs", vfs.MountFlags{})
	e := &env{t: t, ctx: ctx, vfs: v, mf: mf, rootVD: ns.Root(), host: dir}
	defer func() {
		e.rootVD.DecRef(ctx)
		ns.DecRef(ctx)
	}()
	for _, tc := range []struct {
		path    string
		want    string
		wantErr abi.Errno
	}{
		{path: "/etc/x", want: "decoy inside the rootfs"},
		{path: "/etc/abs", want: "decoy inside the rootfs"},
		{path: "/rootlink/etc/shadow", want: "decoy inside the rootfs"},
		{path: "/etc/outside", wantErr: abi.ENOENT},
		{path: "/etc/hostdir/shadow", wantErr: abi.ENOENT},
		{path: "/etc/procroot", wantErr: abi.ENOENT},
	} {
		got, err := e.read(tc.path)
		if errnoOf(err) != tc.wantErr || got != tc.want {
			t.Errorf("read %s = %q, %v; want %q, %v", tc.path, got, err, tc.want, tc.wantErr)
		}
	}
	// Files made through the confined Gofer land in the rootfs.
	for i := 0; i < 500; i++ {
		e.write("/tmp/f"+itoa(i), "data"+itoa(i))
	}
	if n := len(e.list("/tmp")); n != 500 {
		t.Errorf("listed %d files, want 500", n)
	}
	if got, err := e.read("/tmp/f499"); err != nil || got != "data499" {
		t.Errorf("read back %q, %v", got, err)
	}
	if err := e.vfs.RenameAt(ctx, root, e.pop("/tmp/f1"), e.pop("/etc/moved"), &vfs.RenameOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc/moved")); err != nil || string(b) != "data1" {
		t.Errorf("host sees %q, %v", b, err)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
