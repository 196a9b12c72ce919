package statefulset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/podvisor/podvisor/internal/controller/history"
	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/podstate"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// revisions finds or creates the update revision (the current template)
// and finds the current revision (status.currentRevision, or the update
// revision if unknown).
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (cur, upd *appsv1.ControllerRevision, collisions int32, err error) {
	history.SortByRevision(revs)
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	data, err := history.TemplateData(&set.Spec.Template)
	if err != nil {
		return nil, nil, 0, err
	}
	want := history.New(set, Kind, set.Spec.Selector.MatchLabels, data, history.Next(revs), &collisions)
	equal := history.FindEqual(revs, want)
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == revs[len(revs)-1]:
		upd = equal[len(equal)-1]
	case len(equal) > 0:
		// Back to an earlier template (a rollback): it becomes the newest.
		upd, err = c.history.SetRevision(ctx, equal[len(equal)-1], want.Revision)
	default:
		upd, err = history.CreateUnique(ctx, c.history, set, Kind, want, &collisions, revs)
	}
	if err != nil {
		return nil, nil, 0, err
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			cur = r
		}
	}
	if cur == nil {
		cur = upd
	}
	return cur, upd, collisions, nil
}

// applyRevision returns set with its template replaced by rev's.
func applyRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(b, rev.Data.Raw, set)
	if err != nil {
		return nil, fmt.Errorf("applying revision %s: %w", rev.Name, err)
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, fmt.Errorf("applying revision %s: %w", rev.Name, err)
	}
	return out, nil
}

func revisionOf(pod *corev1.Pod) string { return pod.Labels[appsv1.ControllerRevisionHashLabelKey] }

func isCreated(pod *corev1.Pod) bool     { return pod != nil && pod.UID != "" }
func isTerminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }
func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && podstate.IsReady(pod)
}

// isHealthy: running, ready, available after minReadySeconds, not going.
func (c *Controller) isHealthy(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	return isRunningAndReady(pod) && !isTerminating(pod) && podstate.IsAvailable(pod, set.Spec.MinReadySeconds, c.clock.Now())
}

func burst(set *appsv1.StatefulSet) bool {
	return set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
}

// update is one step of the StatefulSet's reconciliation (see the package
// doc); it always writes the status it reaches.
func (c *Controller) update(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision) error {
	cur, upd, collisions, err := c.revisions(ctx, set, revs)
	if err != nil {
		return err
	}
	curSet, err := applyRevision(set, cur)
	if err != nil {
		return err
	}
	updSet, err := applyRevision(set, upd)
	if err != nil {
		return err
	}
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    cur.Name,
		UpdateRevision:     upd.Name,
		CollisionCount:     &collisions,
	}
	wait, stepErr := c.step(ctx, set, curSet, updSet, cur.Name, upd.Name, pods)
	c.countStatus(set, &st)
	if err := c.writeStatus(ctx, set, st); err != nil {
		return errors.Join(stepErr, err)
	}
	if stepErr != nil {
		return stepErr
	}
	if err := c.truncateHistory(ctx, set, revs, cur, upd); err != nil {
		return err
	}
	if wait > 0 {
		return reconcile.RequeueAfter(wait)
	}
	return nil
}

