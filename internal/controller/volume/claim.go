package volume

import (
	"context"
	"fmt"
	"path"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	volumehelpers "k8s.io/component-helpers/storage/volume"
)

// Event reasons, as Kubernetes' PV controller uses them.
const (
	eventFailedBinding         = "FailedBinding"
	eventWaitForFirstConsumer  = "WaitForFirstConsumer"
	eventExternalProvisioning  = "ExternalProvisioning"
	eventProvisioningSucceeded = "ProvisioningSucceeded"
	eventProvisioningFailed    = "ProvisioningFailed"
	eventClaimLost             = "ClaimLost"
	eventClaimMisbound         = "ClaimMisbound"
	eventVolumeMismatch        = "VolumeMismatch"
)

// syncClaim moves one claim towards Bound.
func (c *Controller) syncClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.DeletionTimestamp != nil {
		return nil
	}
	if pvc.Spec.VolumeName == "" {
		return c.syncUnboundClaim(ctx, pvc)
	}
	pv, err := c.volumes.Get(pvc.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		if pvc.Status.Phase == corev1.ClaimLost {
			return nil
		}
		if pvc.Status.Phase == corev1.ClaimBound {
			c.recorder.Event(pvc, corev1.EventTypeWarning, eventClaimLost, "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
			return c.setClaimPhase(ctx, pvc, corev1.ClaimLost, nil)
		}
		// Pre-bound to a volume that does not exist (yet).
		return c.setClaimPhase(ctx, pvc, corev1.ClaimPending, nil)
	}
	if err != nil {
		return fmt.Errorf("getting volume %s: %w", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.ClaimRef == nil:
		// The user named this volume in the claim: bind it if it fits.
		if msg := mismatch(pv, pvc); msg != "" {
			c.recorder.Eventf(pvc, corev1.EventTypeWarning, eventVolumeMismatch, "Cannot bind to requested volume %q: %s", pv.Name, msg)
			return c.setClaimPhase(ctx, pvc, corev1.ClaimPending, nil)
		}
		return c.bind(ctx, pv, pvc)
	case volumehelpers.IsVolumeBoundToClaim(pv, pvc):
		return c.bind(ctx, pv, pvc)
	default:
		if metav1.HasAnnotation(pvc.ObjectMeta, volumehelpers.AnnBindCompleted) {
			c.recorder.Event(pvc, corev1.EventTypeWarning, eventClaimMisbound, "Two claims are bound to the same volume, this one is bound incorrectly")
			return c.setClaimPhase(ctx, pvc, corev1.ClaimLost, nil)
		}
		c.recorder.Eventf(pvc, corev1.EventTypeWarning, eventFailedBinding, "volume %q already bound to a different claim.", pv.Name)
		return c.setClaimPhase(ctx, pvc, corev1.ClaimPending, nil)
	}
}

// mismatch says why pv cannot serve pvc, or "".
func mismatch(pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) string {
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pv.Spec.Capacity[corev1.ResourceStorage]
	switch {
	case have.Cmp(want) < 0:
		return "requested PV is too small"
	case volumehelpers.GetPersistentVolumeClass(pv) != volumehelpers.GetPersistentVolumeClaimClass(pvc):
		return "storageClassName does not match"
	case volumehelpers.CheckVolumeModeMismatches(&pvc.Spec, &pv.Spec):
		return "incompatible volumeMode"
	case !volumehelpers.CheckAccessModes(pvc, pv):
		return "incompatible accessMode"
	}
	return ""
}

// syncUnboundClaim finds, or provisions, a volume for pvc.
func (c *Controller) syncUnboundClaim(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Spec.StorageClassName == nil {
		if def := c.defaultClass(); def != nil {
			// Retroactive default class: the claim event brings it back.
			upd := pvc.DeepCopy()
			upd.Spec.StorageClassName = &def.Name
			if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("giving claim %s/%s the default class: %w", pvc.Namespace, pvc.Name, err)
			}
			return nil
		}
	}
	className := volumehelpers.GetPersistentVolumeClaimClass(pvc)
	var class *storagev1.StorageClass
	if className != "" {
		cl, err := c.classes.Get(className)
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("getting storage class %s: %w", className, err)
		}
		if err == nil {
			class = cl
		}
	}
	delay := class != nil && class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
	selected := pvc.Annotations[volumehelpers.AnnSelectedNode]
	var node *corev1.Node
	if delay && selected != "" {
		n, err := c.nodes.Get(selected)
		if err != nil {
			if apierrors.IsNotFound(err) {
				c.recorder.Eventf(pvc, corev1.EventTypeWarning, eventFailedBinding, "selected node %q not found", selected)
				return c.setClaimPhase(ctx, pvc, corev1.ClaimPending, nil)
			}
			return fmt.Errorf("getting node %s: %w", selected, err)
		}
		node = n
		if node.Labels[LabelHostname] == "" {
			// Local volumes name the node by this label; a node
			// without it is known by its name.
			node = node.DeepCopy()
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			node.Labels[LabelHostname] = node.Name
		}
	}

	all, err := c.volumes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing volumes: %w", err)
	}
	var candidates []*corev1.PersistentVolume
	for _, pv := range all {
		if volumehelpers.CheckAccessModes(pvc, pv) {
			candidates = append(candidates, pv)
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].Name < candidates[j].Name })
	// With a selected node the PV controller acts for the scheduler:
	// node affinity is checked and delay no longer applies.
	pv, err := volumehelpers.FindMatchingVolume(pvc, candidates, node, nil, delay && node == nil, false)
	if err != nil {
		c.recorder.Event(pvc, corev1.EventTypeWarning, eventFailedBinding, err.Error())
		return c.setClaimPhase(ctx, pvc, corev1.ClaimPending, nil)
	}
	if pv != nil {
		return c.bind(ctx, pv, pvc)
	}
	if delay && node == nil {
		c.recorder.Event(pvc, corev1.EventTypeNormal, eventWaitForFirstConsumer, "waiting for first consumer to be created before binding")
		return c.setClaimPhase(ctx, pvc, corev1.ClaimPending, nil)
	}
	switch {
	case class != nil && class.Provisioner == Provisioner:
		if err := c.provision(ctx, pvc, class, node); err != nil {
			return err
		}
	case class != nil && class.Provisioner != volumehelpers.NotSupportedProvisioner:
		if err := c.annotateProvisioner(ctx, pvc, class.Provisioner); err != nil {
			return err
		}
		c.recorder.Eventf(pvc, corev1.EventTypeNormal, eventExternalProvisioning,
			"Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", class.Provisioner)
	case className == "":
		c.recorder.Event(pvc, corev1.EventTypeNormal, eventFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	case class == nil:
		c.recorder.Eventf(pvc, corev1.EventTypeWarning, eventProvisioningFailed, "storageclass.storage.k8s.io %q not found", className)
	default:
		c.recorder.Event(pvc, corev1.EventTypeNormal, eventFailedBinding, "no persistent volumes available for this claim and the storage class does not provision")
	}
	return c.setClaimPhase(ctx, pvc, corev1.ClaimPending, nil)
}

