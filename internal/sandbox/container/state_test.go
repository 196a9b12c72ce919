package container

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func testRuntime(t *testing.T) *Runtime {
	t.Helper()
	r, err := New(Config{Root: filepath.Join(t.TempDir(), "root"), Binary: "/bin/false"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestValidateID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"abc", true}, {"a.b-c_d+e", true}, {strings.Repeat("a", 1024), true},
		{"", false}, {".", false}, {"..", false}, {"a/b", false}, {"a b", false}, {strings.Repeat("a", 1025), false}, {"é", false},
	} {
		err := ValidateID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadID) {
			t.Errorf("ValidateID(%q) error does not wrap ErrBadID", tc.id)
		}
	}
}

// TestConcurrentStateUpdates: many writers doing read-modify-write of
// state.json under the container lock lose no update, and readers never see
// a torn file.
func TestConcurrentStateUpdates(t *testing.T) {
	r := testRuntime(t)
	const id = "ctr"
	lk, err := r.lock(id, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(r.dir(id), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := r.save(&state{ID: id, Status: specs.StateCreated}); err != nil {
		t.Fatal(err)
	}
	unlock(lk)

	const writers, rounds = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*2)
	for w := 0; w < writers; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				lk, err := r.lock(id, true, false)
				if err != nil {
					errs <- err
					return
				}
				st, err := r.load(id)
				if err == nil {
					st.Owner += "x" // one more update
					err = r.save(st)
				}
				unlock(lk)
				if err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				lk, err := r.lock(id, false, false)
				if err != nil {
					errs <- err
					return
				}
				_, err = r.load(id)
				unlock(lk)
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, err := r.load(id)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(st.Owner); got != writers*rounds {
		t.Errorf("got %d updates, want %d", got, writers*rounds)
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(r.dir(id))
	for _, e := range ents {
		if e.Name() != stateFile {
			t.Errorf("unexpected file %s in state dir", e.Name())
		}
	}
}

// TestLockRemovedWhileWaiting: a waiter on a lock whose container is
// deleted meanwhile sees ErrNotExist, not a stale lock.
func TestLockRemovedWhileWaiting(t *testing.T) {
	r := testRuntime(t)
	const id = "gone"
	lk, err := r.lock(id, true, true)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		f, err := r.lock(id, true, false)
		if err == nil {
			unlock(f)
		}
		got <- err
	}()
	// Delete under the lock, as destroy does, then release.
	os.Remove(r.lockPath(id))
	unlock(lk)
	if err := <-got; !errors.Is(err, ErrNotExist) {
		t.Errorf("waiter got %v, want ErrNotExist", err)
	}
}

func TestStatusDerivation(t *testing.T) {
	r := testRuntime(t)
	self, err := procOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		st   state
		exit string
		want specs.ContainerState
	}{
		{"alive created", state{ID: "a", Status: specs.StateCreated, Sandbox: self}, "", specs.StateCreated},
		{"alive running", state{ID: "b", Status: specs.StateRunning, Sandbox: self}, "", specs.StateRunning},
		{"exit recorded", state{ID: "c", Status: specs.StateRunning, Sandbox: self}, `{"code":3}`, specs.StateStopped},
		{"pid reused", state{ID: "d", Status: specs.StateRunning, Sandbox: proc{PID: self.PID, Start: self.Start + 1}}, "", specs.StateStopped},
		{"creating, never started", state{ID: "e", Status: specs.StateCreating}, "", specs.StateStopped},
		{"half-written exit", state{ID: "f", Status: specs.StateRunning, Sandbox: self}, `{"co`, specs.StateRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.MkdirAll(r.dir(tc.st.ID), 0o700)
			if tc.exit != "" {
				os.WriteFile(filepath.Join(r.dir(tc.st.ID), exitFile), []byte(tc.exit), 0o600)
			}
			if got := r.status(&tc.st); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMissingContainer(t *testing.T) {
	r := testRuntime(t)
	if _, err := r.State("nope"); !errors.Is(err, ErrNotExist) {
		t.Errorf("State: got %v, want ErrNotExist", err)
	}
	if err := r.Delete(t.Context(), "nope", true); !errors.Is(err, ErrNotExist) {
		t.Errorf("Delete: got %v, want ErrNotExist", err)
	}
	if err := r.Start(t.Context(), "nope"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Start: got %v, want ErrNotExist", err)
	}
	// Looking does not leave lock files behind.
	ents, _ := os.ReadDir(r.cfg.Root)
	if len(ents) != 0 {
		t.Errorf("root has %d entries after lookups of a missing container", len(ents))
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"})
	want := []string{"PATH=/bin", "A=2", "B=3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}
