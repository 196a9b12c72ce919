// Package serviceaccount holds two per-namespace controllers that
// Kubernetes runs side by side: the ServiceAccount controller, which keeps
// a `default` ServiceAccount in every active namespace (recreating it if
// it is deleted), and the root CA publisher, which keeps the
// `kube-root-ca.crt` ConfigMap holding the cluster CA bundle in every
// namespace so that pods can verify the API server. Only the controller
// manager imports this package.
package serviceaccount

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Controller keeps the default ServiceAccount in every namespace.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	log        *slog.Logger
	ctl        *reconcile.Controller
}

// Config configures the ServiceAccount controller.
type Config struct {
	// Workers reconciling namespaces at once (0: 2).
	Workers int
}

// New builds the ServiceAccount controller and registers its informers
// (namespaces, serviceaccounts).
func New(cfg Config, d reconcile.Deps) (*Controller, error) {
	c := &Controller{
		client:     d.Client,
		namespaces: d.Informers.Core().V1().Namespaces().Lister(),
		accounts:   d.Informers.Core().V1().ServiceAccounts().Lister(),
		log:        d.Log,
	}
	c.ctl = reconcile.New("serviceaccount", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := d.Informers.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.ctl.EnqueueObject,
		UpdateFunc: func(_, obj any) { c.ctl.EnqueueObject(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	if _, err := d.Informers.Core().V1().ServiceAccounts().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) { enqueueNamespaceOf(obj, DefaultName, c.ctl.Enqueue) },
	}); err != nil {
		return nil, fmt.Errorf("watching serviceaccounts: %w", err)
	}
	return c, nil
}

// enqueueNamespaceOf enqueues the namespace of obj if obj is named name.
func enqueueNamespaceOf(obj any, name string, enqueue func(string)) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, err := meta(obj)
	if err != nil || m.GetName() != name {
		return
	}
	enqueue(m.GetNamespace())
}

func meta(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// Run reconciles until ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) { c.ctl.Run(ctx) }

// Reconcile implements reconcile.Func for a namespace name.
func (c *Controller) Reconcile(ctx context.Context, ns string) error {
	n, err := c.namespaces.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %s: %w", ns, err)
	}
	if n.Status.Phase == corev1.NamespaceTerminating || n.DeletionTimestamp != nil {
		return nil
	}
	if _, err := c.accounts.ServiceAccounts(ns).Get(DefaultName); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting serviceaccount %s/%s: %w", ns, DefaultName, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: ns}}
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Debug("created default serviceaccount", "namespace", ns)
		return nil
	case apierrors.IsAlreadyExists(err), terminating(err):
		return nil
	default:
		return fmt.Errorf("creating serviceaccount %s/%s: %w", ns, DefaultName, err)
	}
}

// terminating reports the API server refusing creation in a namespace
// that is being deleted.
func terminating(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "terminat")
}

// RootCAConfigMap is the ConfigMap the root CA publisher keeps, and
// RootCAKey the key of the PEM bundle in it.
const (
	RootCAConfigMap = "kube-root-ca.crt"
	RootCAKey       = "ca.crt"
	// DescriptionAnnotation explains the ConfigMap to readers.
	DescriptionAnnotation = "kubernetes.io/description"
)

// PublisherConfig configures the root CA publisher.
type PublisherConfig struct {
	// RootCA is the PEM bundle of the cluster CA; required.
	RootCA []byte
	// Workers reconciling namespaces at once (0: 2).
	Workers int
}

// Publisher keeps the kube-root-ca.crt ConfigMap in every namespace.
type Publisher struct {
	rootCA     string
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	configMaps corelisters.ConfigMapLister
	log        *slog.Logger
	ctl        *reconcile.Controller
}

// NewPublisher builds the root CA publisher and registers its informers
// (namespaces, configmaps).
func NewPublisher(cfg PublisherConfig, d reconcile.Deps) (*Publisher, error) {
	if len(bytes.TrimSpace(cfg.RootCA)) == 0 {
		return nil, errors.New("root CA publisher: the CA bundle is empty")
	}
	p := &Publisher{
		rootCA:     string(cfg.RootCA),
		client:     d.Client,
		namespaces: d.Informers.Core().V1().Namespaces().Lister(),
		configMaps: d.Informers.Core().V1().ConfigMaps().Lister(),
		log:        d.Log,
	}
	p.ctl = reconcile.New("root-ca-cert-publisher", p.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	if _, err := d.Informers.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.ctl.EnqueueObject,
		UpdateFunc: func(_, obj any) { p.ctl.EnqueueObject(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watching namespaces: %w", err)
	}
	enq := func(obj any) { enqueueNamespaceOf(obj, RootCAConfigMap, p.ctl.Enqueue) }
	if _, err := d.Informers.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { enq(obj) },
		DeleteFunc: enq,
	}); err != nil {
		return nil, fmt.Errorf("watching configmaps: %w", err)
	}
	return p, nil
}

// Run reconciles until ctx is done. The informers must have synced.
func (p *Publisher) Run(ctx context.Context) { p.ctl.Run(ctx) }

// Reconcile implements reconcile.Func for a namespace name.
func (p *Publisher) Reconcile(ctx context.Context, ns string) error {
	n, err := p.namespaces.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %s: %w", ns, err)
	}
	if n.Status.Phase == corev1.NamespaceTerminating || n.DeletionTimestamp != nil {
		return nil
	}
	cm, err := p.configMaps.ConfigMaps(ns).Get(RootCAConfigMap)
	if apierrors.IsNotFound(err) {
		want := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: ns, Annotations: map[string]string{
				DescriptionAnnotation: "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.",
			}},
			Data: map[string]string{RootCAKey: p.rootCA},
		}
		_, err := p.client.CoreV1().ConfigMaps(ns).Create(ctx, want, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) && !terminating(err) {
			return fmt.Errorf("creating configmap %s/%s: %w", ns, RootCAConfigMap, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting configmap %s/%s: %w", ns, RootCAConfigMap, err)
	}
	if len(cm.Data) == 1 && cm.Data[RootCAKey] == p.rootCA && len(cm.BinaryData) == 0 {
		return nil
	}
	upd := cm.DeepCopy()
	upd.Data = map[string]string{RootCAKey: p.rootCA}
	upd.BinaryData = nil
	if _, err := p.client.CoreV1().ConfigMaps(ns).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating configmap %s/%s: %w", ns, RootCAConfigMap, err)
	}
	return nil
}
