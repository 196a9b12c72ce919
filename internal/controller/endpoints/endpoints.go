// Package endpoints is the Endpoints controller: for every Service with a
// selector it keeps the Endpoints object of the same name listing the IPs
// of the selected pods, ready ones in addresses and the others in
// notReadyAddresses, with each service port's targetPort resolved per pod
// (named ports are looked up in the pod's containers). Services without a
// selector are left alone: their endpoints are written by hand or, for the
// `kubernetes` Service, by the API server.
//
// The pod-to-endpoint rules (which pods count, readiness, port
// resolution, hostnames of headless services) are exported for the
// EndpointSlice controller (internal/controller/endpointslice), which
// must agree with this one. Only the controller manager and that
// controller import this package.
package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// MaxAddresses is how many addresses (ready and not) one Endpoints object
// holds; beyond it the object is truncated and annotated, as Kubernetes
// does (EndpointSlices have no such limit).
const MaxAddresses = 1000

// Annotation and label names Kubernetes uses on Endpoints.
const (
	// AnnotationOverCapacity marks an Endpoints object truncated at MaxAddresses.
	AnnotationOverCapacity = "endpoints.kubernetes.io/over-capacity"
	// LabelHeadless marks the endpoints of a headless Service.
	LabelHeadless = "service.kubernetes.io/headless"
)

// Config configures the controller.
type Config struct {
	// Workers reconciling services at once (0: 5).
	Workers int
}

// Controller keeps Endpoints in step with Services and pods.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	recorder  record.EventRecorder
	log       *slog.Logger
	ctl       *reconcile.Controller
}

// New builds the controller and registers its informers (services, pods,
// endpoints) on d.Informers.
func New(cfg Config, d reconcile.Deps) (*Controller, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	c := &Controller{
		client:    d.Client,
		services:  d.Informers.Core().V1().Services().Lister(),
		pods:      d.Informers.Core().V1().Pods().Lister(),
		endpoints: d.Informers.Core().V1().Endpoints().Lister(),
		recorder:  d.Recorder,
		log:       d.Log,
	}
	c.ctl = reconcile.New("endpoints", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := d.Informers.Core().V1().Services().Informer().AddEventHandler(c.ctl.Handler()); err != nil {
		return nil, fmt.Errorf("watching services: %w", err)
	}
	if _, err := d.Informers.Core().V1().Pods().Informer().AddEventHandler(PodHandler(c.services, c.ctl.Enqueue, d.Log)); err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	// A deleted Endpoints object is put back. (Not on update: as in
	// Kubernetes, Endpoints written before their Service exists are not
	// deleted for it.)
	if _, err := d.Informers.Core().V1().Endpoints().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.ctl.EnqueueObject,
	}); err != nil {
		return nil, fmt.Errorf("watching endpoints: %w", err)
	}
	return c, nil
}

// Run reconciles until ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) { c.ctl.Run(ctx) }

// PodHandler returns event handlers that enqueue (namespace/name) every
// Service whose selector matches a pod before or after the event. Both
// endpoint controllers use it.
func PodHandler(services corelisters.ServiceLister, enqueue func(string), log *slog.Logger) cache.ResourceEventHandler {
	forPod := func(pod *corev1.Pod) {
		svcs, err := services.Services(pod.Namespace).List(labels.Everything())
		if err != nil {
			log.Error("listing services", "err", err)
			return
		}
		for _, s := range svcs {
			if s.Spec.Selector == nil {
				continue
			}
			if labels.SelectorFromValidatedSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) {
				enqueue(s.Namespace + "/" + s.Name)
			}
		}
	}
	podOf := func(obj any) *corev1.Pod {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		p, _ := obj.(*corev1.Pod)
		return p
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p := podOf(obj); p != nil {
				forPod(p)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, n := podOf(oldObj), podOf(newObj)
			if o == nil || n == nil || o.ResourceVersion == n.ResourceVersion {
				return
			}
			forPod(n)
			if !labels.Equals(o.Labels, n.Labels) {
				forPod(o)
			}
		},
		DeleteFunc: func(obj any) {
			if p := podOf(obj); p != nil {
				forPod(p)
			}
		},
	}
}

// Reconcile implements reconcile.Func for the Service named by key.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a key we never queue; nothing to retry
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// The Service is gone: so are its endpoints (unless someone
		// else owns them, which only selector-less services allow, and
		// those are gone too).
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting endpoints %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting service %s: %w", key, err)
	}
	if svc.Spec.Selector == nil {
		return nil
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return fmt.Errorf("listing pods of %s: %w", key, err)
	}
	subsets, truncated := Subsets(svc, pods)

	want := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: endpointsLabels(svc)},
		Subsets:    subsets,
	}
	if truncated {
		want.Annotations = map[string]string{AnnotationOverCapacity: "truncated"}
	}
	cur, err := c.endpoints.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		if _, err := c.client.CoreV1().Endpoints(ns).Create(ctx, want, metav1.CreateOptions{}); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating endpoints %s: cache is stale: %w", key, err)
			}
			if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "terminat") {
				return nil // the namespace is being deleted
			}
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s: %v", key, err)
			return fmt.Errorf("creating endpoints %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting endpoints %s: %w", key, err)
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) &&
		labelsEqual(cur.Labels, want.Labels) &&
		cur.Annotations[AnnotationOverCapacity] == want.Annotations[AnnotationOverCapacity] {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Subsets = want.Subsets
	upd.Labels = want.Labels
	if truncated {
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[AnnotationOverCapacity] = "truncated"
	} else {
		delete(upd.Annotations, AnnotationOverCapacity)
	}
	if _, err := c.client.CoreV1().Endpoints(ns).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		if !apierrors.IsConflict(err) {
			c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s: %v", key, err)
		}
		return fmt.Errorf("updating endpoints %s: %w", key, err)
	}
	return nil
}

