package statefulset

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// createPod creates pod's claims, then pod.
func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if err := c.createClaims(ctx, set, pod); err != nil {
		return err
	}
	if _, err := c.podControl.CreatePod(ctx, pod, set); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// createClaims creates the claims of pod's ordinal that do not exist.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	ord, ok := ordinalOf(set, pod)
	if !ok {
		return nil
	}
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		name := claimName(set, tmpl, ord)
		existing, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(name)
		switch {
		case err == nil:
			if existing.DeletionTimestamp != nil {
				return fmt.Errorf("claim %s/%s is being deleted; waiting to recreate it", set.Namespace, name)
			}
			continue
		case !apierrors.IsNotFound(err):
			return err
		}
		claim := tmpl.DeepCopy()
		claim.ObjectMeta = metav1.ObjectMeta{
			Name: name, Namespace: set.Namespace,
			Labels: map[string]string{}, Annotations: tmpl.Annotations,
		}
		for k, v := range tmpl.Labels {
			claim.Labels[k] = v
		}
		for k, v := range set.Spec.Selector.MatchLabels {
			claim.Labels[k] = v
		}
		claim.Status = corev1.PersistentVolumeClaimStatus{}
		if deleteWhenDeleted(set) {
			claim.OwnerReferences = []metav1.OwnerReference{ownerOf(set, Kind.GroupVersion().String(), Kind.Kind)}
		}
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, claim, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %v", name, pod.Name, set.Name, err)
			return fmt.Errorf("creating claim %s/%s: %w", set.Namespace, name, err)
		}
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", name, pod.Name, set.Name)
	}
	return nil
}

func deleteWhenDeleted(set *appsv1.StatefulSet) bool {
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	return p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
}

func deleteWhenScaled(set *appsv1.StatefulSet) bool {
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	return p != nil && p.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
}

// ownerOf is a non-controller owner reference (the garbage collector
// deletes the claim after its owner).
func ownerOf(obj metav1.Object, apiVersion, kind string) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), UID: obj.GetUID(), BlockOwnerDeletion: &t}
}

// releaseClaimsOnScaleDown, with whenScaled=Delete, makes the claims of a
// pod removed by scaling down owned by the pod, so they go with it.
func (c *Controller) releaseClaimsOnScaleDown(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	if !deleteWhenScaled(set) {
		return nil
	}
	ord, ok := ordinalOf(set, pod)
	if !ok {
		return nil
	}
	for i := range set.Spec.VolumeClaimTemplates {
		name := claimName(set, &set.Spec.VolumeClaimTemplates[i], ord)
		claim, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if hasOwner(claim.OwnerReferences, pod.UID) {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"ownerReferences": append(append([]metav1.OwnerReference(nil), claim.OwnerReferences...), ownerOf(pod, "v1", "Pod")),
			"resourceVersion": claim.ResourceVersion,
		}})
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("handing claim %s/%s to its pod: %w", set.Namespace, name, err)
		}
	}
	return nil
}

func hasOwner(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// fixIdentity restores a pod's identity labels, hostname and claims if
// they drifted (or the pod was adopted), and its claims' owners per the
// retention policy.
func (c *Controller) fixIdentity(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	ord, ok := ordinalOf(set, pod)
	if !ok {
		return nil
	}
	if err := c.fixClaimOwners(ctx, set, ord); err != nil {
		return err
	}
	if identityMatches(set, pod, ord) {
		return nil
	}
	// Hostname and subdomain are immutable on a pod: only labels can be
	// fixed in place; a pod with the wrong identity is recreated.
	if pod.Spec.Hostname != pod.Name || pod.Spec.Subdomain != set.Spec.ServiceName {
		return c.podControl.DeletePod(ctx, pod.Namespace, pod.Name, pod.UID, set)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{
		appsv1.StatefulSetPodNameLabel: pod.Name,
		appsv1.PodIndexLabel:           ordinalString(ord),
	}}})
	return c.podControl.PatchPod(ctx, pod.Namespace, pod.Name, patch)
}

// fixClaimOwners keeps the set's owner reference on its claims exactly
// when whenDeleted is Delete.
func (c *Controller) fixClaimOwners(ctx context.Context, set *appsv1.StatefulSet, ord int) error {
	for i := range set.Spec.VolumeClaimTemplates {
		name := claimName(set, &set.Spec.VolumeClaimTemplates[i], ord)
		claim, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		var refs []metav1.OwnerReference
		for _, r := range claim.OwnerReferences {
			if r.UID != set.UID {
				refs = append(refs, r)
			}
		}
		if deleteWhenDeleted(set) {
			refs = append(refs, ownerOf(set, Kind.GroupVersion().String(), Kind.Kind))
		}
		if apiequality.Semantic.DeepEqual(refs, claim.OwnerReferences) || len(refs) == 0 && len(claim.OwnerReferences) == 0 {
			continue
		}
		if refs == nil {
			refs = []metav1.OwnerReference{}
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"ownerReferences": refs, "resourceVersion": claim.ResourceVersion,
		}})
		if _, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("updating owners of claim %s/%s: %w", set.Namespace, name, err)
		}
	}
	return nil
}
