package storage

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns for one of these cases
// wraps the sentinel, so callers test with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("already exists")
	// ErrConflict: a precondition (resourceVersion, uid) did not hold, or
	// the object changed between read and write.
	ErrConflict = errors.New("conflict")
	// ErrGone: the requested revision was compacted away (the API's 410).
	ErrGone = errors.New("resource version too old")
	// ErrTooLarge: the requested revision is newer than the store has
	// seen, and it did not catch up in time.
	ErrTooLarge = errors.New("resource version too large")
	// ErrInvalid: a caller's argument was malformed, e.g. a continue
	// token or resource version that does not parse.
	ErrInvalid = errors.New("invalid argument")
	// ErrSideKeyTaken: a side key that had to be absent exists (an
	// allocated cluster IP or node port, for example).
	ErrSideKeyTaken = errors.New("side key taken")
)

// Error carries the key an error is about and wraps one of the sentinels.
type Error struct {
	Err error  // one of the sentinels
	Key string // etcd key concerned
	Msg string // optional detail
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("%s: %v: %s", e.Key, e.Err, e.Msg)
	}
	return fmt.Sprintf("%s: %v", e.Key, e.Err)
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

func newErr(sentinel error, key, msg string) error {
	return &Error{Err: sentinel, Key: key, Msg: msg}
}
