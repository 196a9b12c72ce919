package apiserver

import (
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/registry/apps/daemonsets"
	"github.com/podvisor/podvisor/internal/registry/apps/deployments"
	"github.com/podvisor/podvisor/internal/registry/apps/replicasets"
	"github.com/podvisor/podvisor/internal/registry/apps/statefulsets"
	"github.com/podvisor/podvisor/internal/registry/autoscaling/horizontalpodautoscalers"
	"github.com/podvisor/podvisor/internal/registry/batch/cronjobs"
	"github.com/podvisor/podvisor/internal/registry/batch/jobs"
	"github.com/podvisor/podvisor/internal/registry/coordination/leases"
	"github.com/podvisor/podvisor/internal/registry/core/configmaps"
	"github.com/podvisor/podvisor/internal/registry/core/endpoints"
	"github.com/podvisor/podvisor/internal/registry/core/events"
	"github.com/podvisor/podvisor/internal/registry/core/limitranges"
	"github.com/podvisor/podvisor/internal/registry/core/namespaces"
	"github.com/podvisor/podvisor/internal/registry/core/nodes"
	"github.com/podvisor/podvisor/internal/registry/core/persistentvolumeclaims"
	"github.com/podvisor/podvisor/internal/registry/core/persistentvolumes"
	"github.com/podvisor/podvisor/internal/registry/core/pods"
	"github.com/podvisor/podvisor/internal/registry/core/resourcequotas"
	"github.com/podvisor/podvisor/internal/registry/core/secrets"
	"github.com/podvisor/podvisor/internal/registry/core/serviceaccounts"
	"github.com/podvisor/podvisor/internal/registry/core/services"
	"github.com/podvisor/podvisor/internal/registry/discovery/endpointslices"
	eventsv1 "github.com/podvisor/podvisor/internal/registry/events/events"
	"github.com/podvisor/podvisor/internal/registry/node/runtimeclasses"
	"github.com/podvisor/podvisor/internal/registry/policy/poddisruptionbudgets"
	"github.com/podvisor/podvisor/internal/registry/rbac/clusterrolebindings"
	"github.com/podvisor/podvisor/internal/registry/rbac/clusterroles"
	"github.com/podvisor/podvisor/internal/registry/rbac/rolebindings"
	"github.com/podvisor/podvisor/internal/registry/rbac/roles"
	"github.com/podvisor/podvisor/internal/registry/storage/storageclasses"
	"github.com/podvisor/podvisor/internal/validation"
)

// strategies lists every resource the server stores, one strategy each.
func strategies(svc validation.ServiceOptions) []registry.Strategy {
	return []registry.Strategy{
		namespaces.New(), pods.New(), nodes.New(), services.New(svc), endpoints.New(), configmaps.New(),
		secrets.New(), serviceaccounts.New(), events.New(), persistentvolumes.New(),
		persistentvolumeclaims.New(), resourcequotas.New(), limitranges.New(),
		deployments.New(), replicasets.New(), statefulsets.New(), daemonsets.New(),
		jobs.New(), cronjobs.New(),
		endpointslices.New(), leases.New(),
		roles.New(), clusterroles.New(), rolebindings.New(), clusterrolebindings.New(),
		storageclasses.New(), runtimeclasses.New(), horizontalpodautoscalers.New(),
		poddisruptionbudgets.New(), eventsv1.New(),
	}
}
