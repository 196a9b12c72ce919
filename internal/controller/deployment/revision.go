package deployment

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
)

// Annotations the controller maintains (Kubernetes' names; kubectl reads
// them).
const (
	// RevisionAnnotation is the revision number of a ReplicaSet, and of
	// the Deployment's current template.
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists the former revision numbers of a
	// ReplicaSet that was rolled back to.
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the Deployment's spec.replicas when the
	// ReplicaSet was last scaled; a mismatch means a scaling event.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// MaxReplicasAnnotation is replicas+maxSurge when last scaled, used to
	// scale proportionally.
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
	// changeCauseAnnotation is shown by kubectl rollout history.
	changeCauseAnnotation = "kubernetes.io/change-cause"
	// maxRevisionHistoryChars bounds the revision-history annotation.
	maxRevisionHistoryChars = 2000
)

// skipCopy are the Deployment annotations not copied to its ReplicaSets.
var skipCopy = map[string]bool{
	corev1.LastAppliedConfigAnnotation: true,
	RevisionAnnotation:                 true,
	RevisionHistoryAnnotation:          true,
	DesiredReplicasAnnotation:          true,
	MaxReplicasAnnotation:              true,
	appsv1.DeprecatedRollbackTo:        true,
}

// TemplateHash returns the pod-template-hash of template: a short,
// label-safe string derived from its content and the collision count, so
// a hash collision with an unrelated ReplicaSet is resolved by bumping
// status.collisionCount.
func TemplateHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, err := json.Marshal(template)
	if err != nil {
		// Every API type marshals; this is an invariant.
		panic(fmt.Sprintf("marshalling a pod template: %v", err))
	}
	h.Write(b)
	if collisionCount != nil {
		var buf [4]byte
		binary.LittleEndian.PutUint32(buf[:], uint32(*collisionCount))
		h.Write(buf[:])
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// equalIgnoreHash reports whether two templates are equal but for their
// pod-template-hash labels (how a Deployment finds the ReplicaSet of its
// current template, whatever hash function made it).
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// byCreation orders ReplicaSets oldest first, then by name.
func byCreation(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		ti, tj := rss[i].CreationTimestamp, rss[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return rss[i].Name < rss[j].Name
	})
}

