package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// errAbsent says an object does not exist (404, or its name is now taken
// by an object with another uid).
var errAbsent = errors.New("object does not exist")

// resourceFor maps an identity's kind to its resource and whether it is
// namespaced.
func (gc *Controller) resourceFor(id objectRef) (schema.GroupVersionResource, bool, error) {
	gv, err := schema.ParseGroupVersion(id.APIVersion)
	if err != nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("parsing apiVersion %q: %w", id.APIVersion, err)
	}
	mapping, err := gc.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: id.Kind}, gv.Version)
	if err != nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("mapping %s %s: %w", id.APIVersion, id.Kind, err)
	}
	return mapping.Resource, mapping.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// get reads id's metadata from the API server. It returns errAbsent if the
// object is gone or replaced.
func (gc *Controller) get(ctx context.Context, id objectRef) (*metav1.PartialObjectMetadata, error) {
	gvr, namespaced, err := gc.resourceFor(id)
	if err != nil {
		return nil, err
	}
	ns := ""
	if namespaced {
		if id.Namespace == "" {
			// A namespaced kind named by a cluster-scoped dependent: no
			// such owner can exist.
			return nil, errAbsent
		}
		ns = id.Namespace
	}
	obj, err := gc.md.Resource(gvr).Namespace(ns).Get(ctx, id.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, errAbsent
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", id, err)
	}
	if obj.UID != id.UID {
		return nil, errAbsent
	}
	return obj, nil
}

// virtualDelete tells the graph builder that id is gone.
func (gc *Controller) virtualDelete(id objectRef) {
	gc.changes.Add(&event{typ: deleted, id: id})
}

