package abi

import "strconv"

// Errno is a Linux error number, as returned (negated) by a system call.
// Sentry system call handlers return only Errno values as errors; host
// errors are translated at the boundary with FromHost.
type Errno uint32

// Linux error numbers (amd64; the same on every Linux architecture but a few).
const (
	EPERM           Errno = 1   // Operation not permitted
	ENOENT          Errno = 2   // No such file or directory
	ESRCH           Errno = 3   // No such process
	EINTR           Errno = 4   // Interrupted system call
	EIO             Errno = 5   // Input/output error
	ENXIO           Errno = 6   // No such device or address
	E2BIG           Errno = 7   // Argument list too long
	ENOEXEC         Errno = 8   // Exec format error
	EBADF           Errno = 9   // Bad file descriptor
	ECHILD          Errno = 10  // No child processes
	EAGAIN          Errno = 11  // Resource temporarily unavailable
	ENOMEM          Errno = 12  // Cannot allocate memory
	EACCES          Errno = 13  // Permission denied
	EFAULT          Errno = 14  // Bad address
	ENOTBLK         Errno = 15  // Block device required
	EBUSY           Errno = 16  // Device or resource busy
	EEXIST          Errno = 17  // File exists
	EXDEV           Errno = 18  // Invalid cross-device link
	ENODEV          Errno = 19  // No such device
	ENOTDIR         Errno = 20  // Not a directory
	EISDIR          Errno = 21  // Is a directory
	EINVAL          Errno = 22  // Invalid argument
	ENFILE          Errno = 23  // Too many open files in system
	EMFILE          Errno = 24  // Too many open files
	ENOTTY          Errno = 25  // Inappropriate ioctl for device
	ETXTBSY         Errno = 26  // Text file busy
	EFBIG           Errno = 27  // File too large
	ENOSPC          Errno = 28  // No space left on device
	ESPIPE          Errno = 29  // Illegal seek
	EROFS           Errno = 30  // Read-only file system
	EMLINK          Errno = 31  // Too many links
	EPIPE           Errno = 32  // Broken pipe
	EDOM            Errno = 33  // Numerical argument out of domain
	ERANGE          Errno = 34  // Numerical result out of range
	EDEADLK         Errno = 35  // Resource deadlock avoided
	ENAMETOOLONG    Errno = 36  // File name too long
	ENOLCK          Errno = 37  // No locks available
	ENOSYS          Errno = 38  // Function not implemented
	ENOTEMPTY       Errno = 39  // Directory not empty
	ELOOP           Errno = 40  // Too many levels of symbolic links
	ENOMSG          Errno = 42  // No message of desired type
	EIDRM           Errno = 43  // Identifier removed
	ECHRNG          Errno = 44  // Channel number out of range
	EL2NSYNC        Errno = 45  // Level 2 not synchronized
	EL3HLT          Errno = 46  // Level 3 halted
	EL3RST          Errno = 47  // Level 3 reset
	ELNRNG          Errno = 48  // Link number out of range
	EUNATCH         Errno = 49  // Protocol driver not attached
	ENOCSI          Errno = 50  // No CSI structure available
	EL2HLT          Errno = 51  // Level 2 halted
	EBADE           Errno = 52  // Invalid exchange
	EBADR           Errno = 53  // Invalid request descriptor
	EXFULL          Errno = 54  // Exchange full
	ENOANO          Errno = 55  // No anode
	EBADRQC         Errno = 56  // Invalid request code
	EBADSLT         Errno = 57  // Invalid slot
	EBFONT          Errno = 59  // Bad font file format
	ENOSTR          Errno = 60  // Device not a stream
	ENODATA         Errno = 61  // No data available
	ETIME           Errno = 62  // Timer expired
	ENOSR           Errno = 63  // Out of streams resources
	ENONET          Errno = 64  // Machine is not on the network
	ENOPKG          Errno = 65  // Package not installed
	EREMOTE         Errno = 66  // Object is remote
	ENOLINK         Errno = 67  // Link has been severed
	EADV            Errno = 68  // Advertise error
	ESRMNT          Errno = 69  // Srmount error
	ECOMM           Errno = 70  // Communication error on send
	EPROTO          Errno = 71  // Protocol error
	EMULTIHOP       Errno = 72  // Multihop attempted
	EDOTDOT         Errno = 73  // RFS specific error
	EBADMSG         Errno = 74  // Bad message
	EOVERFLOW       Errno = 75  // Value too large for defined data type
	ENOTUNIQ        Errno = 76  // Name not unique on network
	EBADFD          Errno = 77  // File descriptor in bad state
	EREMCHG         Errno = 78  // Remote address changed
	ELIBACC         Errno = 79  // Can not access a needed shared library
	ELIBBAD         Errno = 80  // Accessing a corrupted shared library
	ELIBSCN         Errno = 81  // .lib section in a.out corrupted
	ELIBMAX         Errno = 82  // Attempting to link in too many shared libraries
	ELIBEXEC        Errno = 83  // Cannot exec a shared library directly
	EILSEQ          Errno = 84  // Invalid or incomplete multibyte or wide character
	ERESTART        Errno = 85  // Interrupted system call should be restarted
	ESTRPIPE        Errno = 86  // Streams pipe error
	EUSERS          Errno = 87  // Too many users
	ENOTSOCK        Errno = 88  // Socket operation on non-socket
	EDESTADDRREQ    Errno = 89  // Destination address required
	EMSGSIZE        Errno = 90  // Message too long
	EPROTOTYPE      Errno = 91  // Protocol wrong type for socket
	ENOPROTOOPT     Errno = 92  // Protocol not available
	EPROTONOSUPPORT Errno = 93  // Protocol not supported
	ESOCKTNOSUPPORT Errno = 94  // Socket type not supported
	EOPNOTSUPP      Errno = 95  // Operation not supported
	EPFNOSUPPORT    Errno = 96  // Protocol family not supported
	EAFNOSUPPORT    Errno = 97  // Address family not supported by protocol
	EADDRINUSE      Errno = 98  // Address already in use
	EADDRNOTAVAIL   Errno = 99  // Cannot assign requested address
	ENETDOWN        Errno = 100 // Network is down
	ENETUNREACH     Errno = 101 // Network is unreachable
	ENETRESET       Errno = 102 // Network dropped connection on reset
	ECONNABORTED    Errno = 103 // Software caused connection abort
	ECONNRESET      Errno = 104 // Connection reset by peer
	ENOBUFS         Errno = 105 // No buffer space available
	EISCONN         Errno = 106 // Transport endpoint is already connected
	ENOTCONN        Errno = 107 // Transport endpoint is not connected
	ESHUTDOWN       Errno = 108 // Cannot send after transport endpoint shutdown
	ETOOMANYREFS    Errno = 109 // Too many references: cannot splice
	ETIMEDOUT       Errno = 110 // Connection timed out
	ECONNREFUSED    Errno = 111 // Connection refused
	EHOSTDOWN       Errno = 112 // Host is down
	EHOSTUNREACH    Errno = 113 // No route to host
	EALREADY        Errno = 114 // Operation already in progress
	EINPROGRESS     Errno = 115 // Operation now in progress
	ESTALE          Errno = 116 // Stale file handle
	EUCLEAN         Errno = 117 // Structure needs cleaning
	ENOTNAM         Errno = 118 // Not a XENIX named type file
	ENAVAIL         Errno = 119 // No XENIX semaphores available
	EISNAM          Errno = 120 // Is a named type file
	EREMOTEIO       Errno = 121 // Remote I/O error
	EDQUOT          Errno = 122 // Disk quota exceeded
	ENOMEDIUM       Errno = 123 // No medium found
	EMEDIUMTYPE     Errno = 124 // Wrong medium type
	ECANCELED       Errno = 125 // Operation canceled
	ENOKEY          Errno = 126 // Required key not available
	EKEYEXPIRED     Errno = 127 // Key has expired
	EKEYREVOKED     Errno = 128 // Key has been revoked
	EKEYREJECTED    Errno = 129 // Key was rejected by service
	EOWNERDEAD      Errno = 130 // Owner died
	ENOTRECOVERABLE Errno = 131 // State not recoverable
	ERFKILL         Errno = 132 // Operation not possible due to RF-kill
	EHWPOISON       Errno = 133 // Memory page has hardware error
)

