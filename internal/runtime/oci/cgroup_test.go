package oci

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeCgroup writes files (path relative to root → content).
func fakeCgroup(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCgroupStats(t *testing.T) {
	now := time.Unix(100, 0)
	tests := []struct {
		name  string
		v2    bool
		files map[string]string
		want  Stats
		oom   uint64
	}{
		{
			name: "v1",
			files: map[string]string{
				"cpuacct/pod/c/cpuacct.usage":        "123456789\n",
				"memory/pod/c/memory.usage_in_bytes": "10485760\n",
				"memory/pod/c/memory.stat":           "cache 100\ntotal_inactive_file 1048576\n",
				"memory/pod/c/memory.limit_in_bytes": "9223372036854771712\n",
				"memory/pod/c/memory.oom_control":    "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
				"pids/pod/c/pids.current":            "3\n",
			},
			want: Stats{Timestamp: now, CPUUsageNanos: 123456789, MemoryUsageBytes: 10485760, MemoryWorkingSetBytes: 9437184, Pids: 3},
			oom:  2,
		},
		{
			name: "v2",
			v2:   true,
			files: map[string]string{
				"pod/c/cpu.stat":       "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\n",
				"pod/c/memory.current": "2097152\n",
				"pod/c/memory.stat":    "anon 1000\ninactive_file 4194304\n",
				"pod/c/memory.max":     "16777216\n",
				"pod/c/memory.events":  "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
				"pod/c/pids.current":   "7\n",
			},
			// inactive above usage: working set floors at 0.
			want: Stats{Timestamp: now, CPUUsageNanos: 5000000, MemoryUsageBytes: 2097152, MemoryWorkingSetBytes: 0, MemoryLimitBytes: 16777216, Pids: 7},
			oom:  1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeCgroup(t, tc.files)
			got, err := cgroupStatsAt(root, tc.v2, "/pod/c", now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			n, err := oomKillCountAt(root, tc.v2, "/pod/c")
			if err != nil || n != tc.oom {
				t.Errorf("oom kills %d %v, want %d", n, err, tc.oom)
			}
		})
	}
	if _, err := cgroupStatsAt(t.TempDir(), false, "/missing", now); err == nil {
		t.Errorf("stats of a missing cgroup succeeded")
	}
}
