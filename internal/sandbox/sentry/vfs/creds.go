package vfs

import (
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Credentials is what the file system needs to know about the caller: its
// file-system user and group IDs, supplementary groups and effective
// capabilities. The kernel builds one from a task's credentials; for
// access(2) it uses the real IDs instead of the file-system IDs.
type Credentials struct {
	// UID and GID are the file-system user and group IDs (fsuid, fsgid).
	UID, GID uint32
	// Groups are the supplementary group IDs.
	Groups []uint32
	// Caps is the effective capability set: bit n is capability n
	// (unix.CAP_CHOWN is 0, unix.CAP_DAC_OVERRIDE is 1, ...).
	Caps uint64
}

// RootCredentials returns the credentials of uid 0 with every capability, as
// used by the Sentry itself when it builds file systems at start-up.
func RootCredentials() *Credentials {
	return &Credentials{Caps: ^uint64(0)}
}

// HasCap reports whether c holds capability cap (a unix.CAP_* value).
func (c *Credentials) HasCap(cap int) bool {
	return cap >= 0 && cap < 64 && c.Caps&(1<<uint(cap)) != 0
}

// InGroup reports whether gid is c's file-system group or one of its
// supplementary groups.
func (c *Credentials) InGroup(gid uint32) bool {
	if c.GID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// AccessTypes is a set of access kinds, with Linux's MAY_* values.
type AccessTypes uint32

// Access kinds.
const (
	MayExec  AccessTypes = 1
	MayWrite AccessTypes = 2
	MayRead  AccessTypes = 4
)

// AccessTypesForOpenFlags returns the access an open(2) with flags needs.
func AccessTypesForOpenFlags(flags uint32) AccessTypes {
	var ats AccessTypes
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		ats = MayRead
	case unix.O_WRONLY:
		ats = MayWrite
	default:
		ats = MayRead | MayWrite
	}
	if flags&unix.O_TRUNC != 0 {
		ats |= MayWrite
	}
	return ats
}

// GenericCheckPermissions implements the classic Unix permission check for
// a file with the given mode (type and permission bits), owner and group:
// the owner class, else the group class, else others; CAP_DAC_OVERRIDE
// overrides read and write (and execute if any execute bit is set, or on a
// directory), CAP_DAC_READ_SEARCH overrides read, and search on directories.
// It returns nil or EACCES.
func GenericCheckPermissions(creds *Credentials, ats AccessTypes, mode uint32, uid, gid uint32) error {
	perms := AccessTypes(mode & 7)
	switch {
	case creds.UID == uid:
		perms = AccessTypes(mode>>6) & 7
	case creds.InGroup(gid):
		perms = AccessTypes(mode>>3) & 7
	}
	if perms&ats == ats {
		return nil
	}
	isDir := mode&unix.S_IFMT == unix.S_IFDIR
	if creds.HasCap(unix.CAP_DAC_OVERRIDE) {
		if ats&MayExec == 0 || isDir || mode&0o111 != 0 {
			return nil
		}
	}
	if creds.HasCap(unix.CAP_DAC_READ_SEARCH) {
		if ats&MayWrite == 0 && (ats&MayExec == 0 || isDir) {
			return nil
		}
	}
	return abi.EACCES
}

// CanActAsOwner reports whether creds may do what only a file's owner may
// (chmod, utimes with explicit times, clearing the sticky-bit protection):
// it is the owner, or holds CAP_FOWNER.
func CanActAsOwner(creds *Credentials, uid uint32) bool {
	return creds.UID == uid || creds.HasCap(unix.CAP_FOWNER)
}