// Aliases Linux defines for the same numbers.
const (
	EWOULDBLOCK = EAGAIN
	EDEADLOCK   = EDEADLK
	ENOTSUP     = EOPNOTSUPP
)

// Kernel-internal error numbers: a handler returns them to ask for the
// system call to be restarted after a signal; they never reach the
// application (the kernel turns them into EINTR or a restart).
const (
	// ERESTARTSYS restarts the call if the handler has SA_RESTART (or no
	// handler runs), else the call fails with EINTR.
	ERESTARTSYS Errno = 512
	// ERESTARTNOINTR always restarts the call.
	ERESTARTNOINTR Errno = 513
	// ERESTARTNOHAND restarts the call if no handler runs, else EINTR.
	ERESTARTNOHAND Errno = 514
	// ERESTARTRestartBlock restarts through restart_syscall if no handler
	// runs, else EINTR (nanosleep, clock_nanosleep).
	ERESTARTRestartBlock Errno = 516
)

var errnoNames = [...]string{
	1:   "EPERM",
	2:   "ENOENT",
	3:   "ESRCH",
	4:   "EINTR",
	5:   "EIO",
	6:   "ENXIO",
	7:   "E2BIG",
	8:   "ENOEXEC",
	9:   "EBADF",
	10:  "ECHILD",
	11:  "EAGAIN",
	12:  "ENOMEM",
	13:  "EACCES",
	14:  "EFAULT",
	15:  "ENOTBLK",
	16:  "EBUSY",
	17:  "EEXIST",
	18:  "EXDEV",
	19:  "ENODEV",
	20:  "ENOTDIR",
	21:  "EISDIR",
	22:  "EINVAL",
	23:  "ENFILE",
	24:  "EMFILE",
	25:  "ENOTTY",
	26:  "ETXTBSY",
	27:  "EFBIG",
	28:  "ENOSPC",
	29:  "ESPIPE",
	30:  "EROFS",
	31:  "EMLINK",
	32:  "EPIPE",
	33:  "EDOM",
	34:  "ERANGE",
	35:  "EDEADLK",
	36:  "ENAMETOOLONG",
	37:  "ENOLCK",
	38:  "ENOSYS",
	39:  "ENOTEMPTY",
	40:  "ELOOP",
	42:  "ENOMSG",
	43:  "EIDRM",
	44:  "ECHRNG",
	45:  "EL2NSYNC",
	46:  "EL3HLT",
	47:  "EL3RST",
	48:  "ELNRNG",
	49:  "EUNATCH",
	50:  "ENOCSI",
	51:  "EL2HLT",
	52:  "EBADE",
	53:  "EBADR",
	54:  "EXFULL",
	55:  "ENOANO",
	56:  "EBADRQC",
	57:  "EBADSLT",
	59:  "EBFONT",
	60:  "ENOSTR",
	61:  "ENODATA",
	62:  "ETIME",
	63:  "ENOSR",
	64:  "ENONET",
	65:  "ENOPKG",
	66:  "EREMOTE",
	67:  "ENOLINK",
	68:  "EADV",
	69:  "ESRMNT",
	70:  "ECOMM",
	71:  "EPROTO",
	72:  "EMULTIHOP",
	73:  "EDOTDOT",
	74:  "EBADMSG",
	75:  "EOVERFLOW",
	76:  "ENOTUNIQ",
	77:  "EBADFD",
	78:  "EREMCHG",
	79:  "ELIBACC",
	80:  "ELIBBAD",
	81:  "ELIBSCN",
	82:  "ELIBMAX",
	83:  "ELIBEXEC",
	84:  "EILSEQ",
	85:  "ERESTART",
	86:  "ESTRPIPE",
	87:  "EUSERS",
	88:  "ENOTSOCK",
	89:  "EDESTADDRREQ",
	90:  "EMSGSIZE",
	91:  "EPROTOTYPE",
	92:  "ENOPROTOOPT",
	93:  "EPROTONOSUPPORT",
	94:  "ESOCKTNOSUPPORT",
	95:  "EOPNOTSUPP",
	96:  "EPFNOSUPPORT",
	97:  "EAFNOSUPPORT",
	98:  "EADDRINUSE",
	99:  "EADDRNOTAVAIL",
	100: "ENETDOWN",
	101: "ENETUNREACH",
	102: "ENETRESET",
	103: "ECONNABORTED",
	104: "ECONNRESET",
	105: "ENOBUFS",
	106: "EISCONN",
	107: "ENOTCONN",
	108: "ESHUTDOWN",
	109: "ETOOMANYREFS",
	110: "ETIMEDOUT",
	111: "ECONNREFUSED",
	112: "EHOSTDOWN",
	113: "EHOSTUNREACH",
	114: "EALREADY",
	115: "EINPROGRESS",
	116: "ESTALE",
	117: "EUCLEAN",
	118: "ENOTNAM",
	119: "ENAVAIL",
	120: "EISNAM",
	121: "EREMOTEIO",
	122: "EDQUOT",
	123: "ENOMEDIUM",
	124: "EMEDIUMTYPE",
	125: "ECANCELED",
	126: "ENOKEY",
	127: "EKEYEXPIRED",
	128: "EKEYREVOKED",
	129: "EKEYREJECTED",
	130: "EOWNERDEAD",
	131: "ENOTRECOVERABLE",
	132: "ERFKILL",
	133: "EHWPOISON",
}

