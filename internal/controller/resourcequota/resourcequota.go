// Package resourcequota is the ResourceQuota controller: it keeps every
// ResourceQuota's status current, status.hard mirroring spec.hard and
// status.used the usage of each listed resource in the quota's namespace:
// object counts (pods, services, configmaps, secrets,
// persistentvolumeclaims, resourcequotas and
// count/<resource>[.<group>] for the workload kinds), services.nodeports
// and services.loadbalancers, compute requests and limits of the pods
// that count (requests.cpu, cpu, requests.memory, memory, limits.*,
// ephemeral storage and extended resources), and storage requests of
// claims, also per storage class. Quota scopes (Terminating,
// NotTerminating, BestEffort, NotBestEffort, PriorityClass) select the
// pods a quota counts. ReplicationControllers are not counted: the API
// server does not serve them.
//
// It recomputes a quota when objects in its namespace change and, as a
// safety net, every resync period. Admission (which checks requests
// against status.used) is the API server's job. Only the controller
// manager imports this package.
package resourcequota

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Config configures the controller.
type Config struct {
	// Workers recomputing quotas at once (0: 5).
	Workers int
	// ResyncPeriod is how often every quota is recomputed even without
	// events (0: 5m, kube-controller-manager's --resource-quota-sync-period).
	ResyncPeriod time.Duration
}

// counted is a kind of object the controller counts, with its listers.
type counted struct {
	// names are the quota resource names that count these objects.
	names []corev1.ResourceName
	list  func(ns string) (int, error)
}

// Controller keeps ResourceQuota status up to date.
type Controller struct {
	resync time.Duration
	client kubernetes.Interface
	quotas corelisters.ResourceQuotaLister
	pods   corelisters.PodLister
	svcs   corelisters.ServiceLister
	pvcs   corelisters.PersistentVolumeClaimLister
	counts []counted
	clock  clock.PassiveClock
	log    *slog.Logger
	ctl    *reconcile.Controller
}

// New builds the controller and registers its informers: resourcequotas
// and every kind it counts.
func New(cfg Config, d reconcile.Deps) (*Controller, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = 5 * time.Minute
	}
	f := d.Informers
	c := &Controller{
		resync: cfg.ResyncPeriod,
		client: d.Client,
		quotas: f.Core().V1().ResourceQuotas().Lister(),
		pods:   f.Core().V1().Pods().Lister(),
		svcs:   f.Core().V1().Services().Lister(),
		pvcs:   f.Core().V1().PersistentVolumeClaims().Lister(),
		clock:  d.Clock,
		log:    d.Log,
	}
	c.ctl = reconcile.New("resourcequota", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := f.Core().V1().ResourceQuotas().Informer().AddEventHandler(c.ctl.Handler()); err != nil {
		return nil, fmt.Errorf("watching resourcequotas: %w", err)
	}
	c.counts = countedKinds(f)
	// Creations and deletions of counted objects recompute their
	// namespace's quotas; updates only when they change what is counted.
	type watched struct {
		inf      cache.SharedIndexInformer
		relevant func(oldObj, newObj any) bool
	}
	never := func(_, _ any) bool { return false }
	for _, w := range []watched{
		{f.Core().V1().Pods().Informer(), podChanged},
		{f.Core().V1().Services().Informer(), serviceChanged},
		{f.Core().V1().PersistentVolumeClaims().Informer(), claimChanged},
		{f.Core().V1().ConfigMaps().Informer(), never}, {f.Core().V1().Secrets().Informer(), never},
		{f.Apps().V1().Deployments().Informer(), never}, {f.Apps().V1().ReplicaSets().Informer(), never},
		{f.Apps().V1().StatefulSets().Informer(), never}, {f.Apps().V1().DaemonSets().Informer(), never},
		{f.Batch().V1().Jobs().Informer(), never}, {f.Batch().V1().CronJobs().Informer(), never},
	} {
		relevant := w.relevant
		if _, err := w.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: c.enqueueNamespace,
			UpdateFunc: func(oldObj, newObj any) {
				if relevant(oldObj, newObj) {
					c.enqueueNamespace(newObj)
				}
			},
			DeleteFunc: c.enqueueNamespace,
		}); err != nil {
			return nil, fmt.Errorf("watching counted objects: %w", err)
		}
	}
	return c, nil
}

// podChanged: a pod finished, started deleting, or changed its
// resources or scope-relevant fields.
func podChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*corev1.Pod)
	n, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return true
	}
	return o.Status.Phase != n.Status.Phase || (o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
		!apiequality.Semantic.DeepEqual(o.Spec.Containers, n.Spec.Containers) ||
		!apiequality.Semantic.DeepEqual(o.Spec.InitContainers, n.Spec.InitContainers) ||
		!apiequality.Semantic.DeepEqual(o.Spec.ActiveDeadlineSeconds, n.Spec.ActiveDeadlineSeconds)
}

// serviceChanged: type or ports changed (node ports, load balancers).
func serviceChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*corev1.Service)
	n, ok2 := newObj.(*corev1.Service)
	if !ok1 || !ok2 {
		return true
	}
	return o.Spec.Type != n.Spec.Type || !apiequality.Semantic.DeepEqual(o.Spec.Ports, n.Spec.Ports) ||
		!apiequality.Semantic.DeepEqual(o.Spec.AllocateLoadBalancerNodePorts, n.Spec.AllocateLoadBalancerNodePorts)
}

