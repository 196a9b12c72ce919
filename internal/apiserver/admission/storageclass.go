package admission

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Annotations that mark a StorageClass as the cluster's default.
const (
	DefaultStorageClassAnnotation     = "storageclass.kubernetes.io/is-default-class"
	BetaDefaultStorageClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// DefaultStorageClass is Kubernetes' DefaultStorageClass plugin: a
// PersistentVolumeClaim created without spec.storageClassName gets the
// default StorageClass, the one annotated is-default-class=true (the
// newest if several are). A claim whose class is "" asked for no class and
// keeps it; without a default class nothing changes.
type DefaultStorageClass struct {
	Objects Objects
}

var _ Interface = (*DefaultStorageClass)(nil)

// Mutate implements Interface.Mutate.
func (d *DefaultStorageClass) Mutate(ctx context.Context, a *Attributes) error {
	pvc, ok := a.Object.(*corev1.PersistentVolumeClaim)
	if !ok || a.Operation != Create || a.Subresource != "" || pvc.Spec.StorageClassName != nil {
		return nil
	}
	objs, err := d.Objects.List(ctx, schema.GroupResource{Group: "storage.k8s.io", Resource: "storageclasses"}, "", false)
	if err != nil {
		return err
	}
	var best *storagev1.StorageClass
	for _, o := range objs {
		sc := o.(*storagev1.StorageClass)
		if !IsDefaultStorageClass(sc) {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name) {
			best = sc
		}
	}
	if best != nil {
		name := best.Name
		pvc.Spec.StorageClassName = &name
	}
	return nil
}

// Validate implements Interface.Validate: nothing to check.
func (*DefaultStorageClass) Validate(context.Context, *Attributes) error { return nil }

// IsDefaultStorageClass reports whether sc is annotated as a default
// class.
func IsDefaultStorageClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[DefaultStorageClassAnnotation] == "true" || sc.Annotations[BetaDefaultStorageClassAnnotation] == "true"
}
