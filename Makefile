# podvisor build, test and run targets. `make test` is what CI runs.
GO       ?= go
BIN      ?= $(CURDIR)/bin
DATA_DIR ?= /var/lib/podvisor
# The Kubernetes version podvisor speaks, reported by /version and kubectl.
KUBE_VERSION ?= v1.37.2
VERSION  ?= $(KUBE_VERSION)+podvisor
LDFLAGS  := -X k8s.io/component-base/version.gitVersion=$(VERSION) \
            -X k8s.io/component-base/version.gitMajor=1 \
            -X k8s.io/component-base/version.gitMinor=37 \
            -X k8s.io/client-go/pkg/version.gitVersion=$(VERSION)
# Integration tests find the binaries here instead of building their own.
export PODVISOR_BIN_DIR := $(BIN)

.PHONY: all build test unit vet bench run clean

all: build

# All three binaries are static (CGO_ENABLED=0). For podvisor this matters:
# kubectl's kustomize imports Go's plugin package, and a cgo build of a
# binary importing it exports every symbol to the dynamic loader (300k
# symbols, 22 MB of .dynsym/.dynstr): 36 MB larger and ~30 MB more RSS in
# every podvisor process (the agent: ~110 MiB instead of ~85).
build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/podvisor ./cmd/podvisor
	CGO_ENABLED=0 $(GO) build -o $(BIN)/podvisor-shim ./cmd/podvisor-shim
	CGO_ENABLED=0 $(GO) build -o $(BIN)/visor ./cmd/visor

vet:
	@test -z "$$(gofmt -l cmd internal)" || { echo "not gofmt-ed:"; gofmt -l cmd internal; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

# Unit tests only: no root, no network, no real parts.
unit:
	$(GO) test -count=1 ./...

# Unit and integration tests together. Integration tests (files
# *_integration_test.go, build tag `integration`) run as root against real
# etcd, runc, visor, namespaces and nftables; each isolates itself (temp dirs,
# port 0, its own namespaces), so packages run in parallel.
test: vet build
	@test "$$(id -u)" = 0 || { echo "make test runs integration tests and needs root"; exit 1; }
	$(GO) test -tags integration -count=1 -timeout 25m ./...

bench: build
	$(GO) run ./cmd/bench

# The busybox image is built from the host's busybox-static into the local
# agent's image store, so a first pod runs with no registry.
run: build
	$(BIN)/podvisor images build-busybox --data-dir $(DATA_DIR)/agent
	$(BIN)/podvisor server --data-dir $(DATA_DIR)

clean:
	rm -rf $(BIN)