// defaultClass returns the default StorageClass (the newest if several
// are marked, as Kubernetes picks), or nil.
func (c *Controller) defaultClass() *storagev1.StorageClass {
	classes, err := c.classes.List(labels.Everything())
	if err != nil {
		return nil
	}
	var def *storagev1.StorageClass
	for _, cl := range classes {
		if cl.Annotations[AnnDefaultClass] != "true" && cl.Annotations["storageclass.beta.kubernetes.io/is-default-class"] != "true" {
			continue
		}
		if def == nil || cl.CreationTimestamp.After(def.CreationTimestamp.Time) ||
			cl.CreationTimestamp.Equal(&def.CreationTimestamp) && cl.Name < def.Name {
			def = cl
		}
	}
	return def
}

// annotateProvisioner records on pvc which provisioner should serve it.
func (c *Controller) annotateProvisioner(ctx context.Context, pvc *corev1.PersistentVolumeClaim, provisioner string) error {
	if pvc.Annotations[volumehelpers.AnnStorageProvisioner] == provisioner && pvc.Annotations[volumehelpers.AnnBetaStorageProvisioner] == provisioner {
		return nil
	}
	upd := pvc.DeepCopy()
	metav1.SetMetaDataAnnotation(&upd.ObjectMeta, volumehelpers.AnnStorageProvisioner, provisioner)
	metav1.SetMetaDataAnnotation(&upd.ObjectMeta, volumehelpers.AnnBetaStorageProvisioner, provisioner)
	if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("annotating claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

// ProvisionedName is the name of the volume provisioned for a claim.
func ProvisionedName(pvc *corev1.PersistentVolumeClaim) string { return "pvc-" + string(pvc.UID) }

// provision creates a local-path volume for pvc on node (the selected
// node, or for Immediate classes the first Ready node by name),
// pre-bound to pvc.
func (c *Controller) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node *corev1.Node) error {
	name := ProvisionedName(pvc)
	if _, err := c.volumes.Get(name); err == nil {
		return nil // provisioned; binding follows its event
	}
	if pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		c.recorder.Event(pvc, corev1.EventTypeWarning, eventProvisioningFailed, "local-path volumes do not support volumeMode Block")
		return nil
	}
	if pvc.Spec.Selector != nil {
		c.recorder.Event(pvc, corev1.EventTypeWarning, eventProvisioningFailed, "claim Selector is not supported")
		return nil
	}
	if node == nil {
		n, err := c.pickNode()
		if err != nil {
			c.recorder.Eventf(pvc, corev1.EventTypeWarning, eventProvisioningFailed, "no node to provision on: %v", err)
			return fmt.Errorf("provisioning for claim %s/%s: %w", pvc.Namespace, pvc.Name, err)
		}
		node = n
	}
	if err := c.annotateProvisioner(ctx, pvc, Provisioner); err != nil {
		return err
	}
	pv := LocalPathVolume(name, c.cfg.LocalPathRoot, pvc, class, node)
	if _, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		c.recorder.Eventf(pvc, corev1.EventTypeWarning, eventProvisioningFailed, "Failed to provision volume with StorageClass %q: %v", class.Name, err)
		return fmt.Errorf("creating volume %s: %w", name, err)
	}
	c.log.Info("provisioned local-path volume", "claim", pvc.Namespace+"/"+pvc.Name, "volume", name, "node", node.Name)
	c.recorder.Eventf(pvc, corev1.EventTypeNormal, eventProvisioningSucceeded, "Successfully provisioned volume %s using %s", name, Provisioner)
	return nil
}

