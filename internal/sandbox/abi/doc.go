// Package abi holds the Linux amd64 application binary interface the Sentry
// implements: constants, the layouts of structs that cross the user/kernel
// boundary (stat, statx, sigaction, siginfo, ucontext, rlimit, timespec,
// utsname, sysinfo, dirent64, ptrace registers, ...) and typed errno values.
//
// Structs here are plain old data laid out exactly as the C structs on
// amd64, so AsBytes can copy them to and from application memory without
// per-field marshalling. Sizes are checked by the package's tests.
//
// abi is a leaf: it imports nothing from the sandbox, and every Sentry layer
// (and the Gofer protocol) may import it.
package abi
