package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// RepairConfig configures the cluster IP repair controller.
type RepairConfig struct {
	// LeakGracePeriod is how long an allocation must look leaked before
	// it is freed (0: 1m).
	LeakGracePeriod time.Duration
	// Workers (0: 1).
	Workers int
}

// Repair frees cluster IP allocations (IPAddress objects) held for
// Services that no longer have them.
type Repair struct {
	grace     time.Duration
	client    kubernetes.Interface
	addresses networkinglisters.IPAddressLister
	services  corelisters.ServiceLister
	clock     clock.PassiveClock
	log       *slog.Logger
	ctl       *reconcile.Controller

	mu sync.Mutex
	// +checklocks:mu
	suspect map[string]time.Time // IPAddress name -> first seen leaked
}

// NewRepair builds the repair controller and registers its informers
// (ipaddresses, services). The API server must serve
// networking.k8s.io/v1 ipaddresses, or the informer never syncs.
func NewRepair(cfg RepairConfig, d reconcile.Deps) (*Repair, error) {
	if cfg.LeakGracePeriod == 0 {
		cfg.LeakGracePeriod = time.Minute
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	r := &Repair{
		grace:     cfg.LeakGracePeriod,
		client:    d.Client,
		addresses: d.Informers.Networking().V1().IPAddresses().Lister(),
		services:  d.Informers.Core().V1().Services().Lister(),
		clock:     d.Clock,
		log:       d.Log,
		suspect:   map[string]time.Time{},
	}
	r.ctl = reconcile.New("service-ip-repair", r.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := d.Informers.Networking().V1().IPAddresses().Informer().AddEventHandler(r.ctl.Handler()); err != nil {
		return nil, fmt.Errorf("watching ipaddresses: %w", err)
	}
	// A Service that changes or goes may leave an address behind.
	onSvc := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		s, ok := obj.(*corev1.Service)
		if !ok {
			return
		}
		addrs, err := r.addresses.List(labels.Everything())
		if err != nil {
			return
		}
		for _, a := range addrs {
			if p := a.Spec.ParentRef; p != nil && p.Resource == "services" && p.Namespace == s.Namespace && p.Name == s.Name {
				r.ctl.Enqueue(a.Name)
			}
		}
	}
	if _, err := d.Informers.Core().V1().Services().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { onSvc(obj) },
		DeleteFunc: onSvc,
	}); err != nil {
		return nil, fmt.Errorf("watching services: %w", err)
	}
	return r, nil
}

// Run reconciles until ctx is done. The informers must have synced.
func (r *Repair) Run(ctx context.Context) { r.ctl.Run(ctx) }

// Leaked reports whether ip, allocated for the Service parent names, is
// not held by it: the Service is gone, or has other cluster IPs. svc is
// the Service as cached (nil if absent).
func Leaked(ip *networkingv1.IPAddress, svc *corev1.Service) bool {
	if svc == nil {
		return true
	}
	want, err := netip.ParseAddr(ip.Name)
	if err != nil {
		return false // not an address: not ours to judge
	}
	for _, s := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap() == want.Unmap() {
			return false
		}
	}
	return true
}

// Reconcile implements reconcile.Func for an IPAddress name.
func (r *Repair) Reconcile(ctx context.Context, name string) error {
	ip, err := r.addresses.Get(name)
	if apierrors.IsNotFound(err) {
		r.forget(name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting ipaddress %s: %w", name, err)
	}
	p := ip.Spec.ParentRef
	if p == nil || p.Group != "" || p.Resource != "services" || ip.DeletionTimestamp != nil {
		r.forget(name)
		return nil
	}
	svc, err := r.services.Services(p.Namespace).Get(p.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting service %s/%s: %w", p.Namespace, p.Name, err)
	}
	if err != nil {
		svc = nil
	}
	if !Leaked(ip, svc) {
		r.forget(name)
		return nil
	}
	now := r.clock.Now()
	r.mu.Lock()
	first, seen := r.suspect[name]
	if !seen {
		first = now
		r.suspect[name] = now
	}
	r.mu.Unlock()
	if left := first.Add(r.grace).Sub(now); left > 0 {
		return reconcile.RequeueAfter(left)
	}
	uid := ip.UID
	err = r.client.NetworkingV1().IPAddresses().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("freeing leaked cluster IP %s: %w", name, err)
	}
	r.forget(name)
	r.log.Info("freed leaked cluster IP", "ip", name, "service", p.Namespace+"/"+p.Name)
	return nil
}

func (r *Repair) forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.suspect, name)
}