func labelsEqual(a, b map[string]string) bool {
	return labels.Equals(labels.Set(a), labels.Set(b))
}

// endpointsLabels are the Service's labels plus the headless marker.
func endpointsLabels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		out[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[LabelHeadless] = ""
	} else {
		delete(out, LabelHeadless)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// IncludePod reports whether pod belongs in its Service's endpoints at
// all: it has an IP, has not finished, and (unless includeTerminating) is
// not being deleted.
func IncludePod(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if !includeTerminating && pod.DeletionTimestamp != nil {
		return false
	}
	return true
}

// PodReady reports whether pod's Ready condition is True.
func PodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ResolvePort returns the port number sp's targetPort names in pod: the
// number itself, the containerPort of the pod's container port with that
// name and protocol, or the service port when targetPort is unset. ok is
// false when a named port is not found in the pod.
func ResolvePort(pod *corev1.Pod, sp *corev1.ServicePort) (port int32, ok bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int {
		if tp.IntVal == 0 {
			return sp.Port, true
		}
		return tp.IntVal, true
	}
	if tp.StrVal == "" {
		return sp.Port, true
	}
	if n, err := strconv.Atoi(tp.StrVal); err == nil && n > 0 {
		// Not valid in a Service, but cheap to honour.
		return int32(n), true
	}
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, ctrs := range [][]corev1.Container{pod.Spec.Containers, restartableInitContainers(pod)} {
		for _, c := range ctrs {
			for _, cp := range c.Ports {
				p := cp.Protocol
				if p == "" {
					p = corev1.ProtocolTCP
				}
				if cp.Name == tp.StrVal && p == proto {
					return cp.ContainerPort, true
				}
			}
		}
	}
	return 0, false
}

// restartableInitContainers are sidecars, whose ports count like the
// containers'.
func restartableInitContainers(pod *corev1.Pod) []corev1.Container {
	var out []corev1.Container
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c)
		}
	}
	return out
}

// Hostname returns the DNS hostname pod gets in svc: its spec.hostname
// when svc is headless and the pod's subdomain names svc; "" otherwise.
func Hostname(pod *corev1.Pod, svc *corev1.Service) string {
	if svc.Spec.ClusterIP == corev1.ClusterIPNone && pod.Spec.Hostname != "" &&
		pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		return pod.Spec.Hostname
	}
	return ""
}

// Subsets computes the endpoint subsets of svc over the pods its selector
// matched, in a canonical order (subsets by port set, addresses by IP) so
// that an unchanged world yields an identical object. truncated reports
// that more than MaxAddresses addresses were found and the rest dropped
// (ready addresses are kept first).
func Subsets(svc *corev1.Service, pods []*corev1.Pod) (subsets []corev1.EndpointSubset, truncated bool) {
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	publish := svc.Spec.PublishNotReadyAddresses
	for _, pod := range pods {
		if !IncludePod(pod, publish) {
			continue
		}
		ip := pod.Status.PodIP
		if ip == "" {
			ip = pod.Status.PodIPs[0].IP
		}
		addr := corev1.EndpointAddress{
			IP:       ip,
			Hostname: Hostname(pod, svc),
			TargetRef: &corev1.ObjectReference{
				Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			},
		}
		if pod.Spec.NodeName != "" {
			n := pod.Spec.NodeName
			addr.NodeName = &n
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := ResolvePort(pod, sp)
			if !ok {
				continue // this pod does not serve this port
			}
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: port, Protocol: proto, AppProtocol: sp.AppProtocol})
		}
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue // serves none of the service's ports
		}
		sort.Slice(ports, func(i, j int) bool { return ports[i].Name < ports[j].Name })
		k := portsKey(ports)
		g := groups[k]
		if g == nil {
			g = &group{ports: ports}
			groups[k] = g
		}
		if publish || PodReady(pod) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Cap the total at MaxAddresses, ready ones first.
	budget := MaxAddresses
	for _, k := range keys {
		g := groups[k]
		sortAddrs(g.ready)
		sortAddrs(g.notReady)
	}
	for _, k := range keys {
		g := groups[k]
		if len(g.ready) > budget {
			g.ready, truncated = g.ready[:budget], true
		}
		budget -= len(g.ready)
	}
	for _, k := range keys {
		g := groups[k]
		if len(g.notReady) > budget {
			g.notReady, truncated = g.notReady[:budget], true
		}
		budget -= len(g.notReady)
	}
	for _, k := range keys {
		g := groups[k]
		if len(g.ready) == 0 && len(g.notReady) == 0 {
			continue
		}
		subsets = append(subsets, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return subsets, truncated
}

func sortAddrs(a []corev1.EndpointAddress) {
	sort.Slice(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return a[i].TargetRef.Name < a[j].TargetRef.Name
	})
}

// portsKey identifies a set of resolved ports.
func portsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%s/%d/%s;", p.Name, p.Port, p.Protocol)
	}
	return b.String()
}
