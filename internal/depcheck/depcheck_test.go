package depcheck

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/podvisor/podvisor"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Name       string
}

// listPackages returns every package of the module with its direct imports
// and transitive dependencies, as `go list -deps` sees them.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "-tags", "integration", module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(path, module+"/") }

func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// sentryLayers is the Sentry's layer order, bottom first: a package in one
// layer may import packages of its own layer and the layers below it only.
// File systems live in sentry/fsimpl/<fs>: most sit at the vfs layer, but
// proc and sys show kernel state, so they sit above the kernel.
var sentryLayers = [][]string{
	{"internal/sandbox/abi", "internal/sandbox/sentry/memmap", "internal/sandbox/seccomp"},
	{"internal/sandbox/sentry/platform"},
	{"internal/sandbox/sentry/mm"},
	{"internal/sandbox/sentry/vfs", "internal/sandbox/sentry/fsimpl"},
	{"internal/sandbox/sentry/loader", "internal/sandbox/sentry/kernel"},
	{"internal/sandbox/sentry/fsimpl/proc", "internal/sandbox/sentry/fsimpl/sys", "internal/sandbox/sentry/net"},
	{"internal/sandbox/sentry/syscalls"},
	{"internal/sandbox/boot"},
}

// sentryLayer returns the layer of path, or -1 if it is not in the Sentry.
// The most specific prefix wins (fsimpl/proc over fsimpl).
func sentryLayer(path string) int {
	layer, best := -1, 0
	for i, l := range sentryLayers {
		for _, prefix := range l {
			if under(path, prefix) && len(prefix) > best {
				layer, best = i, len(prefix)
			}
		}
	}
	return layer
}

// orchestrator packages: the control plane and node agent.
var orchestrator = []string{
	"internal/server", "internal/agent", "internal/storage", "internal/apiserver",
	"internal/registry", "internal/validation", "internal/defaults", "internal/scheduler",
	"internal/controller", "internal/kubelet", "internal/runtime", "internal/proxy",
	"internal/dns",
}

func isOrchestrator(path string) bool {
	for _, p := range orchestrator {
		if under(path, p) {
			return true
		}
	}
	return false
}

// rule reports an error message if importer may not import imported; both
// are module-relative paths.
type rule func(importer, imported string) string

var rules = []rule{
	func(a, b string) string {
		if under(b, "internal/storage") && !under(a, "internal/storage") &&
			!under(a, "internal/apiserver") && !under(a, "internal/server") && !under(a, "internal/testutil") {
			return "only the apiserver (and the server wiring) may import storage; components are API clients"
		}
		return ""
	},
	func(a, b string) string {
		if under(a, "internal/validation") && (under(b, "internal/registry") || under(b, "internal/apiserver") || under(b, "internal/storage")) {
			return "validation is pure: it imports no registry, apiserver or storage"
		}
		if under(a, "internal/defaults") && (under(b, "internal/registry") || under(b, "internal/apiserver") || under(b, "internal/storage") || under(b, "internal/validation")) {
			return "defaults is pure: it imports no registry, apiserver, storage or validation"
		}
		if under(a, "internal/registry") && under(b, "internal/apiserver") {
			return "imports run apiserver -> registry, never back"
		}
		return ""
	},
	func(a, b string) string {
		if isOrchestrator(a) && under(b, "internal/sandbox") {
			return "the orchestrator never imports the sandbox; the kubelet reaches visor only through runtime/oci running its binary"
		}
		if under(a, "internal/sandbox") && isOrchestrator(b) {
			return "the sandbox never imports the orchestrator"
		}
		return ""
	},
	func(a, b string) string {
		if under(a, "internal/sandbox/gofer") && under(b, "internal/sandbox/sentry") {
			return "the gofer and the sentry share only internal/sandbox/protocol"
		}
		if under(a, "internal/sandbox/sentry") && under(b, "internal/sandbox/gofer") {
			return "the gofer and the sentry share only internal/sandbox/protocol"
		}
		if under(a, "internal/sandbox/protocol") && (under(b, "internal/sandbox/sentry") || under(b, "internal/sandbox/gofer")) {
			return "the protocol imports neither the gofer nor the sentry"
		}
		return ""
	},
	func(a, b string) string {
		la, lb := sentryLayer(a), sentryLayer(b)
		if la >= 0 && lb > la {
			return "a sentry layer never imports a layer above it (abi, memmap, seccomp <- platform <- mm <- vfs, fsimpl <- loader, kernel <- proc, sys, net <- syscalls <- boot)"
		}
		if under(a, "internal/sandbox/abi") && under(b, "internal/sandbox") && !under(b, "internal/sandbox/abi") {
			return "abi is a leaf"
		}
		return ""
	},
	func(a, b string) string {
		// The host side of visor (CLI plumbing) stays out of the sandbox
		// processes, and their shared contracts stay leaves.
		hostSide := under(b, "internal/sandbox/container") || under(b, "internal/sandbox/cgroup") || under(b, "internal/sandbox/console")
		if hostSide && (under(a, "internal/sandbox/boot") || under(a, "internal/sandbox/gofer") || under(a, "internal/sandbox/sentry") ||
			under(a, "internal/sandbox/control") || under(a, "internal/sandbox/bootconfig") || under(a, "internal/sandbox/isolate")) {
			return "the Sentry, the gofer and their contracts (bootconfig, control, isolate) never import the host side (container, cgroup, console)"
		}
		if under(a, "internal/sandbox/bootconfig") && !under(b, "internal/sandbox/bootconfig") {
			return "bootconfig is a leaf: plain data shared by the host side, boot and the gofer"
		}
		if (under(a, "internal/sandbox/control") || under(a, "internal/sandbox/isolate")) &&
			!under(b, "internal/sandbox/bootconfig") && !under(b, a) {
			return "control and isolate import only bootconfig"
		}
		return ""
	},
	func(a, b string) string {
		if strings.HasPrefix(b, "cmd/") {
			return "nothing imports cmd/"
		}
		if under(b, "internal/server") && !strings.HasPrefix(a, "cmd/") && !under(a, "internal/server") && !under(a, "internal/testutil") && !under(a, "internal/bench") && !strings.HasPrefix(a, "cmd/bench") {
			return "only cmd/ (and tests' helpers) may import the server wiring"
		}
		if under(b, "internal/agent") && !strings.HasPrefix(a, "cmd/") && !under(a, "internal/agent") && !under(a, "internal/server") && !under(a, "internal/testutil") && !under(a, "internal/bench") && !strings.HasPrefix(a, "cmd/bench") {
			return "only cmd/ and the server wiring may import the agent wiring"
		}
		return ""
	},
	func(a, b string) string {
		if (under(b, "internal/apiserver/authn") || under(b, "internal/apiserver/authz")) &&
			!under(a, "internal/apiserver") && !under(a, "internal/server") && !under(a, "internal/testutil") &&
			!under(a, "internal/bench") && !strings.HasPrefix(a, "cmd/bench") {
			return "authentication and authorization are the apiserver's; components reach them only through the API (TokenReview, SubjectAccessReview)"
		}
		return ""
	},
	func(a, b string) string {
		if under(a, "internal/printers") {
			return "printers is a leaf library (registry strategies and the apiserver import it): it imports no podvisor package"
		}
		if (under(a, "internal/apiserver/openapi") || under(a, "internal/apiserver/apply")) &&
			under(b, "internal/apiserver") && !under(b, "internal/apiserver/openapi") && !under(b, "internal/apiserver/apply") {
			return "openapi and apply are libraries the apiserver calls; they import none of its other packages"
		}
		return ""
	},
	func(a, b string) string {
		if under(a, "internal/runtime") && under(b, "internal/kubelet") {
			return "the runtime sits below the kubelet: the kubelet imports runtime/oci, never the other way"
		}
		if under(a, "internal/kubelet/image/busybox") && strings.HasPrefix(b, "internal/") {
			return "the busybox builder imports nothing of podvisor (the CLI, tests and benchmarks share it)"
		}
		if under(a, "internal/localpv") && strings.HasPrefix(b, "internal/") {
			return "localpv is a leaf (the API server and the node agent share it): it imports nothing of podvisor"
		}
		return ""
	},
	func(a, b string) string {
		if under(b, "internal/testutil") && !strings.HasSuffix(a, "_test") && !under(a, "internal/testutil") && !under(a, "internal/bench") && !strings.HasPrefix(a, "cmd/bench") {
			return "only tests (and benchmarks) import testutil"
		}
		return ""
	},
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		a := rel(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			b := rel(imp)
			for _, r := range rules {
				if msg := r(a, b); msg != "" {
					t.Errorf("%s imports %s: %s", a, b, msg)
				}
			}
		}
	}
}

