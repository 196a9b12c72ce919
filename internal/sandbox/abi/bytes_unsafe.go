package abi

import "unsafe"

// AsBytes returns the memory of *p as a byte slice aliasing it, so an ABI
// struct can be copied to or from application memory in one copy.
//
// Preconditions: T is plain old data laid out as the C struct it mirrors:
// fixed-size integer, array and struct fields only, no pointers, slices,
// strings or interfaces (every struct in this package qualifies).
func AsBytes[T any](p *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p))
}

// SliceAsBytes is AsBytes for a slice of T.
//
// Preconditions: as for AsBytes.
func SliceAsBytes[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), uintptr(len(s))*unsafe.Sizeof(s[0]))
}

// SizeOf returns the size in bytes of T.
func SizeOf[T any]() int {
	var v T
	return int(unsafe.Sizeof(v))
}
