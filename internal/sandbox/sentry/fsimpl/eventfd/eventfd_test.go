package eventfd_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/eventfd"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func errnoOf(err error) abi.Errno {
	var e abi.Errno
	if err == nil || !errors.As(err, &e) {
		return 0
	}
	return e
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func TestEventFD(t *testing.T) {
	ctx := context.Background()
	v := vfs.New(vfs.Config{})
	for _, tc := range []struct {
		name      string
		initial   uint32
		flags     uint32
		writes    []uint64
		wantReads []uint64
	}{
		{name: "counter", initial: 2, writes: []uint64{3, 4}, wantReads: []uint64{9}},
		{name: "semaphore", initial: 2, flags: eventfd.Semaphore, wantReads: []uint64{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := eventfd.New(ctx, v, tc.initial, tc.flags)
			defer fd.DecRef(ctx)
			for _, w := range tc.writes {
				if _, err := fd.Write(ctx, &vfs.BytesSrc{Buf: u64(w)}, vfs.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range tc.wantReads {
				buf := make([]byte, 8)
				if _, err := fd.Read(ctx, &vfs.BytesDst{Buf: buf}, vfs.ReadOptions{}); err != nil {
					t.Fatal(err)
				}
				if got := binary.LittleEndian.Uint64(buf); got != want {
					t.Errorf("read %d, want %d", got, want)
				}
			}
			if _, err := fd.Read(ctx, &vfs.BytesDst{Buf: make([]byte, 8)}, vfs.ReadOptions{}); errnoOf(err) != abi.EAGAIN {
				t.Errorf("read of a zero counter: %v, want EAGAIN", err)
			}
			if fd.Readiness(vfs.EventReadable) != 0 {
				t.Error("a zero counter reports readable")
			}
		})
	}
	fd := eventfd.New(ctx, v, 0, eventfd.NonBlock)
	defer fd.DecRef(ctx)
	if fd.StatusFlags()&abi.O_NONBLOCK == 0 {
		t.Error("EFD_NONBLOCK not set")
	}
	if _, err := fd.Write(ctx, &vfs.BytesSrc{Buf: u64(^uint64(0))}, vfs.WriteOptions{}); errnoOf(err) != abi.EINVAL {
		t.Errorf("writing 2^64-1: %v, want EINVAL", err)
	}
	if _, err := fd.Write(ctx, &vfs.BytesSrc{Buf: u64(^uint64(0) - 1)}, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(ctx, &vfs.BytesSrc{Buf: u64(1)}, vfs.WriteOptions{}); errnoOf(err) != abi.EAGAIN {
		t.Errorf("overflowing write: %v, want EAGAIN", err)
	}
	if _, err := fd.Read(ctx, &vfs.BytesDst{Buf: make([]byte, 4)}, vfs.ReadOptions{}); errnoOf(err) != abi.EINVAL {
		t.Errorf("short read: %v, want EINVAL", err)
	}
}
