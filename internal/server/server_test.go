package server

import "testing"

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in         string
		base, size int
		wantErr    bool
	}{
		{"30000-32767", 30000, 2768, false},
		{"80-80", 80, 1, false},
		{"32767-30000", 0, 0, true},
		{"0-10", 0, 0, true},
		{"30000", 0, 0, true},
		{"a-b", 0, 0, true},
		{"1-70000", 0, 0, true},
	}
	for _, tc := range tests {
		base, size, err := ParsePortRange(tc.in)
		if (err != nil) != tc.wantErr || base != tc.base || size != tc.size {
			t.Errorf("ParsePortRange(%q) = %d, %d, %v; want %d, %d, error %v", tc.in, base, size, err, tc.base, tc.size, tc.wantErr)
		}
	}
}

func TestSchedulerLeaseName(t *testing.T) {
	tests := []struct {
		name, schedulerName, want string
	}{
		{"empty is the default scheduler", "", "kube-scheduler"},
		{"default scheduler", "default-scheduler", "kube-scheduler"},
		{"another scheduler elects on its own Lease", "gpu-scheduler", "gpu-scheduler"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SchedulerLeaseName(tc.schedulerName); got != tc.want {
				t.Errorf("SchedulerLeaseName(%q) = %q, want %q", tc.schedulerName, got, tc.want)
			}
		})
	}
}
