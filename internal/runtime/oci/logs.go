package oci

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The CRI log format, one record per line:
//
//	2024-01-01T00:00:00.000000000Z stdout F hello
//
// timestamp (RFC 3339, nanoseconds, UTC), stream, tag (F for a full line,
// P for a partial one whose rest follows in the next record), content.

const (
	defaultLogMaxSize  = 10 << 20
	defaultLogMaxFiles = 5
	// maxLogLine splits longer lines into P records, as containerd does.
	maxLogLine = 16 << 10
)

// criTime is the timestamp layout of CRI log records (fixed width).
const criTime = "2006-01-02T15:04:05.000000000Z07:00"

// LogWriter appends CRI records to a file and rotates it by size: path is
// current, path.1 the previous, up to path.<maxFiles-1>. It is safe for
// concurrent use by the stdout and stderr copiers.
type LogWriter struct {
	path     string
	maxSize  int64
	maxFiles int
	now      func() time.Time

	mu   sync.Mutex
	f    *os.File // +checklocks:mu
	size int64    // +checklocks:mu
}

// NewLogWriter opens (appending) the log at path. now is the clock.
func NewLogWriter(path string, maxSize int64, maxFiles int, now func() time.Time) (*LogWriter, error) {
	if maxSize <= 0 {
		maxSize = defaultLogMaxSize
	}
	if maxFiles <= 0 {
		maxFiles = defaultLogMaxFiles
	}
	w := &LogWriter{path: path, maxSize: maxSize, maxFiles: maxFiles, now: now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *LogWriter) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("opening log %s: %w", w.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log %s: %w", w.path, err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// rotate shifts path.N-1 → path.N …, path → path.1, dropping the oldest.
// +checklocks:w.mu
func (w *LogWriter) rotate() error {
	w.f.Close()
	if w.maxFiles == 1 {
		if err := os.Truncate(w.path, 0); err != nil {
			return fmt.Errorf("truncating log: %w", err)
		}
		return w.open()
	}
	os.Remove(fmt.Sprintf("%s.%d", w.path, w.maxFiles-1))
	for i := w.maxFiles - 2; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", w.path, i), fmt.Sprintf("%s.%d", w.path, i+1))
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("rotating log: %w", err)
	}
	return w.open()
}

// WriteRecord appends one record.
func (w *LogWriter) WriteRecord(stream string, partial bool, content []byte) error {
	tag := "F"
	if partial {
		tag = "P"
	}
	var b bytes.Buffer
	b.Grow(len(content) + 48)
	b.WriteString(w.now().UTC().Format(criTime))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(content)
	b.WriteByte('\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size > 0 && w.size+int64(b.Len()) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(b.Bytes())
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("writing log: %w", err)
	}
	return nil
}

// Close closes the current file.
func (w *LogWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// CopyStream reads r until EOF and writes each line as a record of stream;
// lines longer than maxLogLine become P records. tee, if non-nil, also gets
// the raw bytes (for attached clients).
func (w *LogWriter) CopyStream(stream string, r io.Reader, tee func(stream string, p []byte)) error {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if tee != nil {
				tee(stream, line)
			}
			full := line[len(line)-1] == '\n'
			if full {
				line = line[:len(line)-1]
			}
			if werr := w.WriteRecord(stream, !full, line); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return fmt.Errorf("reading %s: %w", stream, err)
		}
	}
}

// LogRecord is one parsed CRI record.
type LogRecord struct {
	Time    time.Time
	Stream  string
	Partial bool
	Content []byte
}

