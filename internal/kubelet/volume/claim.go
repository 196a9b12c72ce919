package volume

import (
	"context"
	"errors"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// setupClaim resolves a persistentVolumeClaim to its bound volume's path
// on this node (hostPath and local volumes; a local-path provisioner
// volume is a hostPath DirectoryOrCreate, created here on first use).
func (m *Manager) setupClaim(ctx context.Context, pod *corev1.Pod, src *corev1.PersistentVolumeClaimVolumeSource) (Mounted, error) {
	pvc, err := m.client.CoreV1().PersistentVolumeClaims(pod.Namespace).Get(ctx, src.ClaimName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Mounted{}, fmt.Errorf("persistentvolumeclaim %q not found", src.ClaimName)
	}
	if err != nil {
		return Mounted{}, fmt.Errorf("getting persistentvolumeclaim %q: %w", src.ClaimName, err)
	}
	if pvc.DeletionTimestamp != nil {
		return Mounted{}, fmt.Errorf("persistentvolumeclaim %q is being deleted", src.ClaimName)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return Mounted{}, fmt.Errorf("persistentvolumeclaim %q is not bound", src.ClaimName)
	}
	pv, err := m.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return Mounted{}, fmt.Errorf("getting persistentvolume %q of claim %q: %w", pvc.Spec.VolumeName, src.ClaimName, err)
	}
	if ref := pv.Spec.ClaimRef; ref == nil || ref.Name != pvc.Name || ref.Namespace != pvc.Namespace || (ref.UID != "" && ref.UID != pvc.UID) {
		return Mounted{}, fmt.Errorf("persistentvolume %q is not bound to claim %q", pv.Name, src.ClaimName)
	}
	ro := src.ReadOnly
	switch {
	case pv.Spec.HostPath != nil:
		p, err := hostPath(pv.Spec.HostPath.Path, pv.Spec.HostPath.Type)
		if err != nil {
			return Mounted{}, fmt.Errorf("persistentvolume %q: %w", pv.Name, err)
		}
		return Mounted{HostPath: p, ReadOnly: ro}, nil
	case pv.Spec.Local != nil:
		info, err := os.Stat(pv.Spec.Local.Path)
		if errors.Is(err, os.ErrNotExist) {
			return Mounted{}, fmt.Errorf("persistentvolume %q: local path %s does not exist on this node", pv.Name, pv.Spec.Local.Path)
		}
		if err != nil {
			return Mounted{}, fmt.Errorf("persistentvolume %q: %w", pv.Name, err)
		}
		if !info.IsDir() {
			return Mounted{}, fmt.Errorf("persistentvolume %q: local path %s is not a directory (block volumes are not supported)", pv.Name, pv.Spec.Local.Path)
		}
		return Mounted{HostPath: pv.Spec.Local.Path, ReadOnly: ro}, nil
	}
	return Mounted{}, fmt.Errorf("persistentvolume %q: only hostPath and local volumes are supported on this node", pv.Name)
}
