package memmap

// AccessType is a set of memory access kinds: what a mapping permits or
// what a fault attempted. Its bits are the PROT_* bits.
type AccessType uint8

// Access kinds and common combinations.
const (
	Read      AccessType = 0x1
	Write     AccessType = 0x2
	Execute   AccessType = 0x4
	NoAccess  AccessType = 0
	ReadWrite            = Read | Write
	AnyAccess            = Read | Write | Execute
)

// AccessFromProt converts PROT_* bits to an AccessType, ignoring other bits.
func AccessFromProt(prot uint64) AccessType { return AccessType(prot) & AnyAccess }

// Prot returns the PROT_* bits for a.
func (a AccessType) Prot() uint64 { return uint64(a & AnyAccess) }

// CanRead reports whether a includes Read.
func (a AccessType) CanRead() bool { return a&Read != 0 }

// CanWrite reports whether a includes Write.
func (a AccessType) CanWrite() bool { return a&Write != 0 }

// CanExecute reports whether a includes Execute.
func (a AccessType) CanExecute() bool { return a&Execute != 0 }

// Any reports whether a permits any access.
func (a AccessType) Any() bool { return a&AnyAccess != 0 }

// SupersetOf reports whether a permits everything b does.
func (a AccessType) SupersetOf(b AccessType) bool { return b&^a == 0 }

// Effective returns the accesses the hardware grants for a: on amd64 any
// permission implies read.
func (a AccessType) Effective() AccessType {
	if a.Any() {
		a |= Read
	}
	return a
}

// String returns a as /proc/[pid]/maps shows it ("rwx", "r--").
func (a AccessType) String() string {
	b := []byte("---")
	if a.CanRead() {
		b[0] = 'r'
	}
	if a.CanWrite() {
		b[1] = 'w'
	}
	if a.CanExecute() {
		b[2] = 'x'
	}
	return string(b)
}
