package volume

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	volumehelpers "k8s.io/component-helpers/storage/volume"
)

// Volume event reasons.
const (
	eventVolumeFailedDelete  = "VolumeFailedDelete"
	eventVolumeFailedRecycle = "VolumeFailedRecycle"
	eventVolumeDelete        = "VolumeDelete"
)

// syncVolume keeps pv's phase and reclaims it when its claim is gone.
func (c *Controller) syncVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.DeletionTimestamp != nil {
		return nil // the node agent finishes it (FinalizerCleanup)
	}
	ref := pv.Spec.ClaimRef
	if ref == nil {
		return c.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
	}
	if ref.UID == "" {
		// Pre-bound by the user to a claim that has not bound yet.
		c.ctl.Enqueue(claimPrefix + ref.Namespace + "/" + ref.Name)
		return c.setVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
	}
	pvc, err := c.claims.PersistentVolumeClaims(ref.Namespace).Get(ref.Name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting claim %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if err != nil || pvc.UID != ref.UID {
		// The cache may lag behind a fresh claim: ask the server before
		// releasing anything.
		live, err := c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("getting claim %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		if err == nil && live.UID == ref.UID {
			return nil // its event will come
		}
		return c.reclaim(ctx, pv)
	}
	switch pvc.Spec.VolumeName {
	case pv.Name:
		return c.setVolumePhase(ctx, pv, corev1.VolumeBound, "")
	case "":
		// Binding in progress (or the claim waits for this pre-bound
		// volume): the claim's sync finishes it.
		c.ctl.Enqueue(claimPrefix + pvc.Namespace + "/" + pvc.Name)
		return nil
	default:
		// The claim is bound to another volume.
		if metav1.HasAnnotation(pv.ObjectMeta, volumehelpers.AnnBoundByController) {
			// We bound it by mistake (a lost race): let go.
			upd := pv.DeepCopy()
			upd.Spec.ClaimRef = nil
			delete(upd.Annotations, volumehelpers.AnnBoundByController)
			if _, err := c.client.CoreV1().PersistentVolumes().Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("unbinding volume %s: %w", pv.Name, err)
			}
			return nil
		}
		// The user bound it: it is released like one whose claim went.
		return c.reclaim(ctx, pv)
	}
}

// reclaim handles a volume whose claim is gone: Released, then the
// reclaim policy.
func (c *Controller) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Status.Phase == corev1.VolumeFailed {
		return nil
	}
	if pv.Status.Phase != corev1.VolumeReleased {
		if err := c.setVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
			return err
		}
	}
	switch pv.Spec.PersistentVolumeReclaimPolicy {
	case corev1.PersistentVolumeReclaimDelete:
		prov := pv.Annotations[volumehelpers.AnnDynamicallyProvisioned]
		switch {
		case prov == Provisioner:
			err := c.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("deleting released volume %s: %w", pv.Name, err)
			}
			c.log.Info("deleting released local-path volume", "volume", pv.Name)
			c.recorder.Event(pv, corev1.EventTypeNormal, eventVolumeDelete, "Released volume deleted; the node agent removes its directory")
		case prov != "":
			// Another provisioner's: it deletes its own volumes.
		default:
			msg := "error getting deleter volume plugin for volume \"" + pv.Name + "\": no deletable volume plugin matched"
			c.recorder.Event(pv, corev1.EventTypeWarning, eventVolumeFailedDelete, msg)
			return c.setVolumePhase(ctx, pv, corev1.VolumeFailed, msg)
		}
	case corev1.PersistentVolumeReclaimRecycle:
		msg := "recycling is not supported; use reclaim policy Delete or Retain"
		c.recorder.Event(pv, corev1.EventTypeWarning, eventVolumeFailedRecycle, msg)
		return c.setVolumePhase(ctx, pv, corev1.VolumeFailed, msg)
	}
	return nil // Retain: stays Released
}

// setVolumePhase writes pv's phase (and message) if different.
func (c *Controller) setVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, msg string) error {
	if pv.Status.Phase == phase && pv.Status.Message == msg {
		return nil
	}
	upd := pv.DeepCopy()
	upd.Status.Phase, upd.Status.Message = phase, msg
	if _, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("setting volume %s %s: %w", pv.Name, phase, err)
	}
	return nil
}
