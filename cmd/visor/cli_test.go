package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		want    unix.Signal
		wantErr bool
	}{
		{"KILL", unix.SIGKILL, false}, {"SIGTERM", unix.SIGTERM, false}, {"sigusr1", unix.SIGUSR1, false},
		{"9", unix.SIGKILL, false}, {"64", unix.Signal(64), false},
		{"0", 0, true}, {"65", 0, true}, {"SIGFOO", 0, true}, {"", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSignal(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseSignal(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestExitCodes runs the CLI in-process on requests that need no sandbox:
// errors exit 1, success 0.
func TestExitCodes(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"list empty", []string{"--root", root, "list"}, 0},
		{"list json", []string{"--root", root, "list", "--format", "json"}, 0},
		{"state missing", []string{"--root", root, "state", "nope"}, 1},
		{"delete missing", []string{"--root", root, "delete", "nope"}, 1},
		{"bad id", []string{"--root", root, "state", "../x"}, 1},
		{"unknown command", []string{"--root", root, "frobnicate"}, 1},
		{"bad list format", []string{"--root", root, "list", "--format", "yaml"}, 1},
		{"systemd cgroup", []string{"--root", root, "--systemd-cgroup", "list"}, 1},
		{"kvm platform", []string{"--root", root, "--platform", "kvm", "list"}, 1},
		{"exec without command", []string{"--root", root, "exec", "x"}, 1},
		{"bad config fd", []string{"boot", "--config-fd", "999"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(tc.args); got != tc.want {
				t.Errorf("visor %v exited %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}

// TestErrorInLog: a failed command's error also lands in --log (JSON
// with level "error", as runc writes it), where the agent's shim reads
// the reason a container could not be created.
func TestErrorInLog(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "runtime.log")
	if code := run([]string{"--root", dir, "--log", logPath, "--log-format", "json", "state", "nope"}); code != 1 {
		t.Fatalf("visor state nope exited %d, want 1", code)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Level, Msg string }
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("log %q is not one JSON line: %v", b, err)
	}
	if e.Level != "error" || !strings.Contains(e.Msg, "container does not exist: nope") {
		t.Errorf("log entry %+v, want level error naming the missing container", e)
	}
}
