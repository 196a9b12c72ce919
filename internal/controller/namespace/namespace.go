// Package namespace is the Namespace controller: it empties a namespace
// that is being deleted and then lets it go. For a Terminating namespace
// whose spec.finalizers still hold "kubernetes", it discovers every
// namespaced resource the API server serves, deletes all objects of each
// in the namespace (deletecollection where offered, one by one otherwise),
// and waits, re-checking, while objects remain (pods shutting down
// gracefully, objects whose finalizers other controllers have yet to
// remove). When nothing is left it removes "kubernetes" from
// spec.finalizers through the namespaces/finalize subresource, after which
// the API server deletes the namespace. Progress and trouble are reported
// in the namespace's status conditions, with Kubernetes' condition types
// (NamespaceDeletionDiscoveryFailure, NamespaceDeletionContentFailure,
// NamespaceContentRemaining, NamespaceFinalizersRemaining, ...).
//
// It is an API client only: discovery, a metadata client for objects of
// any type, and the typed client for the namespace itself. Only the
// controller manager imports this package.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// FinalizerKubernetes is the spec.finalizers entry this controller owns.
const FinalizerKubernetes = corev1.FinalizerKubernetes

// Config configures the controller.
type Config struct {
	// Workers deleting namespaces at once (0: 5, kube-controller-manager's
	// --concurrent-namespace-syncs... is 10; deletion is I/O bound here).
	Workers int
	// RecheckPeriod is how long to wait before looking again at a
	// namespace whose content is still going away (0: 2s; pods being
	// deleted gracefully are re-checked when their grace ends if later).
	RecheckPeriod time.Duration
}

// Deps are the controller's collaborators: the common ones plus the
// clients it needs for objects of every type.
type Deps struct {
	reconcile.Deps
	// Metadata lists and deletes objects of any resource.
	Metadata metadata.Interface
	// Discovery lists the resources the API server serves (a
	// discovery.DiscoveryInterface, preferably cached).
	Discovery ResourceLister
}

// ResourceLister is the part of discovery the controller uses. It may
// return partial results with a discovery.ErrGroupDiscoveryFailed.
type ResourceLister interface {
	ServerPreferredNamespacedResources() ([]*metav1.APIResourceList, error)
}

// Controller deletes the content of terminating namespaces.
type Controller struct {
	recheck    time.Duration
	client     kubernetes.Interface
	md         metadata.Interface
	disc       ResourceLister
	namespaces corelisters.NamespaceLister
	clock      clock.PassiveClock
	log        *slog.Logger
	ctl        *reconcile.Controller
}

// New builds the controller and registers its namespace informer.
func New(cfg Config, d Deps) (*Controller, error) {
	if d.Metadata == nil || d.Discovery == nil {
		return nil, errors.New("namespace controller: Metadata and Discovery are required")
	}
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	if cfg.RecheckPeriod == 0 {
		cfg.RecheckPeriod = 2 * time.Second
	}
	c := &Controller{
		recheck:    cfg.RecheckPeriod,
		client:     d.Client,
		md:         d.Metadata,
		disc:       d.Discovery,
		namespaces: d.Informers.Core().V1().Namespaces().Lister(),
		clock:      d.Clock,
		log:        d.Log,
	}
	c.ctl = reconcile.New("namespace", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.ctl.EnqueueObject(ns)
		}
	}
	if _, err := d.Informers.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	return c, nil
}

// Run reconciles until ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) { c.ctl.Run(ctx) }

// Reconcile implements reconcile.Func for a namespace name.
func (c *Controller) Reconcile(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp == nil || !hasFinalizer(ns) {
		return nil
	}
	res := c.deleteContent(ctx, name)
	if err := c.setConditions(ctx, ns, res.conditions(c.clock.Now())); err != nil {
		return err
	}
	if len(res.errs) > 0 {
		return fmt.Errorf("deleting the content of namespace %s: %w", name, errors.Join(res.errs...))
	}
	if res.remaining > 0 {
		wait := c.recheck
		if res.graceLeft > wait {
			wait = res.graceLeft
		}
		c.log.Debug("namespace content remains", "namespace", name, "objects", res.remaining, "recheck", wait)
		return reconcile.RequeueAfter(wait)
	}
	return c.finalize(ctx, name)
}

func hasFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f == FinalizerKubernetes {
			return true
		}
	}
	return false
}

// finalize removes our finalizer from spec.finalizers, reading the
// namespace fresh so the write does not conflict with a stale cache.
func (c *Controller) finalize(ctx context.Context, name string) error {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %s: %w", name, err)
	}
	if !hasFinalizer(ns) {
		return nil
	}
	upd := ns.DeepCopy()
	upd.Spec.Finalizers = nil
	for _, f := range ns.Spec.Finalizers {
		if f != FinalizerKubernetes {
			upd.Spec.Finalizers = append(upd.Spec.Finalizers, f)
		}
	}
	if _, err := c.client.CoreV1().Namespaces().Finalize(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalizing namespace %s: %w", name, err)
	}
	c.log.Info("namespace emptied and finalized", "namespace", name)
	return nil
}

// result is what one pass over a namespace's content found.
type result struct {
	discoveryErr error
	errs         []error
	// remaining objects per resource, and remaining finalizers with the
	// number of objects holding each.
	remaining   int
	byResource  map[string]int
	byFinalizer map[string]int
	// graceLeft is the longest remaining graceful-deletion period of a
	// remaining object.
	graceLeft time.Duration
}

// Resource is a namespaced resource the controller empties.
type Resource struct {
	schema.GroupVersionResource
	// Collection says the resource offers deletecollection.
	Collection bool
}

// Resources returns the namespaced resources that can be listed and
// deleted, as discovery reports them, and a discovery error if some
// groups could not be read (the others are still returned).
func Resources(disc ResourceLister) ([]Resource, error) {
	lists, err := disc.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovering namespaced resources: %w", err)
	}
	var out []Resource
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !r.Namespaced || strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") || !hasVerb(r.Verbs, "delete") {
				continue
			}
			out = append(out, Resource{gv.WithResource(r.Name), hasVerb(r.Verbs, "deletecollection")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	if err != nil {
		return out, fmt.Errorf("discovering namespaced resources: %w", err)
	}
	return out, nil
}

func hasVerb(verbs []string, v string) bool {
	for _, x := range verbs {
		if x == v {
			return true
		}
	}
	return false
}

// deleteContent deletes everything in namespace ns once and counts what
// is left.
func (c *Controller) deleteContent(ctx context.Context, ns string) result {
	r := result{byResource: map[string]int{}, byFinalizer: map[string]int{}}
	resources, err := Resources(c.disc)
	if err != nil {
		r.discoveryErr = err
		// Still delete what we know of; the namespace is not finalized
		// while discovery is incomplete.
		r.errs = append(r.errs, err)
	}
	// First delete everything, then count what is left: objects with
	// finalizers, and pods still shutting down, stay for a while.
	for _, res := range resources {
		if err := c.deleteAll(ctx, ns, res); err != nil {
			r.errs = append(r.errs, err)
		}
	}
	now := c.clock.Now()
	for _, res := range resources {
		gvr := res.GroupVersionResource
		list, err := c.md.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
			continue
		}
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("listing %s: %w", gvr.GroupResource(), err))
			continue
		}
		for _, item := range list.Items {
			r.remaining++
			r.byResource[gvr.GroupResource().String()]++
			for _, f := range item.Finalizers {
				r.byFinalizer[f]++
			}
			if item.DeletionTimestamp != nil {
				if left := item.DeletionTimestamp.Sub(now); left > r.graceLeft {
					r.graceLeft = left
				}
			}
		}
	}
	return r
}

