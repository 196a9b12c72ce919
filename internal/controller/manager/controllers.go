package manager

import (
	"github.com/podvisor/podvisor/internal/controller/deployment"
	"github.com/podvisor/podvisor/internal/controller/garbagecollector"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/controller/replicaset"
)

// Registrations is the table of every controller the manager knows, in the
// order they are constructed. Add a controller here: one entry (see the
// package doc).
func Registrations() []Registration {
	return []Registration{
		{Name: "replicaset", Aliases: []string{"replicaset-controller"}, ServiceAccount: "replicaset-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return replicaset.New(replicaset.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "deployment", Aliases: []string{"deployment-controller"}, ServiceAccount: "deployment-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return deployment.New(deployment.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "garbagecollector", Aliases: []string{"garbage-collector-controller"}, ServiceAccount: "generic-garbage-collector",
			New: newGarbageCollector},
	}
}

func newGarbageCollector(c *Context, d reconcile.Deps) (Runner, error) {
	return garbagecollector.New(garbagecollector.Config{Workers: c.Config.GCWorkers, DiscoveryPeriod: c.Config.DiscoveryPeriod},
		garbagecollector.Deps{Metadata: c.Metadata, Informers: c.MetadataInformers, Discovery: c.Discovery, Log: d.Log})
}
