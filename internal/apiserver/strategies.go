package apiserver

import (
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/registry/core/configmaps"
	"github.com/podvisor/podvisor/internal/registry/core/namespaces"
	"github.com/podvisor/podvisor/internal/registry/core/pods"
)

// strategies lists every resource the server stores, one strategy each.
func strategies() []registry.Strategy {
	return []registry.Strategy{
		namespaces.New(),
		pods.New(),
		configmaps.New(),
	}
}
