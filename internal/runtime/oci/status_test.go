package oci

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestStatusWithoutRuntime checks which container records Status answers
// from its files alone and which make it ask the runtime (here a missing
// binary, so asking fails).
func TestStatusWithoutRuntime(t *testing.T) {
	const id = "0123456789abcdef01234567"
	self, err := procStart(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	// This test process stands in for a live shim and init.
	live := containerMeta{ID: id, Name: "c", Handler: "fake", ShimPid: os.Getpid(), ShimStart: self}
	tests := []struct {
		name    string
		meta    containerMeta
		pending bool
		want    State // "" means the runtime is asked
	}{
		{name: "being created", meta: containerMeta{ID: id, Name: "c", Handler: "fake"}, pending: true, want: StateCreated},
		{name: "being started", meta: func() containerMeta { m := live; m.Starting = true; return m }(), pending: true, want: StateCreated},
		{name: "created, never started", meta: live, want: StateCreated},
		{name: "started", meta: func() containerMeta { m := live; m.Starting, m.StartedAt = true, started; return m }(), want: StateRunning},
		{name: "start attempted, not recorded", meta: func() containerMeta { m := live; m.Starting = true; return m }()},
		{name: "no shim recorded", meta: containerMeta{ID: id, Name: "c", Handler: "fake"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := New(Config{
				StateDir: dir, ShimPath: "/nonexistent/shim", DefaultHandler: "fake",
				Handlers: map[string]Handler{"fake": {Binary: "/nonexistent/runtime"}},
			}, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(r.dir(id), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := writeJSONAtomic(filepath.Join(r.dir(id), "meta.json"), tc.meta); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(r.dir(id), "init.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.pending {
				defer r.setPending(id)()
			}
			st, err := r.Status(context.Background(), id)
			switch {
			case tc.want == "" && err == nil:
				t.Errorf("Status = %s without asking the runtime, want it asked", st.State)
			case tc.want != "" && err != nil:
				t.Errorf("Status: %v, want %s from the files", err, tc.want)
			case tc.want != "" && st.State != tc.want:
				t.Errorf("Status = %s, want %s", st.State, tc.want)
			}
		})
	}
}
