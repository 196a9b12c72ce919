package boot

import (
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
)

func TestTmpfsData(t *testing.T) {
	tests := []struct {
		name string
		data []string
		want string
	}{
		{name: "none", data: nil, want: ""},
		{name: "kept", data: []string{"mode=755", "size=65536k", "uid=1", "gid=2"}, want: "mode=755,size=65536k,uid=1,gid=2"},
		{name: "dropped", data: []string{"nr_inodes=100", "mode=1777", "newinstance"}, want: "mode=1777"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tmpfsData(tc.data); got != tc.want {
				t.Errorf("tmpfsData(%q) = %q, want %q", tc.data, got, tc.want)
			}
		})
	}
}

func TestDefaultMount(t *testing.T) {
	tests := []struct {
		name string
		m    bootconfig.Mount
		want bool
	}{
		{name: "proc", m: bootconfig.Mount{Destination: "/proc", Type: bootconfig.MountProc}, want: true},
		{name: "dev tmpfs", m: bootconfig.Mount{Destination: "/dev", Type: bootconfig.MountTmpfs}, want: true},
		{name: "dev pts", m: bootconfig.Mount{Destination: "/dev/pts", Type: bootconfig.MountDevpts}, want: true},
		{name: "dev shm", m: bootconfig.Mount{Destination: "/dev/shm", Type: bootconfig.MountTmpfs}, want: true},
		{name: "bind over proc", m: bootconfig.Mount{Destination: "/proc", Type: bootconfig.MountBind}, want: false},
		{name: "tmp tmpfs", m: bootconfig.Mount{Destination: "/tmp", Type: bootconfig.MountTmpfs}, want: false},
		{name: "second proc", m: bootconfig.Mount{Destination: "/host/proc", Type: bootconfig.MountProc}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := defaultMount(tc.m); got != tc.want {
				t.Errorf("defaultMount(%+v) = %v, want %v", tc.m, got, tc.want)
			}
		})
	}
}
