package agent

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindShim(t *testing.T) {
	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")   // holds podvisor
	pathDir := filepath.Join(dir, "path") // a PATH entry
	for _, d := range []string{binDir, pathDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(binDir, "podvisor")
	nextTo := filepath.Join(binDir, ShimBinary)
	inPath := filepath.Join(pathDir, ShimBinary)
	// lookPath finds the shim in pathDir when it is there, as
	// exec.LookPath would with PATH=pathDir.
	lookPath := func(name string) (string, error) {
		p := filepath.Join(pathDir, name)
		if _, err := os.Stat(p); err != nil {
			return "", errors.New("not in PATH")
		}
		return p, nil
	}
	tests := []struct {
		name  string
		files map[string]os.FileMode // present, with mode
		want  shimCommand
	}{
		{name: "next to the agent first", files: map[string]os.FileMode{nextTo: 0o755, inPath: 0o755}, want: shimCommand{path: nextTo}},
		{name: "next to the agent only", files: map[string]os.FileMode{nextTo: 0o755}, want: shimCommand{path: nextTo}},
		{name: "PATH when not next to the agent", files: map[string]os.FileMode{inPath: 0o755}, want: shimCommand{path: inPath}},
		{name: "not executable next to the agent", files: map[string]os.FileMode{nextTo: 0o644, inPath: 0o755}, want: shimCommand{path: inPath}},
		{name: "a directory is no shim", files: map[string]os.FileMode{nextTo: os.ModeDir | 0o755}, want: shimCommand{path: exe, args: []string{"shim"}, fallback: true}},
		{name: "fallback to podvisor shim", want: shimCommand{path: exe, args: []string{"shim"}, fallback: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []string{nextTo, inPath} {
				if err := os.RemoveAll(p); err != nil {
					t.Fatal(err)
				}
			}
			for p, mode := range tc.files {
				var err error
				if mode.IsDir() {
					err = os.Mkdir(p, mode.Perm())
				} else {
					err = os.WriteFile(p, []byte("#!/bin/sh\n"), mode)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			got := findShim(exe, lookPath)
			if d := cmp.Diff(tc.want, got, cmp.AllowUnexported(shimCommand{})); d != "" {
				t.Errorf("findShim (-want +got):\n%s", d)
			}
		})
	}
}
