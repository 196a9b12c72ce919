// Package localpath is the node agent's half of local-path volumes
// (docs/infra-controllers.md): when a local-path PersistentVolume whose
// node affinity pins it to this node (localpv.PinnedNode) is deleted
// (reclaim policy Delete), it removes the volume's directory and then the
// finalizer podvisor.io/local-path-cleanup that kept the volume, so the
// API server lets it go. It lists and watches only the volumes labelled
// localpv.NodeLabel=<node name> (the API server keeps that label on
// pinned volumes), the only volume list the node authorizer allows a
// node. Creating the directory is the volume manager's
// (internal/kubelet/volume: hostPath DirectoryOrCreate on first mount).
//
// A directory is removed only when the volume is one the local-path
// provisioner made (annotation pv.kubernetes.io/provisioned-by:
// podvisor.io/local-path) and its hostPath is a clean absolute path whose
// last element is the volume's name, as the provisioner writes it, so a
// hand-made volume never makes the agent remove an arbitrary directory.
//
// Only the agent wiring, tests and benchmarks import it.
package localpath

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	volumehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/podvisor/podvisor/internal/controller/volume"
	"github.com/podvisor/podvisor/internal/localpv"
)

// Config holds the cleaner's settings.
type Config struct {
	// NodeName is this node's name: the volumes it lists and watches are
	// those labelled localpv.NodeLabel=NodeName.
	NodeName string
	// Hostname is this node's kubernetes.io/hostname label, which the
	// provisioner writes into volumes' node affinity (podvisor agents set
	// it to NodeName; the API server's label follows the affinity).
	Hostname string
}

// Deps are the cleaner's collaborators.
type Deps struct {
	Client kubernetes.Interface
	Log    *slog.Logger
	// RemoveAll removes a directory tree; nil is os.RemoveAll.
	RemoveAll func(string) error
}

// Cleaner removes deleted local-path volumes' directories on this node.
type Cleaner struct {
	cfg  Config
	deps Deps
}

// New returns a Cleaner.
func New(cfg Config, deps Deps) (*Cleaner, error) {
	if cfg.NodeName == "" || cfg.Hostname == "" || deps.Client == nil || deps.Log == nil {
		return nil, errors.New("localpath: NodeName, Hostname, Client and Log are required")
	}
	if deps.RemoveAll == nil {
		deps.RemoveAll = os.RemoveAll
	}
	return &Cleaner{cfg: cfg, deps: deps}, nil
}

// Due reports whether pv is this node's to clean up now: deleted, still
// held by the cleanup finalizer, and pinned to host (this node's
// kubernetes.io/hostname).
func Due(pv *corev1.PersistentVolume, host string) bool {
	if pv.DeletionTimestamp == nil || !slices.Contains(pv.Finalizers, volume.FinalizerCleanup) {
		return false
	}
	n, pinned := localpv.PinnedNode(pv)
	return pinned && n == host
}

// ErrNotCleanable wraps the reason a volume's directory is not one the
// agent may remove.
var ErrNotCleanable = errors.New("not a local-path volume directory")

// Dir returns the directory of a local-path volume, or an error wrapping
// ErrNotCleanable saying why pv's directory is not one the agent may
// remove.
func Dir(pv *corev1.PersistentVolume) (string, error) {
	if pv.Annotations[volumehelpers.AnnDynamicallyProvisioned] != volume.Provisioner {
		return "", fmt.Errorf("volume %s was not made by %s: %w", pv.Name, volume.Provisioner, ErrNotCleanable)
	}
	if pv.Spec.HostPath == nil {
		return "", fmt.Errorf("volume %s has no hostPath: %w", pv.Name, ErrNotCleanable)
	}
	p := pv.Spec.HostPath.Path
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || filepath.Base(p) != pv.Name || filepath.Dir(p) == p {
		return "", fmt.Errorf("volume %s: path %q is not <root>/%s: %w", pv.Name, p, pv.Name, ErrNotCleanable)
	}
	return p, nil
}

// Clean removes pv's directory (if the volume is one the agent may clean)
// and then its cleanup finalizer. A volume whose directory may not be
// removed keeps its finalizer, and the error says why.
func (c *Cleaner) Clean(ctx context.Context, pv *corev1.PersistentVolume) error {
	dir, err := Dir(pv)
	if err != nil {
		return err
	}
	if err := c.deps.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the directory of volume %s: %w", pv.Name, err)
	}
	c.deps.Log.Info("local-path volume directory removed", "volume", pv.Name, "path", dir)
	upd := pv.DeepCopy()
	upd.Finalizers = slices.DeleteFunc(upd.Finalizers, func(f string) bool { return f == volume.FinalizerCleanup })
	_, err = c.deps.Client.CoreV1().PersistentVolumes().Update(ctx, upd, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing the finalizer of volume %s: %w", pv.Name, err)
	}
	return nil
}

// Run watches volumes and cleans up this node's deleted ones until ctx
// ends; failures are retried with back-off.
func (c *Cleaner) Run(ctx context.Context) {
	mine := labels.Set{localpv.NodeLabel: c.cfg.NodeName}.String()
	f := informers.NewSharedInformerFactoryWithOptions(c.deps.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = mine }))
	inf := f.Core().V1().PersistentVolumes().Informer()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 2*time.Minute))
	defer q.ShutDown()
	enqueue := func(o any) {
		if pv, ok := o.(*corev1.PersistentVolume); ok && Due(pv, c.cfg.Hostname) {
			q.Add(pv.Name)
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, n any) { enqueue(n) },
	})
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return
	}
	lister := f.Core().V1().PersistentVolumes().Lister()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		q.ShutDown()
	}()
	defer func() { <-stopped }()
	for {
		name, quit := q.Get()
		if quit {
			return
		}
		pv, err := lister.Get(name)
		if err == nil && Due(pv, c.cfg.Hostname) {
			err = c.Clean(ctx, pv)
		} else if apierrors.IsNotFound(err) {
			err = nil
		}
		switch {
		case errors.Is(err, ErrNotCleanable):
			// Not ours to remove: the finalizer stays for an operator.
			c.deps.Log.Error("deleted volume left alone", "volume", name, "err", err)
			q.Forget(name)
		case err != nil && ctx.Err() == nil:
			c.deps.Log.Warn("cleaning up local-path volume", "volume", name, "err", err)
			q.AddRateLimited(name)
		default:
			q.Forget(name)
		}
		q.Done(name)
	}
}
