// Package ownerref implements ControllerRefs, the ownerReferences entry
// with controller=true that says which controller manages an object: making
// one, finding an object's controller, and claiming the objects a
// controller's selector matches (adopting orphans, releasing objects that
// no longer match) with Kubernetes' rules. Workload controllers under
// internal/controller import it; it uses only apimachinery.
package ownerref

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// New returns a ControllerRef to owner of kind gvk: controller=true and
// blockOwnerDeletion=true, so foreground deletion of the owner waits for
// the object.
func New(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	t := true
	return &metav1.OwnerReference{
		APIVersion:         gvk.GroupVersion().String(),
		Kind:               gvk.Kind,
		Name:               owner.GetName(),
		UID:                owner.GetUID(),
		Controller:         &t,
		BlockOwnerDeletion: &t,
	}
}

// Controller returns obj's ControllerRef, or nil.
func Controller(obj metav1.Object) *metav1.OwnerReference {
	refs := obj.GetOwnerReferences()
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// IsControlledBy reports whether obj's ControllerRef points at the object
// with uid.
func IsControlledBy(obj metav1.Object, uid types.UID) bool {
	ref := Controller(obj)
	return ref != nil && ref.UID == uid
}

// AdoptPatch returns a strategic merge patch that adds ref to obj's
// ownerReferences. It carries obj's UID, so it fails rather than touch a
// different object that took obj's name.
func AdoptPatch(obj metav1.Object, ref *metav1.OwnerReference) ([]byte, error) {
	return json.Marshal(map[string]any{
		"metadata": map[string]any{
			"ownerReferences": []*metav1.OwnerReference{ref},
			"uid":             obj.GetUID(),
		},
	})
}

// ReleasePatch returns a strategic merge patch that removes the owner
// reference with ownerUID from obj.
func ReleasePatch(obj metav1.Object, ownerUID types.UID) ([]byte, error) {
	return json.Marshal(map[string]any{
		"metadata": map[string]any{
			"ownerReferences": []map[string]any{{"$patch": "delete", "uid": ownerUID}},
			"uid":             obj.GetUID(),
		},
	})
}

// Claimer decides, for one controller and the objects its selector may
// match, which of them the controller manages. Adopting and releasing write
// through Patch. A Claimer is for one sync of one controller; it is not
// safe for concurrent use.
type Claimer struct {
	// Owner is the controller object as seen in the cache.
	Owner metav1.Object
	// OwnerKind is Owner's group, version and kind.
	OwnerKind schema.GroupVersionKind
	// Selector chooses the objects Owner wants.
	Selector labels.Selector
	// Recheck reads Owner fresh from the API server (not the cache). It is
	// called once, before the first adoption, so a controller that was
	// deleted or replaced by a namesake adopts nothing.
	Recheck func(ctx context.Context) (metav1.Object, error)
	// Patch applies a strategic merge patch to obj.
	Patch func(ctx context.Context, obj metav1.Object, patch []byte) error

	recheckOnce sync.Once
	recheckErr  error
}

// Claim returns the objects of objs that Owner controls after the claim:
// those it already controls and still selects, plus orphans it selects and
// could adopt. Objects it controls but no longer selects are released.
// Objects controlled by another controller are left alone. An error is
// returned with the objects claimed so far; objects that vanished
// meanwhile (404) are skipped silently.
func Claim[T metav1.Object](ctx context.Context, c *Claimer, objs []T) ([]T, error) {
	var claimed []T
	var errs []error
	for _, o := range objs {
		ok, err := c.claimOne(ctx, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, o)
		}
	}
	if len(errs) > 0 {
		return claimed, fmt.Errorf("claiming objects for %s %s/%s: %w", c.OwnerKind.Kind, c.Owner.GetNamespace(), c.Owner.GetName(), errs[0])
	}
	return claimed, nil
}

func (c *Claimer) claimOne(ctx context.Context, obj metav1.Object) (bool, error) {
	match := c.Selector.Matches(labels.Set(obj.GetLabels()))
	if ref := Controller(obj); ref != nil {
		if ref.UID != c.Owner.GetUID() {
			return false, nil
		}
		if match {
			return true, nil
		}
		// Ours but no longer selected: release, unless we are being
		// deleted (then the garbage collector handles our dependents).
		if c.Owner.GetDeletionTimestamp() != nil {
			return false, nil
		}
		patch, err := ReleasePatch(obj, c.Owner.GetUID())
		if err != nil {
			return false, err
		}
		if err := c.Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
			// Invalid: the object changed UID (replaced); nothing to release.
			return false, fmt.Errorf("releasing %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
		}
		return false, nil
	}
	// An orphan.
	if !match || c.Owner.GetDeletionTimestamp() != nil || obj.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if c.Owner.GetNamespace() != obj.GetNamespace() {
		return false, nil
	}
	if err := c.canAdopt(ctx); err != nil {
		return false, err
	}
	patch, err := AdoptPatch(obj, New(c.Owner, c.OwnerKind))
	if err != nil {
		return false, err
	}
	if err := c.Patch(ctx, obj, patch); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
			return false, nil
		}
		return false, fmt.Errorf("adopting %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return true, nil
}

func (c *Claimer) canAdopt(ctx context.Context) error {
	c.recheckOnce.Do(func() {
		if c.Recheck == nil {
			return
		}
		fresh, err := c.Recheck(ctx)
		if err != nil {
			c.recheckErr = fmt.Errorf("rechecking %s before adoption: %w", c.OwnerKind.Kind, err)
			return
		}
		if fresh.GetUID() != c.Owner.GetUID() {
			c.recheckErr = fmt.Errorf("%s %s/%s was recreated (uid %s, cached %s); not adopting", c.OwnerKind.Kind,
				c.Owner.GetNamespace(), c.Owner.GetName(), fresh.GetUID(), c.Owner.GetUID())
			return
		}
		if fresh.GetDeletionTimestamp() != nil {
			c.recheckErr = fmt.Errorf("%s %s/%s is being deleted; not adopting", c.OwnerKind.Kind, c.Owner.GetNamespace(), c.Owner.GetName())
		}
	})
	return c.recheckErr
}