// ParseLogRecord parses one CRI line (without its newline).
func ParseLogRecord(line []byte) (LogRecord, error) {
	var r LogRecord
	parts := bytes.SplitN(line, []byte{' '}, 4)
	if len(parts) < 3 {
		return r, fmt.Errorf("malformed log record %q", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(parts[0]))
	if err != nil {
		return r, fmt.Errorf("malformed log timestamp %q: %w", parts[0], err)
	}
	r.Time, r.Stream = t, string(parts[1])
	switch string(parts[2]) {
	case "F":
	case "P":
		r.Partial = true
	default:
		return r, fmt.Errorf("malformed log tag %q", parts[2])
	}
	if len(parts) == 4 {
		r.Content = parts[3]
	}
	return r, nil
}

// LogOptions select what ReadLogs returns.
type LogOptions struct {
	// Follow keeps reading as the log grows, until ctx is done or done
	// reports that the container has exited and everything was read.
	Follow bool
	// Tail returns only the last Tail lines; negative is all.
	Tail int
	// Since drops records before it.
	Since time.Time
	// Timestamps prefixes each line with its RFC 3339 timestamp.
	Timestamps bool
	// LimitBytes stops after this many bytes of output; 0 is no limit.
	LimitBytes int64
}

// logFiles returns the existing files of the log at path, oldest first.
func logFiles(path string) []string {
	var files []string
	for i := 64; i >= 1; i-- {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	return append(files, path)
}

// logOut writes decoded records to w with the options' formatting.
type logOut struct {
	w       io.Writer
	opts    LogOptions
	written int64
	midLine bool // the previous record was partial
}

var errLimit = errors.New("log byte limit reached")

func (o *logOut) emit(r LogRecord) error {
	if !o.opts.Since.IsZero() && r.Time.Before(o.opts.Since) {
		return nil
	}
	var b []byte
	if o.opts.Timestamps && !o.midLine {
		b = append(b, r.Time.Format(time.RFC3339Nano)...)
		b = append(b, ' ')
	}
	b = append(b, r.Content...)
	if !r.Partial {
		b = append(b, '\n')
	}
	o.midLine = r.Partial
	if o.opts.LimitBytes > 0 && o.written+int64(len(b)) > o.opts.LimitBytes {
		b = b[:o.opts.LimitBytes-o.written]
		o.w.Write(b)
		return errLimit
	}
	n, err := o.w.Write(b)
	o.written += int64(n)
	return err
}

// ReadLogs writes the log at path (with its rotated files) to w. With
// Follow it waits for new records, follows rotation, and returns when ctx
// is done or exited() is true and the log is drained. exited may be nil.
func ReadLogs(ctx context.Context, path string, opts LogOptions, w io.Writer, exited func() bool) error {
	out := &logOut{w: w, opts: opts}
	var pending []LogRecord // for Tail: the last lines, in full
	tailing := opts.Tail >= 0
	files := logFiles(path)
	var cur *os.File
	var curIno uint64
	var rest []byte
	handle := func(line []byte) error {
		r, err := ParseLogRecord(line)
		if err != nil {
			return nil // a torn or foreign line is skipped, not fatal
		}
		if tailing {
			pending = append(pending, r)
			return nil
		}
		return out.emit(r)
	}
	readAll := func(f *os.File) error {
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				rest = append(rest, buf[:n]...)
				for {
					i := bytes.IndexByte(rest, '\n')
					if i < 0 {
						break
					}
					if herr := handle(rest[:i]); herr != nil {
						return herr
					}
					rest = rest[i+1:]
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	for i, p := range files {
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("opening log: %w", err)
		}
		err = readAll(f)
		if i == len(files)-1 {
			cur = f
			curIno = inode(f)
		} else {
			f.Close()
		}
		if err != nil {
			if cur != nil {
				cur.Close()
			}
			if errors.Is(err, errLimit) {
				return nil
			}
			return err
		}
	}
	if cur != nil {
		defer func() { cur.Close() }()
	}
	if tailing {
		pending = tailRecords(pending, opts.Tail)
		for _, r := range pending {
			if err := out.emit(r); err != nil {
				if errors.Is(err, errLimit) {
					return nil
				}
				return err
			}
		}
		tailing = false
	}
	if !opts.Follow {
		return nil
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		done := exited != nil && exited()
		if cur == nil {
			if f, err := os.Open(path); err == nil {
				cur, curIno = f, inode(f)
			}
		}
		if cur != nil {
			if err := readAll(cur); err != nil {
				if errors.Is(err, errLimit) {
					return nil
				}
				return err
			}
			// Rotated: the path names a new file. Drain the old one
			// (done above) and switch.
			if st, err := os.Stat(path); err == nil && statIno(st) != curIno {
				cur.Close()
				cur = nil
				rest = nil
				continue
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// tailRecords keeps the records of the last n lines (a line may span
// several P records).
func tailRecords(rs []LogRecord, n int) []LogRecord {
	if n == 0 {
		return nil
	}
	lines := 0
	for i := len(rs) - 1; i >= 0; i-- {
		if !rs[i].Partial {
			lines++
			if lines > n {
				return rs[i+1:]
			}
		}
	}
	return rs
}

func inode(f *os.File) uint64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return statIno(st)
}

func statIno(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}
