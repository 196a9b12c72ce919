package oci

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock advances one second per reading.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func TestLogWriterFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	clk := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	w, err := NewLogWriter(p, 0, 0, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", maxLogLine+10)
	if err := w.CopyStream("stdout", strings.NewReader("hello\nworld\n"+long+"\nno newline"), nil); err != nil {
		t.Fatal(err)
	}
	if err := w.CopyStream("stderr", strings.NewReader("oops\n"), nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := []string{
		"2024-01-01T00:00:01.000000000Z stdout F hello",
		"2024-01-01T00:00:02.000000000Z stdout F world",
		"2024-01-01T00:00:03.000000000Z stdout P " + long[:maxLogLine],
		"2024-01-01T00:00:04.000000000Z stdout F " + long[maxLogLine:],
		"2024-01-01T00:00:05.000000000Z stdout P no newline",
		"2024-01-01T00:00:06.000000000Z stderr F oops",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

func TestLogRotationAndRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	clk := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	// Each record is 45 bytes ("<30-byte time> stdout F lineNN\n");
	// 100 bytes hold two.
	w, err := NewLogWriter(p, 100, 3, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 10 {
		in.WriteString("line" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + "\n")
	}
	if err := w.CopyStream("stdout", strings.NewReader(in.String()), nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	files, _ := filepath.Glob(p + "*")
	if len(files) != 3 {
		t.Fatalf("got files %v, want 3 (current + 2 rotated)", files)
	}
	tests := []struct {
		name string
		opts LogOptions
		want string
	}{
		{"all kept", LogOptions{Tail: -1}, "line04\nline05\nline06\nline07\nline08\nline09\n"},
		{"tail 2", LogOptions{Tail: 2}, "line08\nline09\n"},
		{"tail 0", LogOptions{Tail: 0}, ""},
		{"since", LogOptions{Tail: -1, Since: time.Date(2024, 1, 1, 0, 0, 9, 0, time.UTC)}, "line08\nline09\n"},
		{"timestamps", LogOptions{Tail: 1, Timestamps: true}, "2024-01-01T00:00:10Z line09\n"},
		{"limit bytes", LogOptions{Tail: -1, LimitBytes: 10}, "line04\nlin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ReadLogs(context.Background(), p, tc.opts, &out, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("logs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadLogsPartialLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	content := "2024-01-01T00:00:01.000000000Z stdout P abc\n" +
		"2024-01-01T00:00:02.000000000Z stdout F def\n" +
		"garbage line\n" +
		"2024-01-01T00:00:03.000000000Z stderr F ghi\n"
	os.WriteFile(p, []byte(content), 0o644)
	tests := []struct {
		name string
		opts LogOptions
		want string
	}{
		{"joined", LogOptions{Tail: -1}, "abcdef\nghi\n"},
		{"tail counts lines not records", LogOptions{Tail: 2}, "abcdef\nghi\n"},
		{"tail 1", LogOptions{Tail: 1}, "ghi\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := ReadLogs(context.Background(), p, tc.opts, &out, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, out.String()); diff != "" {
				t.Errorf("logs (-want +got):\n%s", diff)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestReadLogsFollowAcrossRotation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	w, err := NewLogWriter(p, 100, 3, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.WriteRecord("stdout", false, []byte("first"))
	var out syncBuffer
	var exited sync.WaitGroup
	exited.Add(1)
	var done bool
	var mu sync.Mutex
	isDone := func() bool { mu.Lock(); defer mu.Unlock(); return done }
	go func() {
		defer exited.Done()
		ReadLogs(context.Background(), p, LogOptions{Tail: -1, Follow: true}, &out, isDone)
	}()
	for !strings.Contains(out.String(), "first") {
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 6 { // rotates twice
		w.WriteRecord("stdout", false, []byte("more"+string(rune('a'+i))))
		time.Sleep(150 * time.Millisecond)
	}
	mu.Lock()
	done = true
	mu.Unlock()
	exited.Wait()
	want := "first\nmorea\nmoreb\nmorec\nmored\nmoree\nmoref\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("followed logs (-want +got):\n%s", diff)
	}
}