// splitReplicaSets returns the ReplicaSet of d's current template (the
// oldest if several match) and the others.
func splitReplicaSets(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet) {
	sorted := append([]*appsv1.ReplicaSet(nil), rsList...)
	byCreation(sorted)
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range sorted {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

// revision returns the revision annotation of obj (0 if absent or bad).
func revision(obj metav1.Object) int64 {
	v, err := strconv.ParseInt(obj.GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

// setNewRSAnnotations copies d's annotations onto rs and gives rs
// revision newRevision (recording a rolled-back-to ReplicaSet's former
// revision in its history); for a ReplicaSet being created (!exists) it
// also sets the replicas annotations. It reports whether rs changed.
func setNewRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipCopy[k] || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	oldStr, had := rs.Annotations[RevisionAnnotation]
	old, _ := strconv.ParseInt(oldStr, 10, 64)
	if old < newRevision {
		rs.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had && oldStr != "" {
			hist := rs.Annotations[RevisionHistoryAnnotation]
			if hist == "" {
				hist = oldStr
			} else {
				hist += "," + oldStr
			}
			for len(hist) > maxRevisionHistoryChars {
				i := strings.IndexByte(hist, ',')
				if i < 0 {
					break
				}
				hist = hist[i+1:]
			}
			rs.Annotations[RevisionHistoryAnnotation] = hist
		}
	}
	if !exists && setReplicasAnnotations(rs, replicas(d), replicas(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// setReplicasAnnotations records d's desired and maximum replicas on rs.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation] = d
	rs.Annotations[MaxReplicasAnnotation] = m
	return true
}

func annotationInt(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// getNewReplicaSet returns d's new ReplicaSet with its revision brought
// up to date, creating it if create is set and it does not exist (nil,
// nil otherwise). It records the revision on d and, on a hash collision,
// bumps d's collisionCount and returns an error so the sync is retried.
func (c *Controller) getNewReplicaSet(ctx context.Context, d *appsv1.Deployment, rsList, oldRSs []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	existing, _ := splitReplicaSets(d, rsList)
	newRevision := maxRevision(oldRSs) + 1
	if existing != nil {
		rs := existing.DeepCopy()
		annChanged := setNewRSAnnotations(d, rs, newRevision, true)
		if annChanged || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Update(ctx, rs, metav1.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("updating revision of replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
			}
			rs = updated
		}
		if err := c.setDeploymentRevision(ctx, d, rs.Annotations[RevisionAnnotation]); err != nil {
			return nil, err
		}
		if hasProgressDeadline(d) && condition(d.Status, appsv1.DeploymentProgressing) == nil {
			setCondition(&d.Status, newCondition(c.clock.Now(), appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", rs.Name)))
			updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
			if err != nil {
				return nil, fmt.Errorf("updating status of deployment %s/%s: %w", d.Namespace, d.Name, err)
			}
			d.Status = updated.Status
			d.ResourceVersion = updated.ResourceVersion
		}
		return rs, nil
	}
	if !create {
		return nil, nil
	}

	hash := TemplateHash(&d.Spec.Template, d.Status.CollisionCount)
	template := d.Spec.Template.DeepCopy()
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	selector := d.Spec.Selector.DeepCopy()
	if selector.MatchLabels == nil {
		selector.MatchLabels = map[string]string{}
	}
	selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	var zero int32
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*ownerref.New(d, Kind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        &zero,
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        *template,
		},
	}
	n := newRSReplicas(d, append(append([]*appsv1.ReplicaSet(nil), oldRSs...), rs), rs)
	rs.Spec.Replicas = &n
	setNewRSAnnotations(d, rs, newRevision, false)

	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Our cache may be stale (it is ours, with this template), or the
		// name is taken by another template: a hash collision.
		cur, gerr := c.rsLister.ReplicaSets(d.Namespace).Get(rs.Name)
		if apierrors.IsNotFound(gerr) {
			// Not in our cache yet: ask the API server.
			cur, gerr = c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		}
		if gerr != nil {
			return nil, fmt.Errorf("reading replicaset %s/%s: %w", d.Namespace, rs.Name, gerr)
		}
		if ownerref.IsControlledBy(cur, d.UID) && equalIgnoreHash(&cur.Spec.Template, &d.Spec.Template) {
			return cur, nil
		}
		var cc int32
		if d.Status.CollisionCount != nil {
			cc = *d.Status.CollisionCount
		}
		cc++
		d.Status.CollisionCount = &cc
		if _, uerr := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{}); uerr != nil {
			return nil, fmt.Errorf("recording hash collision of deployment %s/%s: %w", d.Namespace, d.Name, uerr)
		}
		return nil, fmt.Errorf("replicaset name %s is taken by another template (hash collision); collisionCount now %d", rs.Name, cc)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(c.clock.Now(), appsv1.DeploymentProgressing, corev1.ConditionFalse, ReasonFailedRSCreate, msg))
			// The create error is the one to report.
			_, _ = c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		}
		c.recorder.Event(d, corev1.EventTypeWarning, ReasonFailedRSCreate, msg)
		return nil, fmt.Errorf("creating replicaset for deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	if n > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	if err := c.setDeploymentRevision(ctx, d, strconv.FormatInt(newRevision, 10)); err != nil {
		return nil, err
	}
	if hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(c.clock.Now(), appsv1.DeploymentProgressing, corev1.ConditionTrue, ReasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", created.Name)))
		updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		if err != nil {
			return nil, fmt.Errorf("updating status of deployment %s/%s: %w", d.Namespace, d.Name, err)
		}
		d.Status = updated.Status
		d.ResourceVersion = updated.ResourceVersion
	}
	return created, nil
}

// setDeploymentRevision records rev in d's revision annotation with a
// metadata patch (d is updated in place).
func (c *Controller) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, rev string) error {
	if rev == "" || d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{RevisionAnnotation: rev}}})
	updated, err := c.client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("recording revision %s of deployment %s/%s: %w", rev, d.Namespace, d.Name, err)
	}
	d.Annotations = updated.Annotations
	d.ResourceVersion = updated.ResourceVersion
	return nil
}

// cleanup deletes the oldest empty old ReplicaSets beyond
// spec.revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, oldRSs []*appsv1.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var cleanable []*appsv1.ReplicaSet
	for _, rs := range oldRSs {
		if rs.DeletionTimestamp == nil {
			cleanable = append(cleanable, rs)
		}
	}
	diff := len(cleanable) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(cleanable, func(i, j int) bool {
		ri, rj := revision(cleanable[i]), revision(cleanable[j])
		if ri != rj {
			return ri < rj
		}
		ti, tj := cleanable[i].CreationTimestamp, cleanable[j].CreationTimestamp
		return ti.Before(&tj)
	})
	var firstErr error
	for _, rs := range cleanable[:diff] {
		// Only empty, settled ReplicaSets go.
		if rs.Status.Replicas != 0 || replicasOf(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &rs.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && firstErr == nil {
			firstErr = fmt.Errorf("deleting old replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
		}
	}
	return firstErr
}