// deleteAll deletes every object of res in ns: one deletecollection if
// the resource offers it, then one delete per object still not deleted.
func (c *Controller) deleteAll(ctx context.Context, ns string, res Resource) error {
	gvr := res.GroupVersionResource
	client := c.md.Resource(gvr).Namespace(ns)
	if res.Collection {
		err := client.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsMethodNotSupported(err) {
			return fmt.Errorf("deleting all %s: %w", gvr.GroupResource(), err)
		}
	}
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
	}
	var errs []error
	for _, item := range list.Items {
		if item.DeletionTimestamp != nil {
			continue
		}
		err := client.Delete(ctx, item.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &item.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", gvr.GroupResource(), item.Name, err))
		}
	}
	return errors.Join(errs...)
}

// conditions turns a pass's result into the namespace's deletion
// conditions (Kubernetes' types, reasons and messages).
func (r result) conditions(now time.Time) []corev1.NamespaceCondition {
	cond := func(t corev1.NamespaceConditionType, ok bool, trueReason, falseReason, msg string) corev1.NamespaceCondition {
		c := corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: falseReason, LastTransitionTime: metav1.NewTime(now)}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, trueReason, msg
		}
		return c
	}
	var discMsg string
	if r.discoveryErr != nil {
		discMsg = "Discovery failed for some groups: " + r.discoveryErr.Error()
	}
	var contentErrs []string
	for _, e := range r.errs {
		if !errors.Is(e, r.discoveryErr) || r.discoveryErr == nil {
			contentErrs = append(contentErrs, e.Error())
		}
	}
	sort.Strings(contentErrs)
	return []corev1.NamespaceCondition{
		cond(corev1.NamespaceDeletionDiscoveryFailure, r.discoveryErr != nil, "DiscoveryFailed", "ResourcesDiscovered", discMsg),
		cond(corev1.NamespaceDeletionGVParsingFailure, false, "GroupVersionParsingFailed", "ParsedGroupVersions", ""),
		cond(corev1.NamespaceDeletionContentFailure, len(contentErrs) > 0, "ContentDeletionFailed", "ContentDeleted",
			"Failed to delete all resource types, "+fmt.Sprint(len(contentErrs))+" remaining: "+strings.Join(contentErrs, ", ")),
		cond(corev1.NamespaceContentRemaining, r.remaining > 0, "SomeResourcesRemain", "ContentRemoved",
			"Some resources are remaining: "+countsMessage(r.byResource, "has %d resource instances")),
		cond(corev1.NamespaceFinalizersRemaining, len(r.byFinalizer) > 0, "SomeFinalizersRemain", "ContentHasNoFinalizers",
			"Some content in the namespace has finalizers remaining: "+countsMessage(r.byFinalizer, "in %d resource instances")),
	}
}

func countsMessage(m map[string]int, format string) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, k+" "+fmt.Sprintf(format, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// setConditions writes conds to the namespace's status if they differ
// (ignoring transition times, which only move when the status does).
func (c *Controller) setConditions(ctx context.Context, ns *corev1.Namespace, conds []corev1.NamespaceCondition) error {
	changed := false
	out := make([]corev1.NamespaceCondition, 0, len(ns.Status.Conditions)+len(conds))
	seen := map[corev1.NamespaceConditionType]bool{}
	for _, want := range conds {
		seen[want.Type] = true
		cur := findCondition(ns.Status.Conditions, want.Type)
		switch {
		case cur == nil:
			changed = true
		case cur.Status == want.Status && cur.Reason == want.Reason && cur.Message == want.Message:
			want = *cur
		case cur.Status == want.Status:
			want.LastTransitionTime = cur.LastTransitionTime
			changed = true
		default:
			changed = true
		}
		out = append(out, want)
	}
	for _, cur := range ns.Status.Conditions {
		if !seen[cur.Type] {
			out = append(out, cur)
		}
	}
	if !changed {
		return nil
	}
	upd := ns.DeepCopy()
	upd.Status.Conditions = out
	if _, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("updating the status of namespace %s: %w", ns.Name, err)
	}
	return nil
}

func findCondition(conds []corev1.NamespaceCondition, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