// claimChanged: the request or class changed.
func claimChanged(oldObj, newObj any) bool {
	o, ok1 := oldObj.(*corev1.PersistentVolumeClaim)
	n, ok2 := newObj.(*corev1.PersistentVolumeClaim)
	if !ok1 || !ok2 {
		return true
	}
	return !apiequality.Semantic.DeepEqual(o.Spec.Resources, n.Spec.Resources) ||
		!apiequality.Semantic.DeepEqual(o.Spec.StorageClassName, n.Spec.StorageClassName)
}

// countedKinds lists the object kinds counted by name.
func countedKinds(f informers.SharedInformerFactory) []counted {
	n := func(names ...string) []corev1.ResourceName {
		var out []corev1.ResourceName
		for _, s := range names {
			out = append(out, corev1.ResourceName(s))
		}
		return out
	}
	lenOf := func(l func(ns string) (int, error)) func(string) (int, error) { return l }
	core, apps, batch := f.Core().V1(), f.Apps().V1(), f.Batch().V1()
	return []counted{
		{n("services", "count/services"), lenOf(func(ns string) (int, error) {
			l, err := core.Services().Lister().Services(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("configmaps", "count/configmaps"), lenOf(func(ns string) (int, error) {
			l, err := core.ConfigMaps().Lister().ConfigMaps(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("secrets", "count/secrets"), lenOf(func(ns string) (int, error) {
			l, err := core.Secrets().Lister().Secrets(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("persistentvolumeclaims", "count/persistentvolumeclaims"), lenOf(func(ns string) (int, error) {
			l, err := core.PersistentVolumeClaims().Lister().PersistentVolumeClaims(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("resourcequotas", "count/resourcequotas"), lenOf(func(ns string) (int, error) {
			l, err := core.ResourceQuotas().Lister().ResourceQuotas(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("count/deployments.apps"), lenOf(func(ns string) (int, error) {
			l, err := apps.Deployments().Lister().Deployments(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("count/replicasets.apps"), lenOf(func(ns string) (int, error) {
			l, err := apps.ReplicaSets().Lister().ReplicaSets(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("count/statefulsets.apps"), lenOf(func(ns string) (int, error) {
			l, err := apps.StatefulSets().Lister().StatefulSets(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("count/daemonsets.apps"), lenOf(func(ns string) (int, error) {
			l, err := apps.DaemonSets().Lister().DaemonSets(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("count/jobs.batch"), lenOf(func(ns string) (int, error) {
			l, err := batch.Jobs().Lister().Jobs(ns).List(labels.Everything())
			return len(l), err
		})},
		{n("count/cronjobs.batch"), lenOf(func(ns string) (int, error) {
			l, err := batch.CronJobs().Lister().CronJobs(ns).List(labels.Everything())
			return len(l), err
		})},
	}
}

func (c *Controller) enqueueNamespace(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	qs, err := c.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, q := range qs {
		c.ctl.EnqueueObject(q)
	}
}

// Run reconciles until ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) { c.ctl.Run(ctx) }

// Reconcile implements reconcile.Func for a ResourceQuota key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	q, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting resourcequota %s: %w", key, err)
	}
	used, err := c.usage(q)
	if err != nil {
		return err
	}
	if !apiequality.Semantic.DeepEqual(q.Status.Hard, q.Spec.Hard) || !apiequality.Semantic.DeepEqual(q.Status.Used, used) {
		upd := q.DeepCopy()
		upd.Status.Hard = q.Spec.Hard.DeepCopy()
		upd.Status.Used = used
		if _, err := c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating the status of resourcequota %s: %w", key, err)
		}
	}
	return reconcile.RequeueAfter(c.resync)
}

// usage computes used for every resource q limits that the controller
// knows how to count.
func (c *Controller) usage(q *corev1.ResourceQuota) (corev1.ResourceList, error) {
	ns := q.Namespace
	used := corev1.ResourceList{}
	want := func(n corev1.ResourceName) bool { _, ok := q.Spec.Hard[n]; return ok }
	scoped := len(q.Spec.Scopes) > 0 || q.Spec.ScopeSelector != nil

	needPods := false
	for n := range q.Spec.Hard {
		if isPodResource(n) {
			needPods = true
		}
	}
	if needPods {
		pods, err := c.pods.Pods(ns).List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("listing pods: %w", err)
		}
		for n, v := range PodUsage(q, pods, c.clock.Now()) {
			if want(n) {
				used[n] = v
			}
		}
	}
	if scoped {
		return used, nil // scopes select pods only
	}
	for _, k := range c.counts {
		for _, n := range k.names {
			if !want(n) {
				continue
			}
			cnt, err := k.list(ns)
			if err != nil {
				return nil, fmt.Errorf("counting %s: %w", n, err)
			}
			used[n] = *resource.NewQuantity(int64(cnt), resource.DecimalSI)
		}
	}
	if want(corev1.ResourceServicesNodePorts) || want(corev1.ResourceServicesLoadBalancers) {
		svcs, err := c.svcs.Services(ns).List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("listing services: %w", err)
		}
		for n, v := range ServiceUsage(svcs) {
			if want(n) {
				used[n] = v
			}
		}
	}
	needClaims := want(corev1.ResourceRequestsStorage)
	for n := range q.Spec.Hard {
		if strings.Contains(string(n), storageClassSuffix) {
			needClaims = true
		}
	}
	if needClaims {
		pvcs, err := c.pvcs.PersistentVolumeClaims(ns).List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("listing persistentvolumeclaims: %w", err)
		}
		byName := ClaimUsage(pvcs)
		for n := range q.Spec.Hard {
			if n != corev1.ResourceRequestsStorage && !strings.Contains(string(n), storageClassSuffix) {
				continue
			}
			v, ok := byName[n]
			if !ok { // a class no claim uses yet
				v = *resource.NewQuantity(0, resource.DecimalSI)
			}
			used[n] = v
		}
	}
	return used, nil
}
