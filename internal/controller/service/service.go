// Package service holds the Service controllers:
//
//   - Controller gives every LoadBalancer Service (without a
//     loadBalancerClass, which would name another implementation) an
//     address from the configured pool (--loadbalancer-ip-pool), or the
//     one it asks for in spec.loadBalancerIP, written to
//     status.loadBalancer.ingress; the address is released when the
//     Service is deleted or stops being a LoadBalancer (its status is
//     then cleared). Allocations live only in Service status, so they are
//     rebuilt from the Services at start and survive restarts. An
//     exhausted pool is reported with a Warning event and retried when an
//     address is freed. The service proxy programs these addresses on the
//     nodes.
//   - Repair frees cluster IPs that the API server's allocator holds for
//     Services that no longer have them. It works on the allocations the
//     server exposes as networking.k8s.io/v1 IPAddress objects (name: the
//     address; spec.parentRef: the Service): one whose Service is gone, or
//     no longer has that address, for longer than a grace period (to
//     avoid racing a create whose Service the cache has not shown yet) is
//     deleted.
//
// Only the controller manager imports this package.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Event reasons.
const (
	EventIPAllocated      = "IPAllocated"
	EventAllocationFailed = "AllocationFailed"
	EventIPReleased       = "LoadBalancerIPReleased"
)

// Config configures the load-balancer controller.
type Config struct {
	// Pool is --loadbalancer-ip-pool (see ParsePool). Empty: LoadBalancer
	// Services get no address and an event saying why.
	Pool string
	// Workers reconciling services at once (0: 2).
	Workers int
}

// Controller assigns load-balancer addresses.
type Controller struct {
	pool     *Pool
	client   kubernetes.Interface
	services corelisters.ServiceLister
	recorder record.EventRecorder
	log      *slog.Logger
	ctl      *reconcile.Controller
}

// New builds the load-balancer controller and registers its service
// informer.
func New(cfg Config, d reconcile.Deps) (*Controller, error) {
	pool, err := ParsePool(cfg.Pool)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		pool:     pool,
		client:   d.Client,
		services: d.Informers.Core().V1().Services().Lister(),
		recorder: d.Recorder,
		log:      d.Log,
	}
	c.ctl = reconcile.New("service-lb", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := d.Informers.Core().V1().Services().Informer().AddEventHandler(c.ctl.Handler()); err != nil {
		return nil, fmt.Errorf("watching services: %w", err)
	}
	return c, nil
}

// Run rebuilds the pool's allocations from the cached Services, then
// reconciles until ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) {
	c.Rebuild()
	c.ctl.Run(ctx)
}

// ours reports whether svc is a LoadBalancer this controller serves.
func ours(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

// Rebuild records the pool addresses the cached Services hold in their
// status.
func (c *Controller) Rebuild() {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		c.log.Error("listing services to rebuild load-balancer addresses", "err", err)
		return
	}
	for _, s := range svcs {
		if !ours(s) {
			continue
		}
		if a, ok := c.statusAddr(s); ok {
			if err := c.pool.Occupy(key(s), a); err != nil {
				c.log.Error("load-balancer address", "service", key(s), "err", err)
			}
		}
	}
}

func key(s *corev1.Service) string { return s.Namespace + "/" + s.Name }

// statusAddr returns the first pool address in svc's status.
func (c *Controller) statusAddr(svc *corev1.Service) (netip.Addr, bool) {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil && c.pool.Contains(a) {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// Reconcile implements reconcile.Func for a Service key.
func (c *Controller) Reconcile(ctx context.Context, k string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		if c.pool.Release(k) {
			c.log.Info("released load-balancer address of deleted service", "service", k)
			c.enqueueWaiting()
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting service %s: %w", k, err)
	}
	if !ours(svc) {
		return c.release(ctx, svc)
	}
	var want netip.Addr
	if svc.Spec.LoadBalancerIP != "" {
		if want, err = netip.ParseAddr(svc.Spec.LoadBalancerIP); err != nil {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, EventAllocationFailed, "Failed to allocate IP for %q: invalid spec.loadBalancerIP %q", k, svc.Spec.LoadBalancerIP)
			return nil
		}
	}
	if !want.IsValid() {
		// Keep what the status says, if it is ours to give.
		if a, ok := c.statusAddr(svc); ok {
			if h := c.pool.Holder(a); h == "" || h == k {
				want = a
			}
		}
	}
	if c.pool.Empty() {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, EventAllocationFailed, "Failed to allocate IP for %q: no load-balancer IP pool is configured (--loadbalancer-ip-pool)", k)
		return nil
	}
	addr, err := c.pool.Allocate(k, want)
	if err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, EventAllocationFailed, "Failed to allocate IP for %q: %v", k, err)
		if errors.Is(err, ErrPoolExhausted) || errors.Is(err, ErrInUse) {
			// Retried when an address is freed (enqueueWaiting), and
			// with back-off meanwhile.
			return fmt.Errorf("allocating a load-balancer address for %s: %w", k, err)
		}
		return nil // a bad request: the user must change the Service
	}
	ingress := []corev1.LoadBalancerIngress{{IP: addr.String(), IPMode: ptr(corev1.LoadBalancerIPModeVIP)}}
	if len(svc.Status.LoadBalancer.Ingress) == 1 && svc.Status.LoadBalancer.Ingress[0].IP == addr.String() {
		return nil
	}
	upd := svc.DeepCopy()
	upd.Status.LoadBalancer.Ingress = ingress
	if _, err := c.client.CoreV1().Services(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			c.pool.Release(k)
			return nil
		}
		return fmt.Errorf("writing the load-balancer address of %s: %w", k, err)
	}
	c.log.Info("assigned load-balancer address", "service", k, "ip", addr.String())
	c.recorder.Eventf(svc, corev1.EventTypeNormal, EventIPAllocated, "Assigned IP [%q]", addr.String())
	return nil
}

func ptr[T any](v T) *T { return &v }

// release frees svc's address and clears the pool addresses from its
// status (it is no longer a LoadBalancer of ours).
func (c *Controller) release(ctx context.Context, svc *corev1.Service) error {
	k := key(svc)
	freed := c.pool.Release(k)
	var keep []corev1.LoadBalancerIngress
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil && c.pool.Contains(a) && svc.Spec.LoadBalancerClass == nil {
			continue
		}
		keep = append(keep, in)
	}
	if len(keep) != len(svc.Status.LoadBalancer.Ingress) {
		upd := svc.DeepCopy()
		upd.Status.LoadBalancer.Ingress = keep
		if _, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("clearing the load-balancer status of %s: %w", k, err)
		}
	}
	if freed {
		c.recorder.Eventf(svc, corev1.EventTypeNormal, EventIPReleased, "Released load-balancer IP: service type is now %s", svc.Spec.Type)
		c.enqueueWaiting()
	}
	return nil
}

// enqueueWaiting requeues the LoadBalancer Services that have no address
// yet: one may now be free.
func (c *Controller) enqueueWaiting() {
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, s := range svcs {
		if ours(s) {
			if _, ok := c.pool.Held(key(s)); !ok {
				c.ctl.Enqueue(key(s))
			}
		}
	}
}
