//go:build integration

package podsandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSandboxLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("integration tests need root")
	}
	b := make([]byte, 6)
	rand.Read(b)
	id := hex.EncodeToString(b)
	dir := filepath.Join(t.TempDir(), "pods")
	m, err := New(Config{Dir: dir, CgroupRoot: "/podvisor-test-" + id})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := m.Create(id, Options{Hostname: "my-pod"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	defer m.Remove(id)
	var hostNet unix.Stat_t
	runtimeLockOSThread()
	unix.Stat("/proc/thread-self/ns/net", &hostNet)
	runtimeUnlockOSThread()
	for _, p := range []string{sb.NetNS, sb.IPCNS, sb.UTSNS} {
		if !isNSFS(p) {
			t.Errorf("%s is not a pinned namespace", p)
		}
	}
	var podNet unix.Stat_t
	unix.Stat(sb.NetNS, &podNet)
	if podNet.Ino == hostNet.Ino {
		t.Errorf("pod netns is the host's: %d %d", podNet.Ino, hostNet.Ino)
	}
	if !isMount(sb.ShmPath) {
		t.Errorf("shm not mounted")
	}
	// The hostname lives in the pinned UTS namespace.
	if got := hostnameIn(t, sb.UTSNS); got != "my-pod" {
		t.Errorf("hostname %q, want my-pod", got)
	}
	// Idempotent create; Get from a new manager (agent restart).
	again, err := m.Create(id, Options{Hostname: "other"})
	if err != nil || again.NetNS != sb.NetNS || again.Hostname != "my-pod" {
		t.Errorf("second create: %+v %v", again, err)
	}
	m2, _ := New(Config{Dir: dir, CgroupRoot: "/podvisor-test-" + id})
	if got, err := m2.Get(id); err != nil || got.NetNS != sb.NetNS {
		t.Errorf("get after restart: %+v %v", got, err)
	}
	if ids, _ := m2.List(); len(ids) != 1 || ids[0] != id {
		t.Errorf("list: %v", ids)
	}
	if err := m2.Remove(id); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, id)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sandbox dir left: %v", err)
	}
	if _, err := m2.Get(id); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("get after remove: %v", err)
	}
	if err := m2.Remove(id); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if _, err := m.Create("../evil", Options{}); err == nil {
		t.Errorf("create with a path in the id succeeded")
	}
}

func TestHostNetworkSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("integration tests need root")
	}
	m, err := New(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := m.Create("hostnet", Options{HostNetwork: true, HostIPC: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Remove("hostnet")
	if sb.NetNS != "" || sb.UTSNS != "" || sb.IPCNS != "" || sb.ShmPath != "" {
		t.Errorf("host-network sandbox pinned namespaces: %+v", sb)
	}
	ps := sb.PodSandbox("ns", "name", "")
	if !ps.HostNetwork || !ps.HostIPC {
		t.Errorf("PodSandbox %+v lost the host flags", ps)
	}
}

func isMount(p string) bool {
	var st, pst unix.Stat_t
	return unix.Stat(p, &st) == nil && unix.Stat(filepath.Dir(p), &pst) == nil && st.Dev != pst.Dev
}

// hostnameIn reads the hostname of the UTS namespace at path.
func hostnameIn(t *testing.T, path string) string {
	t.Helper()
	out := make(chan string, 1)
	go func() {
		// Locked and never unlocked: the thread is discarded.
		runtimeLockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY, 0)
		if err != nil {
			out <- "open: " + err.Error()
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWUTS); err != nil {
			out <- "setns: " + err.Error()
			return
		}
		var u unix.Utsname
		unix.Uname(&u)
		out <- unix.ByteSliceToString(u.Nodename[:])
	}()
	return <-out
}

func TestCreateOverHalfMadeSandbox(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("integration tests need root")
	}
	dir := t.TempDir()
	m, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// What a crash between creating the pin file and mounting leaves.
	os.MkdirAll(filepath.Join(dir, "half"), 0o711)
	os.WriteFile(filepath.Join(dir, "half", "net"), nil, 0o444)
	sb, err := m.Create("half", Options{})
	if err != nil {
		t.Fatalf("create over a half-made sandbox: %v", err)
	}
	defer m.Remove("half")
	if !isNSFS(sb.NetNS) {
		t.Errorf("netns not pinned")
	}
}
