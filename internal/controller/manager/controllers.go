package manager

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/metadata"

	"github.com/podvisor/podvisor/internal/controller/cronjob"
	"github.com/podvisor/podvisor/internal/controller/daemonset"
	"github.com/podvisor/podvisor/internal/controller/deployment"
	"github.com/podvisor/podvisor/internal/controller/disruption"
	"github.com/podvisor/podvisor/internal/controller/endpoints"
	"github.com/podvisor/podvisor/internal/controller/endpointslice"
	"github.com/podvisor/podvisor/internal/controller/garbagecollector"
	"github.com/podvisor/podvisor/internal/controller/job"
	"github.com/podvisor/podvisor/internal/controller/namespace"
	"github.com/podvisor/podvisor/internal/controller/nodelifecycle"
	"github.com/podvisor/podvisor/internal/controller/podautoscaler"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
	"github.com/podvisor/podvisor/internal/controller/replicaset"
	"github.com/podvisor/podvisor/internal/controller/resourcequota"
	"github.com/podvisor/podvisor/internal/controller/route"
	"github.com/podvisor/podvisor/internal/controller/service"
	"github.com/podvisor/podvisor/internal/controller/serviceaccount"
	"github.com/podvisor/podvisor/internal/controller/statefulset"
	"github.com/podvisor/podvisor/internal/controller/ttlafterfinished"
	"github.com/podvisor/podvisor/internal/controller/volume"
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
		{Name: "statefulset", Aliases: []string{"statefulset-controller"}, ServiceAccount: "statefulset-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return statefulset.New(statefulset.Config{Workers: c.Config.Workers, MemoryHistory: !c.Serves(appsv1.SchemeGroupVersion, "controllerrevisions")}, d)
			}},
		{Name: "daemonset", Aliases: []string{"daemonset-controller"}, ServiceAccount: "daemon-set-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return daemonset.New(daemonset.Config{MemoryHistory: !c.Serves(appsv1.SchemeGroupVersion, "controllerrevisions")}, d)
			}},
		{Name: "job", Aliases: []string{"job-controller"}, ServiceAccount: "job-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return job.New(job.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "cronjob", Aliases: []string{"cronjob-controller"}, ServiceAccount: "cronjob-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return cronjob.New(cronjob.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "ttl-after-finished", Aliases: []string{"ttl-after-finished-controller"}, ServiceAccount: "ttl-after-finished-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return ttlafterfinished.New(ttlafterfinished.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "disruption", Aliases: []string{"disruption-controller"}, ServiceAccount: "disruption-controller", New: newDisruption},
		{Name: "horizontalpodautoscaling", Aliases: []string{"horizontal-pod-autoscaler-controller"}, ServiceAccount: "horizontal-pod-autoscaler",
			New: newHPA},
		{Name: "garbagecollector", Aliases: []string{"garbage-collector-controller"}, ServiceAccount: "generic-garbage-collector",
			New: newGarbageCollector},
		{Name: "endpoints", Aliases: []string{"endpoints-controller"}, ServiceAccount: "endpoint-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return endpoints.New(endpoints.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "endpointslice", Aliases: []string{"endpointslice-controller"}, ServiceAccount: "endpointslice-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return endpointslice.New(endpointslice.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "namespace", Aliases: []string{"namespace-controller"}, ServiceAccount: "namespace-controller", New: newNamespace},
		{Name: "serviceaccount", Aliases: []string{"serviceaccount-controller"}, ServiceAccount: "service-account-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return serviceaccount.New(serviceaccount.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "root-ca-cert-publisher", Aliases: []string{"root-ca-certificate-publisher-controller"}, ServiceAccount: "root-ca-cert-publisher",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				if len(c.Config.RootCA) == 0 {
					return nil, fmt.Errorf("root-ca-cert-publisher: the controller manager has no RootCA")
				}
				return serviceaccount.NewPublisher(serviceaccount.PublisherConfig{RootCA: c.Config.RootCA, Workers: c.Config.Workers}, d)
			}},
		{Name: "resourcequota", Aliases: []string{"resourcequota-controller"}, ServiceAccount: "resourcequota-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return resourcequota.New(resourcequota.Config{Workers: c.Config.Workers}, d)
			}},
		{Name: "nodelifecycle", Aliases: []string{"node-lifecycle-controller", "nodeipam"}, ServiceAccount: "node-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return nodelifecycle.New(nodelifecycle.Config{
					NodeMonitorGracePeriod:   c.Config.NodeMonitorGracePeriod,
					ClusterCIDR:              c.Config.ClusterCIDR,
					NodeCIDRMaskSize:         c.Config.NodeCIDRMaskSize,
					DisableCIDRAllocation:    c.Config.DisableNodeCIDRAllocation,
					EvictionRate:             c.Config.NodeEvictionRate,
					DefaultTolerationSeconds: c.Config.DefaultTolerationSeconds,
				}, d)
			}},
		{Name: "route", Aliases: []string{"route-controller"}, ServiceAccount: "route-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return route.New(route.Config{}, d)
			}},
		{Name: "service-lb", Aliases: []string{"service-lb-controller"}, ServiceAccount: "service-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return service.New(service.Config{Pool: c.Config.LoadBalancerIPPool}, d)
			}},
		{Name: "service-ip-repair", ServiceAccount: "service-controller",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return service.NewRepair(service.RepairConfig{}, d)
			}},
		{Name: "persistentvolume-binder", Aliases: []string{"persistentvolume-binder-controller"}, ServiceAccount: "persistent-volume-binder",
			New: func(c *Context, d reconcile.Deps) (Runner, error) {
				return volume.New(volume.Config{LocalPathRoot: c.Config.LocalPathRoot}, d)
			}},
	}
}

// newNamespace builds the namespace controller; it lists and deletes
// objects of every resource with its own identity.
func newNamespace(c *Context, d reconcile.Deps) (Runner, error) {
	rc, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building the namespace controller's metadata client: %w", err)
	}
	return namespace.New(namespace.Config{}, namespace.Deps{Deps: d, Metadata: md, Discovery: c.Discovery})
}

// newGarbageCollector builds the collector; it writes (patches, deletes)
// with its own identity and watches through the shared metadata informers.
func newGarbageCollector(c *Context, d reconcile.Deps) (Runner, error) {
	rc, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building the collector's metadata client: %w", err)
	}
	return garbagecollector.New(garbagecollector.Config{Workers: c.Config.GCWorkers, DiscoveryPeriod: c.Config.DiscoveryPeriod},
		garbagecollector.Deps{Metadata: md, Informers: c.MetadataInformers, Discovery: c.Discovery, Log: d.Log})
}

func newDisruption(c *Context, d reconcile.Deps) (Runner, error) {
	sc, err := c.ScaleClient()
	if err != nil {
		return nil, err
	}
	return disruption.New(disruption.Config{}, d, disruption.Deps{Scales: sc, Mapper: c.Mapper})
}

func newHPA(c *Context, d reconcile.Deps) (Runner, error) {
	sc, err := c.ScaleClient()
	if err != nil {
		return nil, err
	}
	mc, err := c.MetricsClient()
	if err != nil {
		return nil, err
	}
	return podautoscaler.New(podautoscaler.Config{
		SyncPeriod: c.Config.HPASyncPeriod, DownscaleStabilization: c.Config.HPADownscaleStabilization, Tolerance: c.Config.HPATolerance,
	}, d, podautoscaler.Deps{Scales: sc, Mapper: c.Mapper, Metrics: podautoscaler.ResourceMetrics{Client: mc}})
}
