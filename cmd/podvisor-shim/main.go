// Command podvisor-shim is the per-container monitor the node agent starts
// for every container (see internal/runtime/oci: RunShim). It is a binary
// of its own, next to podvisor, because one runs per container for the
// container's whole life: it links only internal/runtime/oci and the
// standard library, so it starts in milliseconds and costs little memory,
// where `podvisor shim` (the same code in the multi-call binary) pays for
// the initialisation of kubectl, etcd and client-go on every start.
//
// The agent finds it next to its own executable, then in PATH. Nothing
// imports this package.
package main

import (
	"os"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

func main() {
	os.Exit(oci.RunShim(os.Args[1:], os.Stderr))
}
