//go:build integration

package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

type syscallStat struct{}

func (syscallStat) ino(t *testing.T, path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
