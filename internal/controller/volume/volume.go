// Package volume is the PersistentVolume controller: it binds
// PersistentVolumeClaims to PersistentVolumes, provisions volumes for
// StorageClasses of the built-in local-path provisioner, and takes
// volumes through their phases.
//
// Binding. An unbound claim gets the smallest Available volume that
// satisfies it (capacity at least the request, access modes a superset,
// same storage class and volume mode, the claim's label selector), or
// the volume pre-bound to it (a volume whose spec.claimRef names it, or
// the volume its spec.volumeName names). Binding is two-sided, in
// Kubernetes' order: the volume's claimRef (annotated
// pv.kubernetes.io/bound-by-controller when the controller chose it), the
// volume's phase Bound, the claim's volumeName (annotated
// pv.kubernetes.io/bind-completed and bound-by-controller), then the
// claim's phase Bound with the volume's capacity and access modes. A
// claim whose volume disappears is Lost.
//
// WaitForFirstConsumer. Claims of a class with volumeBindingMode
// WaitForFirstConsumer are not bound (except to a volume pre-bound to
// them) until the scheduler has picked a node for their first pod and
// written it in the claim annotation volume.kubernetes.io/selected-node;
// then only volumes whose node affinity admits that node are candidates,
// and provisioning happens on that node.
//
// Provisioning. For a class whose provisioner is podvisor.io/local-path
// the controller creates a hostPath volume at <LocalPathRoot>/<pv-name>
// (type DirectoryOrCreate) with node affinity kubernetes.io/hostname In
// [node], pre-bound to the claim, reclaim policy from the class. The
// directory is created by the node agent when it first mounts the volume.
// Immediate-mode claims are provisioned on the first Ready node by name.
//
// Reclaim. A Bound volume whose claim is deleted becomes Released. With
// reclaim policy Retain it stays Released (an administrator clears its
// claimRef to make it Available again). With Delete, a local-path volume
// is deleted through the API: the finalizer podvisor.io/local-path-cleanup
// (FinalizerCleanup) keeps it until the node agent of the node in its
// affinity has removed the directory and then removes the finalizer.
// Other volumes with Delete (or Recycle) have no deleter here and go
// Failed. Attach/detach bookkeeping does not apply to hostPath and local
// volumes and is not done.
//
// A default StorageClass local-path is created at start if absent, and
// claims without a class are given the default class (retroactive default
// class assignment). Only the controller manager imports this package.
package volume

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Names of the built-in provisioner and its objects.
const (
	// Provisioner is the local-path provisioner's name.
	Provisioner = "podvisor.io/local-path"
	// FinalizerCleanup keeps a local-path volume until the node agent
	// has deleted its directory.
	FinalizerCleanup = "podvisor.io/local-path-cleanup"
	// DefaultClassName is the StorageClass created at start.
	DefaultClassName = "local-path"
	// DefaultLocalPathRoot is where local-path volumes live on nodes.
	DefaultLocalPathRoot = "/var/lib/podvisor/storage"
	// AnnDefaultClass marks the default StorageClass.
	AnnDefaultClass = "storageclass.kubernetes.io/is-default-class"
	// LabelHostname is the node label local-path affinity uses.
	LabelHostname = corev1.LabelHostname
)

// Config configures the controller.
type Config struct {
	// LocalPathRoot is the directory on nodes under which local-path
	// volumes are created (--local-path-root, /var/lib/podvisor/storage).
	LocalPathRoot string
	// NoDefaultClass disables creating the local-path StorageClass.
	NoDefaultClass bool
	// Workers syncing claims and volumes at once (0: 5).
	Workers int
}

// Controller binds, provisions and reclaims persistent volumes.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	claims   corelisters.PersistentVolumeClaimLister
	volumes  corelisters.PersistentVolumeLister
	classes  storagelisters.StorageClassLister
	nodes    corelisters.NodeLister
	recorder record.EventRecorder
	clock    clock.PassiveClock
	log      *slog.Logger
	ctl      *reconcile.Controller
}

const (
	claimPrefix  = "claim/"
	volumePrefix = "volume/"
)