// countStatus fills st's counts from the set's pods as they are now in
// the cache (and the actions of this sync, which the next sync sees).
func (c *Controller) countStatus(set *appsv1.StatefulSet, st *appsv1.StatefulSetStatus) {
	pods, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	now := c.clock.Now()
	for _, p := range pods {
		if !ownerref.IsControlledBy(p, set.UID) {
			continue
		}
		st.Replicas++
		if isRunningAndReady(p) {
			st.ReadyReplicas++
			if podstate.IsAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if !isTerminating(p) {
			if revisionOf(p) == st.CurrentRevision {
				st.CurrentReplicas++
			}
			if revisionOf(p) == st.UpdateRevision {
				st.UpdatedReplicas++
			}
		}
	}
	// A finished rolling update: the update revision becomes current.
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType &&
		st.UpdatedReplicas == int32(replicas(set)) && st.ReadyReplicas == st.Replicas && st.Replicas == int32(replicas(set)) {
		st.CurrentRevision = st.UpdateRevision
		st.CurrentReplicas = st.UpdatedReplicas
	}
}

// step creates, deletes or replaces pods as far as the policy allows in
// one sync. It returns how long until a pod becomes available (to look
// again), if that is what it waits for.
func (c *Controller) step(ctx context.Context, set, curSet, updSet *appsv1.StatefulSet, curRev, updRev string, pods []*corev1.Pod) (time.Duration, error) {
	start, n := startOrdinal(set), replicas(set)
	slots := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		ord, ok := ordinalOf(set, p)
		switch {
		case ok && ord >= start && ord < start+n:
			slots[ord-start] = p
		default:
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool {
		a, _ := ordinalOf(set, condemned[i])
		b, _ := ordinalOf(set, condemned[j])
		return a < b
	})
	if set.DeletionTimestamp != nil {
		return 0, nil
	}
	monotonic := !burst(set)
	var wait time.Duration
	noteWait := func(p *corev1.Pod) {
		if d := podstate.AvailableIn(p, set.Spec.MinReadySeconds, c.clock.Now()); d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	newPod := func(i int) *corev1.Pod {
		ord := start + i
		if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && ord-start < partition(set) {
			return c.newPod(curSet, ord, curRev)
		}
		return c.newPod(updSet, ord, updRev)
	}
	// The first unhealthy pod (in ordinal order) may be removed while
	// scaling down even when not ready; others must wait.
	var firstUnhealthy *corev1.Pod
	for _, p := range slots {
		if p != nil && !c.isHealthy(set, p) {
			firstUnhealthy = p
			break
		}
	}
	if firstUnhealthy == nil {
		for _, p := range condemned {
			if !c.isHealthy(set, p) {
				firstUnhealthy = p
				break
			}
		}
	}

	for i := range slots {
		p := slots[i]
		if p != nil && podstate.IsTerminal(p) && !isTerminating(p) {
			// A finished pod is replaced under the same name.
			if err := c.podControl.DeletePod(ctx, p.Namespace, p.Name, p.UID, set); err != nil && !apierrors.IsNotFound(err) {
				return 0, err
			}
			if monotonic {
				return 0, nil
			}
			continue
		}
		if p == nil {
			if err := c.createPod(ctx, set, newPod(i)); err != nil {
				return 0, err
			}
			if monotonic {
				return 0, nil
			}
			continue
		}
		if p.Status.Phase == corev1.PodPending {
			if err := c.createClaims(ctx, set, p); err != nil {
				return 0, err
			}
		}
		if isTerminating(p) && monotonic {
			return 0, nil
		}
		if monotonic && !isTerminating(p) && !c.isHealthy(set, p) {
			noteWait(p)
			return wait, nil
		}
		if !isTerminating(p) {
			if err := c.fixIdentity(ctx, set, p); err != nil {
				return 0, err
			}
		}
	}

	// Scale down: highest ordinal first, each after its predecessors are
	// healthy (monotonic).
	for k := len(condemned) - 1; k >= 0; k-- {
		p := condemned[k]
		if isTerminating(p) {
			if monotonic {
				return 0, nil
			}
			continue
		}
		if monotonic && !c.isHealthy(set, p) && p != firstUnhealthy {
			return 0, nil
		}
		if err := c.releaseClaimsOnScaleDown(ctx, set, p); err != nil {
			return 0, err
		}
		if err := c.podControl.DeletePod(ctx, p.Namespace, p.Name, p.UID, set); err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
		if monotonic {
			return 0, nil
		}
	}

	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return wait, nil
	}
	// Rolling update: replace the highest pod not at the update revision,
	// down to the partition, one at a time.
	for i := len(slots) - 1; i >= partition(set); i-- {
		p := slots[i]
		if p == nil {
			continue
		}
		if revisionOf(p) != updRev && !isTerminating(p) {
			c.log.Debug("replacing pod for update", "pod", p.Name, "revision", updRev)
			if err := c.podControl.DeletePod(ctx, p.Namespace, p.Name, p.UID, set); err != nil && !apierrors.IsNotFound(err) {
				return 0, err
			}
			return 0, nil
		}
		if !c.isHealthy(set, p) {
			noteWait(p)
			return wait, nil
		}
	}
	return wait, nil
}

// partition is the RollingUpdate partition (0 if none), as an index into
// the ordinals.
func partition(set *appsv1.StatefulSet) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType || ru == nil || ru.Partition == nil {
		return 0
	}
	return int(*ru.Partition)
}

// truncateHistory deletes the oldest revisions beyond
// revisionHistoryLimit, never one that a pod or the status still uses.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision, cur, upd *appsv1.ControllerRevision) error {
	live := map[string]bool{cur.Name: true, upd.Name: true}
	pods, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	for _, p := range pods {
		if ownerref.IsControlledBy(p, set.UID) {
			live[revisionOf(p)] = true
		}
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if len(old) <= limit {
		return nil
	}
	history.SortByRevision(old)
	for _, r := range old[:len(old)-limit] {
		if err := c.history.Delete(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// ordinalString is the pod-index label value.
func ordinalString(ord int) string { return strconv.Itoa(ord) }

// podName is <set>-<ordinal>.
func podName(set *appsv1.StatefulSet, ord int) string { return fmt.Sprintf("%s-%d", set.Name, ord) }

// claimName is <template>-<set>-<ordinal>.
func claimName(set *appsv1.StatefulSet, tmpl *corev1.PersistentVolumeClaim, ord int) string {
	return fmt.Sprintf("%s-%s-%d", tmpl.Name, set.Name, ord)
}

// newPod builds the pod of ordinal ord from set's template at revision rev.
func (c *Controller) newPod(set *appsv1.StatefulSet, ord int, rev string) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: podName(set, ord), Namespace: set.Namespace,
			Labels: t.Labels, Annotations: t.Annotations, Finalizers: t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*ownerref.New(set, Kind)},
		},
		Spec: t.Spec,
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = rev
	setIdentity(set, pod, ord)
	setStorage(set, pod, ord)
	return pod
}

func setIdentity(set *appsv1.StatefulSet, pod *corev1.Pod, ord int) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = ordinalString(ord)
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
}

func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod, ord int) bool {
	return pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name &&
		pod.Labels[appsv1.PodIndexLabel] == ordinalString(ord) &&
		pod.Spec.Hostname == pod.Name && pod.Spec.Subdomain == set.Spec.ServiceName
}

// setStorage points the pod's volumes named after claim templates at its
// claims.
func setStorage(set *appsv1.StatefulSet, pod *corev1.Pod, ord int) {
	var vols []corev1.Volume
	names := map[string]bool{}
	for i := range set.Spec.VolumeClaimTemplates {
		tmpl := &set.Spec.VolumeClaimTemplates[i]
		names[tmpl.Name] = true
		vols = append(vols, corev1.Volume{Name: tmpl.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(set, tmpl, ord)},
		}})
	}
	for _, v := range pod.Spec.Volumes {
		if !names[v.Name] {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
}
