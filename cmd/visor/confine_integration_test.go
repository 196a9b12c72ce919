//go:build integration

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSentryConfinementRefusesHostOpen is the proof that the
// Sentry's seccomp filter holds, through the real CLI: with the hidden
// --TESTONLY-open-host-file flag the Sentry opens a host file through a
// directory descriptor it kept across its move into the empty root, once
// before its filter is installed (which must work: nothing else stands in
// the way) and once after (which the filter must refuse with EPERM).
func TestSentryConfinementRefusesHostOpen(t *testing.T) {
	e := newSentryEnv(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("HOST SECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"run", "create"} {
		help := e.visorCmd(cmd, "--help")
		if strings.Contains(help.stdout+help.stderr, "TESTONLY") {
			t.Errorf("visor %s --help shows the test-only flag:\n%s", cmd, help.stdout)
		}
	}
	logPath := filepath.Join(t.TempDir(), "visor.log")
	dir := e.busyboxBundle([]string{"sh", "-c", "echo app-ran"}, nil)
	r := e.visorCmd("--log", logPath, "--log-format", "json", "run", "--TESTONLY-open-host-file", secret, "--bundle", dir, e.id("probe"))
	if r.code != 0 || r.stdout != "app-ran\n" {
		t.Fatalf("visor run: exit %d, stdout %q, stderr %q; want 0 and app-ran", r.code, r.stdout, r.stderr)
	}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type probeLine struct {
		Msg      string `json:"msg"`
		Proc     string `json:"proc"`
		Path     string `json:"path"`
		Confined bool   `json:"confined"`
		Result   string `json:"result"`
		Err      string `json:"err"`
	}
	got := map[bool]probeLine{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l probeLine
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "TESTONLY host file open" {
			continue
		}
		if l.Proc != "boot" || l.Path != secret {
			t.Errorf("probe line from %q for %q, want boot and %s", l.Proc, l.Path, secret)
		}
		got[l.Confined] = l
	}
	before, ok := got[false]
	if !ok {
		t.Fatalf("no probe before confinement in the log")
	}
	if before.Result != "opened" {
		t.Errorf("before seccomp the open gave %q (%s); want opened: the probe cannot tell seccomp's refusal from another", before.Result, before.Err)
	}
	after, ok := got[true]
	if !ok {
		t.Fatalf("no probe after confinement in the log")
	}
	if after.Result != "refused" || after.Err != "operation not permitted" {
		t.Errorf("after seccomp the open gave %q (%q); want refused with EPERM (operation not permitted)", after.Result, after.Err)
	}
}