// New builds the controller and registers its informers (claims,
// volumes, storage classes, nodes).
func New(cfg Config, d reconcile.Deps) (*Controller, error) {
	if cfg.LocalPathRoot == "" {
		cfg.LocalPathRoot = DefaultLocalPathRoot
	}
	if !strings.HasPrefix(cfg.LocalPathRoot, "/") {
		return nil, fmt.Errorf("local path root %q: must be absolute", cfg.LocalPathRoot)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	f := d.Informers
	c := &Controller{
		cfg:      cfg,
		client:   d.Client,
		claims:   f.Core().V1().PersistentVolumeClaims().Lister(),
		volumes:  f.Core().V1().PersistentVolumes().Lister(),
		classes:  f.Storage().V1().StorageClasses().Lister(),
		nodes:    f.Core().V1().Nodes().Lister(),
		recorder: d.Recorder,
		clock:    d.Clock,
		log:      d.Log,
	}
	c.ctl = reconcile.New("persistentvolume", c.Reconcile, reconcile.Options{Workers: cfg.Workers, Logger: d.Log})
	untomb := func(obj any) any {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			return t.Obj
		}
		return obj
	}
	onClaim := func(obj any) {
		if pvc, ok := untomb(obj).(*corev1.PersistentVolumeClaim); ok {
			c.ctl.Enqueue(claimPrefix + pvc.Namespace + "/" + pvc.Name)
			if pvc.Spec.VolumeName != "" {
				c.ctl.Enqueue(volumePrefix + pvc.Spec.VolumeName)
			}
		}
	}
	onVolume := func(obj any) {
		pv, ok := untomb(obj).(*corev1.PersistentVolume)
		if !ok {
			return
		}
		c.ctl.Enqueue(volumePrefix + pv.Name)
		if r := pv.Spec.ClaimRef; r != nil {
			c.ctl.Enqueue(claimPrefix + r.Namespace + "/" + r.Name)
		} else if pv.Status.Phase == corev1.VolumeAvailable && pv.DeletionTimestamp == nil {
			// A free volume may be what a pending claim waits for.
			c.enqueueUnboundClaims()
		}
	}
	// A new or changed class may let pending claims proceed.
	onClass := func(any) { c.enqueueUnboundClaims() }
	for _, reg := range []struct {
		inf cache.SharedIndexInformer
		fn  func(any)
	}{
		{f.Core().V1().PersistentVolumeClaims().Informer(), onClaim},
		{f.Core().V1().PersistentVolumes().Informer(), onVolume},
		{f.Storage().V1().StorageClasses().Informer(), onClass},
	} {
		fn := reg.fn
		if _, err := reg.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: fn, UpdateFunc: func(_, obj any) { fn(obj) }, DeleteFunc: fn,
		}); err != nil {
			return nil, fmt.Errorf("watching storage objects: %w", err)
		}
	}
	return c, nil
}

// enqueueUnboundClaims requeues every claim without a volume.
func (c *Controller) enqueueUnboundClaims() {
	claims, err := c.claims.List(labels.Everything())
	if err != nil {
		return
	}
	for _, pvc := range claims {
		if pvc.Spec.VolumeName == "" {
			c.ctl.Enqueue(claimPrefix + pvc.Namespace + "/" + pvc.Name)
		}
	}
}

// Run creates the default StorageClass if absent, then reconciles until
// ctx is done. The informers must have synced.
func (c *Controller) Run(ctx context.Context) {
	if !c.cfg.NoDefaultClass {
		if err := c.EnsureDefaultClass(ctx); err != nil {
			c.log.Error("creating the default storage class", "err", err)
		}
	}
	c.ctl.Run(ctx)
}

// EnsureDefaultClass creates the local-path StorageClass, marked
// default, unless a class of that name exists.
func (c *Controller) EnsureDefaultClass(ctx context.Context) error {
	if _, err := c.client.StorageV1().StorageClasses().Get(ctx, DefaultClassName, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting storage class %s: %w", DefaultClassName, err)
	}
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	del := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: DefaultClassName, Annotations: map[string]string{AnnDefaultClass: "true"}},
		Provisioner:       Provisioner,
		ReclaimPolicy:     &del,
		VolumeBindingMode: &wffc,
	}
	if _, err := c.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating storage class %s: %w", DefaultClassName, err)
	}
	c.log.Info("created the default storage class", "class", DefaultClassName)
	return nil
}

// Reconcile implements reconcile.Func for "claim/<ns>/<name>" and
// "volume/<name>" keys.
func (c *Controller) Reconcile(ctx context.Context, key string) error {
	switch {
	case strings.HasPrefix(key, claimPrefix):
		ns, name, err := cache.SplitMetaNamespaceKey(strings.TrimPrefix(key, claimPrefix))
		if err != nil {
			return nil
		}
		pvc, err := c.claims.PersistentVolumeClaims(ns).Get(name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("getting claim %s/%s: %w", ns, name, err)
		}
		return c.syncClaim(ctx, pvc)
	case strings.HasPrefix(key, volumePrefix):
		pv, err := c.volumes.Get(strings.TrimPrefix(key, volumePrefix))
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("getting volume %s: %w", key, err)
		}
		return c.syncVolume(ctx, pv)
	}
	return nil
}
