// Package loader builds a fresh process image for execve: it reads an ELF
// executable (or a `#!` script and its interpreter), maps its segments into
// a new address space, sets up the heap start and the initial stack with
// argv, envp and the auxiliary vector, and returns the entry point and
// stack pointer.
//
// Hostile input is expected: a non-ELF, truncated or malformed file fails
// with ENOEXEC (or EINVAL for impossible layouts), never a panic. Static
// executables (ET_EXEC and static PIE) and dynamic ones (PT_INTERP: the
// interpreter is loaded too and started with AT_BASE; it maps its
// libraries itself through mmap of files) are both tested.
//
// loader sits beside the kernel: it imports abi, memmap and mm, and reads
// files through the small File interface the kernel implements over vfs.
package loader

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm"
)

// File is an executable opened for execve.
type File interface {
	// ReadAt reads len(p) bytes at off; a short read returns the bytes
	// read and an error (io.EOF at the end of the file).
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	// ConfigureMMap sets opts.Mappable and opts.MappingIdentity (with a
	// reference) for mapping the file, or fails with abi.ENODEV if the
	// file cannot be mapped (the loader then copies its contents).
	ConfigureMMap(ctx context.Context, opts *memmap.MMapOpts) error
	// DecRef releases the file.
	DecRef(ctx context.Context)
}

// Config describes one execve.
type Config struct {
	// Filename is the path given to execve.
	Filename string
	// Argv and Envv are the arguments and environment.
	Argv, Envv []string
	// Open opens a path (relative to the caller's working directory) for
	// execution: it checks it is a regular, executable file.
	Open func(ctx context.Context, path string) (File, error)
	// Credentials for the auxiliary vector.
	UID, EUID, GID, EGID uint32
	// StackLimit is RLIMIT_STACK.
	StackLimit uint64
	// Random is copied to the stack for AT_RANDOM.
	Random [16]byte
	// HWCap is AT_HWCAP (CPUID leaf 1 EDX on amd64).
	HWCap uint64
}

// Image is the result of a successful load.
type Image struct {
	// Entry is where execution starts (the interpreter's entry for a
	// dynamic executable).
	Entry uint64
	// StackPointer is the initial RSP (pointing at argc).
	StackPointer uint64
	// File is the ELF file that was loaded (the interpreter named by `#!`
	// for a script); the caller takes over its reference.
	File File
	// Name is the new task name (comm): the basename of the executed path.
	Name string
	// Argv is the final argument list (a script's is rewritten).
	Argv []string
}

// maxScriptDepth bounds `#!` interpreters naming further scripts (Linux
// allows 4 levels: BINPRM_MAX_RECURSION).
const maxScriptDepth = 4

// Load loads cfg.Filename into m, which must be a fresh address space.
func Load(ctx context.Context, m *mm.MemoryManager, cfg Config) (Image, error) {
	if len(cfg.Argv)+len(cfg.Envv) > 0x7fffffff {
		return Image{}, abi.E2BIG
	}
	path := cfg.Filename
	argv := cfg.Argv
	var f File
	var hdr []byte
	for depth := 0; ; depth++ {
		var err error
		f, err = cfg.Open(ctx, path)
		if err != nil {
			return Image{}, err
		}
		hdr = make([]byte, 256)
		n, rerr := f.ReadAt(ctx, hdr, 0)
		hdr = hdr[:n]
		if n == 0 && rerr != nil && !isEOF(rerr) {
			f.DecRef(ctx)
			return Image{}, abi.EIO
		}
		if len(hdr) >= 2 && hdr[0] == '#' && hdr[1] == '!' {
			f.DecRef(ctx)
			if depth >= maxScriptDepth {
				return Image{}, abi.ELOOP
			}
			interp, arg, err := parseShebang(hdr)
			if err != nil {
				return Image{}, err
			}
			// argv becomes: interp [arg] path argv[1:]...
			nargv := []string{interp}
			if arg != "" {
				nargv = append(nargv, arg)
			}
			nargv = append(nargv, path)
			if len(argv) > 1 {
				nargv = append(nargv, argv[1:]...)
			}
			argv = nargv
			path = interp
			continue
		}
		break
	}
	img, err := loadELF(ctx, m, f, hdr, cfg, argv)
	if err != nil {
		f.DecRef(ctx)
		return Image{}, err
	}
	img.File = f
	img.Name = basename(cfg.Filename)
	img.Argv = argv
	return img, nil
}

// parseShebang parses a `#!interpreter [arg]` line from the head of a
// file. Like Linux, everything after the interpreter (trimmed) is one
// argument.
func parseShebang(hdr []byte) (interp, arg string, err error) {
	line := string(hdr[2:])
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	} else if len(hdr) == 256 {
		// Linux reads a 256-byte buffer; a longer line is truncated,
		// which we accept the same way.
		line = strings.TrimRight(line, "\x00")
	}
	line = strings.Trim(line, " \t")
	if line == "" {
		return "", "", abi.ENOEXEC
	}
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		interp, arg = line[:i], strings.Trim(line[i:], " \t")
	} else {
		interp = line
	}
	if strings.IndexByte(interp, 0) >= 0 || strings.IndexByte(arg, 0) >= 0 {
		return "", "", abi.ENOEXEC
	}
	return interp, arg, nil
}

func basename(p string) string {
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	if len(p) > abi.TASK_COMM_LEN-1 {
		p = p[:abi.TASK_COMM_LEN-1]
	}
	return p
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
