package manager

import (
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Registrations is the table of every controller the manager knows, in the
// order they are constructed. Add a controller here (one entry; see the
// package doc).
func Registrations() []Registration {
	return []Registration{}
}

var _ = reconcile.Deps{}