// TestRuntimeIsSmall keeps the orchestrator's libraries out of
// internal/runtime/oci: it is the whole of the per-container shim, which
// should be able to run from a binary of its own with a small footprint.
func TestRuntimeIsSmall(t *testing.T) {
	for _, p := range listPackages(t) {
		if rel(p.ImportPath) != "internal/runtime/oci" {
			continue
		}
		for _, d := range p.Deps {
			for _, banned := range []string{"k8s.io/", "go.etcd.io/", "google.golang.org/grpc", "github.com/google/go-containerregistry"} {
				if strings.HasPrefix(d, banned) {
					t.Errorf("internal/runtime/oci depends on %s; the shim must stay small", d)
				}
			}
		}
		return
	}
	t.Fatal("internal/runtime/oci not found by go list")
}

// TestShimBinaryIsSmall keeps cmd/podvisor-shim to internal/runtime/oci
// and the standard library: one runs per container.
func TestShimBinaryIsSmall(t *testing.T) {
	for _, p := range listPackages(t) {
		if rel(p.ImportPath) != "cmd/podvisor-shim" {
			continue
		}
		for _, d := range p.Deps {
			if strings.HasPrefix(d, module+"/") && rel(d) != "internal/runtime/oci" {
				t.Errorf("cmd/podvisor-shim depends on %s; it should link internal/runtime/oci alone", d)
			}
			if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "go.etcd.io/") || strings.HasPrefix(d, "google.golang.org/grpc") {
				t.Errorf("cmd/podvisor-shim depends on %s; the shim must stay small", d)
			}
		}
		return
	}
	t.Fatal("cmd/podvisor-shim not found by go list")
}

// TestVisorIsSmall keeps the orchestrator's libraries out of the visor
// binary: every sandbox runs a copy of it, so its size is per-pod memory.
func TestVisorIsSmall(t *testing.T) {
	for _, p := range listPackages(t) {
		if rel(p.ImportPath) != "cmd/visor" {
			continue
		}
		for _, d := range p.Deps {
			for _, banned := range []string{"k8s.io/", "go.etcd.io/", "google.golang.org/grpc"} {
				if strings.HasPrefix(d, banned) {
					t.Errorf("cmd/visor depends on %s; the sandbox must not link the orchestrator's libraries", d)
				}
			}
		}
		return
	}
	t.Fatal("cmd/visor not found by go list")
}