// attemptToDelete looks at one node (by uid): deletes it if all its owners
// are gone or being deleted in the foreground, drops dangling owner
// references if it has a live owner, and finishes foreground deletions.
func (gc *Controller) attemptToDelete(ctx context.Context, key string) error {
	item, ok := gc.graph.snapshot(types.UID(key))
	if !ok {
		return nil
	}
	if item.virtual {
		return gc.checkVirtual(ctx, item)
	}
	// Being deleted by someone else, without waiting for dependents:
	// nothing to do.
	if item.beingDeleted && !item.deletingDependents {
		return nil
	}
	latest, err := gc.get(ctx, item.id)
	if errors.Is(err, errAbsent) {
		gc.virtualDelete(item.id)
		return nil
	}
	if err != nil {
		return err
	}
	if item.deletingDependents {
		return gc.finishForeground(ctx, item, latest)
	}
	refs := latest.GetOwnerReferences()
	if len(refs) == 0 {
		return nil
	}
	solid, dangling, waiting, err := gc.classify(ctx, item.id, refs)
	if err != nil {
		return err
	}
	switch {
	case len(solid) > 0:
		if len(dangling)+len(waiting) == 0 {
			return nil
		}
		// A live owner keeps it; forget the owners that are gone or going.
		drop := map[types.UID]bool{}
		for _, r := range append(dangling, waiting...) {
			drop[r.UID] = true
		}
		return gc.patchOwnerRefs(ctx, item.id, latest, func(r metav1.OwnerReference) (metav1.OwnerReference, bool) { return r, !drop[r.UID] })
	case len(waiting) > 0 && len(item.dependents) > 0:
		// In the middle of a chain whose head is deleted in the
		// foreground: go in the foreground too, so our dependents go
		// first. A dependent that also waits on us would deadlock a
		// cycle: stop blocking our owners then.
		for _, d := range item.dependents {
			if d.deletingDependents {
				waitingUIDs := map[types.UID]bool{}
				for _, r := range waiting {
					waitingUIDs[r.UID] = true
				}
				if err := gc.patchOwnerRefs(ctx, item.id, latest, func(r metav1.OwnerReference) (metav1.OwnerReference, bool) {
					if waitingUIDs[r.UID] {
						f := false
						r.BlockOwnerDeletion = &f
					}
					return r, true
				}); err != nil {
					return err
				}
				break
			}
		}
		return gc.delete(ctx, item.id, latest, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(latest, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(latest, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		return gc.delete(ctx, item.id, latest, policy)
	}
}

// checkVirtual verifies an owner known only from ownerReferences: if it
// does not exist, its dependents are garbage.
func (gc *Controller) checkVirtual(ctx context.Context, item snapshot) error {
	_, err := gc.get(ctx, item.id)
	switch {
	case errors.Is(err, errAbsent):
		gc.absent.Add(item.id.UID, true)
		gc.virtualDelete(item.id)
		return nil
	case err != nil && len(item.dependents) > 0 && isNoMatch(err):
		// A reference to a kind the server does not serve can never be
		// satisfied; Kubernetes keeps retrying, so do we (with back-off).
		return err
	case err != nil:
		return err
	}
	// It exists: its informer will report it.
	return nil
}

func isNoMatch(err error) bool { return meta.IsNoMatchError(err) }

// classify sorts an object's owner references: solid (the owner exists and
// is not being deleted in the foreground), dangling (the owner is gone),
// waiting (the owner is being deleted in the foreground).
func (gc *Controller) classify(ctx context.Context, id objectRef, refs []metav1.OwnerReference) (solid, dangling, waiting []metav1.OwnerReference, err error) {
	for _, r := range refs {
		if _, known := gc.absent.Get(r.UID); known {
			dangling = append(dangling, r)
			continue
		}
		owner, gerr := gc.get(ctx, objectRef{APIVersion: r.APIVersion, Kind: r.Kind, Namespace: id.Namespace, Name: r.Name, UID: r.UID})
		switch {
		case errors.Is(gerr, errAbsent):
			gc.absent.Add(r.UID, true)
			dangling = append(dangling, r)
		case gerr != nil:
			return nil, nil, nil, gerr
		case owner.DeletionTimestamp != nil && hasFinalizer(owner, metav1.FinalizerDeleteDependents):
			waiting = append(waiting, r)
		default:
			solid = append(solid, r)
		}
	}
	return solid, dangling, waiting, nil
}

// finishForeground removes the foregroundDeletion finalizer from an owner
// once no dependent blocks it, and otherwise makes sure the blocking
// dependents are being deleted.
func (gc *Controller) finishForeground(ctx context.Context, item snapshot, latest *metav1.PartialObjectMetadata) error {
	blocking := 0
	for _, d := range item.dependents {
		if !d.blocking {
			continue
		}
		blocking++
		if !d.deletingDependents {
			gc.q.attemptToDelete(d.id.UID)
		}
	}
	if blocking > 0 {
		return nil
	}
	return gc.removeFinalizer(ctx, item.id, latest, metav1.FinalizerDeleteDependents)
}

// attemptToOrphan removes an owner being deleted with the orphan finalizer
// from its dependents' ownerReferences, then removes the finalizer.
func (gc *Controller) attemptToOrphan(ctx context.Context, key string) error {
	item, ok := gc.graph.snapshot(types.UID(key))
	if !ok || !item.orphaning {
		return nil
	}
	for _, d := range item.dependents {
		dep, err := gc.get(ctx, d.id)
		if errors.Is(err, errAbsent) {
			continue
		}
		if err != nil {
			return err
		}
		if err := gc.patchOwnerRefs(ctx, d.id, dep, func(r metav1.OwnerReference) (metav1.OwnerReference, bool) {
			return r, r.UID != item.id.UID
		}); err != nil && !errors.Is(err, errAbsent) {
			return fmt.Errorf("orphaning %s: %w", d.id, err)
		}
	}
	latest, err := gc.get(ctx, item.id)
	if errors.Is(err, errAbsent) {
		return nil
	}
	if err != nil {
		return err
	}
	return gc.removeFinalizer(ctx, item.id, latest, metav1.FinalizerOrphanDependents)
}

// delete deletes id with policy, on the condition that it is still the
// object (uid) and unchanged (resourceVersion) that was classified.
func (gc *Controller) delete(ctx context.Context, id objectRef, latest *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	gvr, namespaced, err := gc.resourceFor(id)
	if err != nil {
		return err
	}
	ns := ""
	if namespaced {
		ns = id.Namespace
	}
	uid, rv := latest.UID, latest.ResourceVersion
	err = gc.md.Resource(gvr).Namespace(ns).Delete(ctx, id.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		PropagationPolicy: &policy,
	})
	switch {
	case err == nil:
		gc.log.Debug("deleted garbage", "object", id.String(), "propagation", string(policy))
		return nil
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		// It changed since we classified it: look again.
		return fmt.Errorf("deleting %s: changed meanwhile: %w", id, err)
	}
	return fmt.Errorf("deleting %s: %w", id, err)
}

// patchOwnerRefs rewrites obj's ownerReferences through keep (which may
// modify a reference, or drop it by returning false), as a JSON merge
// patch guarded by obj's resourceVersion.
func (gc *Controller) patchOwnerRefs(ctx context.Context, id objectRef, obj *metav1.PartialObjectMetadata, keep func(metav1.OwnerReference) (metav1.OwnerReference, bool)) error {
	refs := []metav1.OwnerReference{}
	for _, r := range obj.OwnerReferences {
		if nr, ok := keep(r); ok {
			refs = append(refs, nr)
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "resourceVersion": obj.ResourceVersion, "uid": obj.UID,
	}})
	if err != nil {
		return err
	}
	return gc.patch(ctx, id, patch)
}

// removeFinalizer removes f from obj's finalizers (merge patch guarded by
// resourceVersion; a conflict is retried by the queue).
func (gc *Controller) removeFinalizer(ctx context.Context, id objectRef, obj *metav1.PartialObjectMetadata, f string) error {
	fins := []string{}
	found := false
	for _, x := range obj.Finalizers {
		if x == f {
			found = true
			continue
		}
		fins = append(fins, x)
	}
	if !found {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"finalizers": fins, "resourceVersion": obj.ResourceVersion, "uid": obj.UID,
	}})
	if err != nil {
		return err
	}
	if err := gc.patch(ctx, id, patch); err != nil {
		return fmt.Errorf("removing finalizer %s: %w", f, err)
	}
	gc.log.Debug("removed finalizer", "object", id.String(), "finalizer", f)
	return nil
}

func (gc *Controller) patch(ctx context.Context, id objectRef, patch []byte) error {
	gvr, namespaced, err := gc.resourceFor(id)
	if err != nil {
		return err
	}
	ns := ""
	if namespaced {
		ns = id.Namespace
	}
	_, err = gc.md.Resource(gvr).Namespace(ns).Patch(ctx, id.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return errAbsent
	}
	if err != nil {
		return fmt.Errorf("patching %s: %w", id, err)
	}
	return nil
}