// pickNode chooses where an Immediate claim's local volume lives.
func (c *Controller) pickNode() (*corev1.Node, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, n := range nodes {
		if n.Spec.Unschedulable {
			continue
		}
		for _, cnd := range n.Status.Conditions {
			if cnd.Type == corev1.NodeReady && cnd.Status == corev1.ConditionTrue {
				return n, nil
			}
		}
	}
	return nil, fmt.Errorf("no Ready node")
}

// LocalPathVolume is the volume the local-path provisioner creates for
// pvc of class on node.
func LocalPathVolume(name, root string, pvc *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node *corev1.Node) *corev1.PersistentVolume {
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	host := node.Labels[LabelHostname]
	if host == "" {
		host = node.Name
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	mode := corev1.PersistentVolumeFilesystem
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{volumehelpers.AnnDynamicallyProvisioned: Provisioner},
			Finalizers:  []string{FinalizerCleanup},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    &mode,
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path.Join(root, name), Type: &dirOrCreate},
			},
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID, ResourceVersion: pvc.ResourceVersion,
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{host}}},
			}}}},
		},
	}
}

// bind binds pv and pvc both ways and marks both Bound, each step only
// if not done yet, so that an interrupted bind resumes.
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, pvc *corev1.PersistentVolumeClaim) error {
	bound, dirty, err := volumehelpers.GetBindVolumeToClaim(pv, pvc)
	if err != nil {
		return err
	}
	if dirty {
		if bound, err = c.client.CoreV1().PersistentVolumes().Update(ctx, bound, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("binding volume %s to claim %s/%s: %w", pv.Name, pvc.Namespace, pvc.Name, err)
		}
	}
	if bound.Status.Phase != corev1.VolumeBound {
		upd := bound.DeepCopy()
		upd.Status.Phase, upd.Status.Message, upd.Status.Reason = corev1.VolumeBound, "", ""
		if bound, err = c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("marking volume %s Bound: %w", pv.Name, err)
		}
	}
	if pvc.Spec.VolumeName != pv.Name || !metav1.HasAnnotation(pvc.ObjectMeta, volumehelpers.AnnBindCompleted) {
		upd := pvc.DeepCopy()
		if upd.Spec.VolumeName != pv.Name {
			upd.Spec.VolumeName = pv.Name
			metav1.SetMetaDataAnnotation(&upd.ObjectMeta, volumehelpers.AnnBoundByController, "yes")
		}
		metav1.SetMetaDataAnnotation(&upd.ObjectMeta, volumehelpers.AnnBindCompleted, "yes")
		if pvc, err = c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("binding claim %s/%s to volume %s: %w", upd.Namespace, upd.Name, pv.Name, err)
		}
	}
	if err := c.setClaimPhase(ctx, pvc, corev1.ClaimBound, bound); err != nil {
		return err
	}
	c.log.Debug("bound", "claim", pvc.Namespace+"/"+pvc.Name, "volume", pv.Name)
	return nil
}

// setClaimPhase writes pvc's phase, and for Bound the volume's capacity
// and access modes, if they differ.
func (c *Controller) setClaimPhase(ctx context.Context, pvc *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) error {
	upd := pvc.DeepCopy()
	upd.Status.Phase = phase
	if phase == corev1.ClaimBound && pv != nil {
		upd.Status.Capacity = pv.Spec.Capacity.DeepCopy()
		upd.Status.AccessModes = pv.Spec.AccessModes
	}
	if phase != corev1.ClaimBound {
		upd.Status.Capacity, upd.Status.AccessModes = nil, nil
	}
	if upd.Status.Phase == pvc.Status.Phase && equalResources(upd.Status.Capacity, pvc.Status.Capacity) &&
		len(upd.Status.AccessModes) == len(pvc.Status.AccessModes) {
		return nil
	}
	if _, err := c.client.CoreV1().PersistentVolumeClaims(pvc.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("setting claim %s/%s %s: %w", pvc.Namespace, pvc.Name, phase, err)
	}
	return nil
}

func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}