var errnoText = [...]string{
	1:   "operation not permitted",
	2:   "no such file or directory",
	3:   "no such process",
	4:   "interrupted system call",
	5:   "input/output error",
	6:   "no such device or address",
	7:   "argument list too long",
	8:   "exec format error",
	9:   "bad file descriptor",
	10:  "no child processes",
	11:  "resource temporarily unavailable",
	12:  "cannot allocate memory",
	13:  "permission denied",
	14:  "bad address",
	15:  "block device required",
	16:  "device or resource busy",
	17:  "file exists",
	18:  "invalid cross-device link",
	19:  "no such device",
	20:  "not a directory",
	21:  "is a directory",
	22:  "invalid argument",
	23:  "too many open files in system",
	24:  "too many open files",
	25:  "inappropriate ioctl for device",
	26:  "text file busy",
	27:  "file too large",
	28:  "no space left on device",
	29:  "illegal seek",
	30:  "read-only file system",
	31:  "too many links",
	32:  "broken pipe",
	33:  "numerical argument out of domain",
	34:  "numerical result out of range",
	35:  "resource deadlock avoided",
	36:  "file name too long",
	37:  "no locks available",
	38:  "function not implemented",
	39:  "directory not empty",
	40:  "too many levels of symbolic links",
	42:  "no message of desired type",
	43:  "identifier removed",
	44:  "channel number out of range",
	45:  "level 2 not synchronized",
	46:  "level 3 halted",
	47:  "level 3 reset",
	48:  "link number out of range",
	49:  "protocol driver not attached",
	50:  "no CSI structure available",
	51:  "level 2 halted",
	52:  "invalid exchange",
	53:  "invalid request descriptor",
	54:  "exchange full",
	55:  "no anode",
	56:  "invalid request code",
	57:  "invalid slot",
	59:  "bad font file format",
	60:  "device not a stream",
	61:  "no data available",
	62:  "timer expired",
	63:  "out of streams resources",
	64:  "machine is not on the network",
	65:  "package not installed",
	66:  "object is remote",
	67:  "link has been severed",
	68:  "advertise error",
	69:  "srmount error",
	70:  "communication error on send",
	71:  "protocol error",
	72:  "multihop attempted",
	73:  "RFS specific error",
	74:  "bad message",
	75:  "value too large for defined data type",
	76:  "name not unique on network",
	77:  "file descriptor in bad state",
	78:  "remote address changed",
	79:  "can not access a needed shared library",
	80:  "accessing a corrupted shared library",
	81:  ".lib section in a.out corrupted",
	82:  "attempting to link in too many shared libraries",
	83:  "cannot exec a shared library directly",
	84:  "invalid or incomplete multibyte or wide character",
	85:  "interrupted system call should be restarted",
	86:  "streams pipe error",
	87:  "too many users",
	88:  "socket operation on non-socket",
	89:  "destination address required",
	90:  "message too long",
	91:  "protocol wrong type for socket",
	92:  "protocol not available",
	93:  "protocol not supported",
	94:  "socket type not supported",
	95:  "operation not supported",
	96:  "protocol family not supported",
	97:  "address family not supported by protocol",
	98:  "address already in use",
	99:  "cannot assign requested address",
	100: "network is down",
	101: "network is unreachable",
	102: "network dropped connection on reset",
	103: "software caused connection abort",
	104: "connection reset by peer",
	105: "no buffer space available",
	106: "transport endpoint is already connected",
	107: "transport endpoint is not connected",
	108: "cannot send after transport endpoint shutdown",
	109: "too many references: cannot splice",
	110: "connection timed out",
	111: "connection refused",
	112: "host is down",
	113: "no route to host",
	114: "operation already in progress",
	115: "operation now in progress",
	116: "stale file handle",
	117: "structure needs cleaning",
	118: "not a XENIX named type file",
	119: "no XENIX semaphores available",
	120: "is a named type file",
	121: "remote I/O error",
	122: "disk quota exceeded",
	123: "no medium found",
	124: "wrong medium type",
	125: "operation canceled",
	126: "required key not available",
	127: "key has expired",
	128: "key has been revoked",
	129: "key was rejected by service",
	130: "owner died",
	131: "state not recoverable",
	132: "operation not possible due to RF-kill",
	133: "memory page has hardware error",
}

// Error implements error. It returns the C library's message, e.g. "no
// such file or directory".
func (e Errno) Error() string {
	if int(e) < len(errnoText) && errnoText[e] != "" {
		return errnoText[e]
	}
	switch e {
	case ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTARTRestartBlock:
		return "interrupted system call should be restarted"
	}
	return "errno " + strconv.Itoa(int(e))
}

// Name returns the symbolic name, e.g. "ENOENT".
func (e Errno) Name() string {
	if int(e) < len(errnoNames) && errnoNames[e] != "" {
		return errnoNames[e]
	}
	switch e {
	case ERESTARTSYS:
		return "ERESTARTSYS"
	case ERESTARTNOINTR:
		return "ERESTARTNOINTR"
	case ERESTARTNOHAND:
		return "ERESTARTNOHAND"
	case ERESTARTRestartBlock:
		return "ERESTART_RESTARTBLOCK"
	}
	return "E" + strconv.Itoa(int(e))
}

// IsRestart reports whether e is one of the kernel-internal restart codes.
func (e Errno) IsRestart() bool {
	return e == ERESTARTSYS || e == ERESTARTNOINTR || e == ERESTARTNOHAND || e == ERESTARTRestartBlock
}
