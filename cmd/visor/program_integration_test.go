//go:build integration

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSentryMissingProgram runs bundles whose program cannot be run
// through runc and through visor, side by side: both must fail at create
// with the same exit status and the same error naming the program, on
// stderr and in --log, and leave no container behind.
func TestSentryMissingProgram(t *testing.T) {
	e := newSentryEnv(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatalf("runc is needed to compare with: %v", err)
	}
	// runc makes the bundle's cgroup in every controller (the env's
	// cleanup knows visor's); remove what it left, leaves first.
	t.Cleanup(func() {
		parents, _ := filepath.Glob("/sys/fs/cgroup/*/visor-it-" + e.suffix)
		for _, p := range parents {
			leaves, _ := filepath.Glob(filepath.Join(p, "*"))
			for _, l := range leaves {
				if st, err := os.Stat(l); err == nil && st.IsDir() {
					os.Remove(l)
				}
			}
			os.Remove(p)
		}
	})
	tests := []struct {
		name string
		args []string
		want string // the cause, after "unable to start container process: "
	}{
		{name: "absent", args: []string{"/nonexistent"}, want: `exec: "/nonexistent": stat /nonexistent: no such file or directory`},
		{name: "notinpath", args: []string{"nosuchprog", "-x"}, want: `exec: "nosuchprog": executable file not found in $PATH`},
		{name: "directory", args: []string{"/bin"}, want: `exec: "/bin": permission denied`},
		{name: "notexec", args: []string{"/etc/passwd"}, want: `exec: "/etc/passwd": permission denied`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := e.busyboxBundle(tc.args, func(s *specs.Spec) {
				// runc sets the hostname only in a UTS namespace of its own.
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UTSNamespace}, specs.LinuxNamespace{Type: specs.IPCNamespace})
			})
			// runc, on the same bundle.
			rlog := filepath.Join(t.TempDir(), "runc.log")
			rc := exec.Command(runc, "--root", t.TempDir(), "--log", rlog, "run", "--bundle", dir, e.id("runc-"+tc.name))
			rout, _ := rc.CombinedOutput()
			rcode := rc.ProcessState.ExitCode()
			if !strings.Contains(string(rout), "unable to start container process: "+tc.want) {
				t.Fatalf("runc's error changed (exit %d): %s\nwant it to end in %s", rcode, rout, tc.want)
			}
			for _, cmd := range []string{"run", "create"} {
				vlog := filepath.Join(t.TempDir(), "visor.log")
				id := e.id(cmd + "-" + tc.name)
				r := e.visorCmd("--log", vlog, cmd, "--bundle", dir, id)
				if r.code != rcode {
					t.Errorf("visor %s: exit %d, runc run exits %d", cmd, r.code, rcode)
				}
				if !strings.Contains(r.stderr, "unable to start container process: "+tc.want) {
					t.Errorf("visor %s stderr %q lacks %q", cmd, r.stderr, tc.want)
				}
				lb, _ := os.ReadFile(vlog)
				if !strings.Contains(string(lb), "level=ERROR") || !strings.Contains(string(lb), strings.ReplaceAll(tc.want, `"`, `\"`)) {
					t.Errorf("visor %s --log lacks the error %q:\n%s", cmd, tc.want, lb)
				}
				if st := e.visorCmd("state", id); st.code == 0 {
					t.Errorf("visor %s left container %s: %s", cmd, id, st.stdout)
				}
				if _, err := os.Stat(filepath.Join(e.root, id)); !os.IsNotExist(err) {
					t.Errorf("visor %s left its state directory: %v", cmd, err)
				}
			}
		})
	}
	// A program that exists with a relative path is resolved against cwd.
	dir := e.busyboxBundle([]string{"./busybox", "echo", "relative"}, func(s *specs.Spec) { s.Process.Cwd = "/bin" })
	if r := e.visorCmd("run", "--bundle", dir, e.id("relative")); r.code != 0 || r.stdout != "relative\n" {
		t.Errorf("relative program: exit %d, %q, %s", r.code, r.stdout, r.stderr)
	}
}
