package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/podvisor/podvisor/internal/controller/ownerref"
	"github.com/podvisor/podvisor/internal/controller/podcontrol"
	"github.com/podvisor/podvisor/internal/controller/podstate"
	"github.com/podvisor/podvisor/internal/controller/replicaset"
)

// Well-known node taints daemon pods tolerate.
const (
	TaintNotReady           = "node.kubernetes.io/not-ready"
	TaintUnreachable        = "node.kubernetes.io/unreachable"
	TaintDiskPressure       = "node.kubernetes.io/disk-pressure"
	TaintMemoryPressure     = "node.kubernetes.io/memory-pressure"
	TaintPIDPressure        = "node.kubernetes.io/pid-pressure"
	TaintUnschedulable      = "node.kubernetes.io/unschedulable"
	TaintNetworkUnavailable = "node.kubernetes.io/network-unavailable"
)

// addDaemonTolerations adds the tolerations every daemon pod has.
func addDaemonTolerations(spec *corev1.PodSpec) {
	add := func(key string, effect corev1.TaintEffect) {
		for _, t := range spec.Tolerations {
			if t.Key == key && t.Effect == effect && t.Operator == corev1.TolerationOpExists {
				return
			}
		}
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
	}
	add(TaintNotReady, corev1.TaintEffectNoExecute)
	add(TaintUnreachable, corev1.TaintEffectNoExecute)
	add(TaintDiskPressure, corev1.TaintEffectNoSchedule)
	add(TaintMemoryPressure, corev1.TaintEffectNoSchedule)
	add(TaintPIDPressure, corev1.TaintEffectNoSchedule)
	add(TaintUnschedulable, corev1.TaintEffectNoSchedule)
	if spec.HostNetwork {
		add(TaintNetworkUnavailable, corev1.TaintEffectNoSchedule)
	}
}

// shouldRun reports whether ds should run a pod on node (shouldRun) and
// whether a pod already there may stay (shouldContinue: it tolerates the
// node's NoExecute taints even if a NoSchedule one would keep a new pod
// off).
func shouldRun(ds *appsv1.DaemonSet, node *corev1.Node) (run, keep bool) {
	if n := ds.Spec.Template.Spec.NodeName; n != "" && n != node.Name {
		return false, false
	}
	pod := &corev1.Pod{Spec: *ds.Spec.Template.Spec.DeepCopy()}
	addDaemonTolerations(&pod.Spec)
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
		return false, false
	}
	_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, false)
	if !untolerated {
		return true, true
	}
	_, noExec := corev1helpers.FindMatchingUntoleratedTaint(logr.Discard(), node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoExecute
	}, false)
	return false, !noExec
}

// targetNode is the node a daemon pod runs on, or is bound for by its
// node affinity.
func targetNode(pod *corev1.Pod) string {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == metav1.ObjectNameField && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// pinToNode makes the pod's required node affinity select only node: each
// existing term keeps its label requirements and gets metadata.name In
// [node] as its field requirement.
func pinToNode(spec *corev1.PodSpec, node string) {
	req := corev1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil || len(na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) == 0 {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{req}}},
		}
		return
	}
	terms := na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		terms[i].MatchFields = []corev1.NodeSelectorRequirement{req}
	}
}

// newPod is ds's pod for node at revision hash.
func newPod(ds *appsv1.DaemonSet, node, hash string) *corev1.Pod {
	pod := podcontrol.FromTemplate(&ds.Spec.Template, ds.Namespace, ds.Name+"-", ownerref.New(ds, Kind))
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	addDaemonTolerations(&pod.Spec)
	pinToNode(&pod.Spec, node)
	return pod
}

// byAge orders pods oldest first (running before pending among equals).
func byAge(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Status.Phase == corev1.PodRunning && b.Status.Phase != corev1.PodRunning
	})
}

// allowsSurge reports whether a rolling update may run two pods on a node.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	s, _ := updateBudget(ds, 1)
	return s > 0
}

// updateBudget resolves maxSurge and maxUnavailable (both rounded up)
// against the number of nodes that should run the daemon; with neither,
// one node at a time is unavailable.
func updateBudget(ds *appsv1.DaemonSet, desired int) (surge, unavailable int) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return 0, 0
	}
	one := intstr.FromInt32(1)
	u := &one
	var s *intstr.IntOrString
	if ru != nil {
		if ru.MaxUnavailable != nil {
			u = ru.MaxUnavailable
		}
		s = ru.MaxSurge
	}
	if s != nil {
		surge, _ = intstr.GetScaledValueFromIntOrPercent(s, desired, true)
	}
	unavailable, _ = intstr.GetScaledValueFromIntOrPercent(u, desired, true)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// manage decides, node by node, which pods to create and delete, and does
// it. It returns the shortest back-off it is waiting on.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, byNode map[string][]*corev1.Pod, hash string) (time.Duration, error) {
	var create []string
	var del []*corev1.Pod
	var wait time.Duration
	known := map[string]bool{}
	now := c.clock.Now()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, node := range nodes {
		known[node.Name] = true
		run, keep := shouldRun(ds, node)
		pods := byNode[node.Name]
		switch {
		case run && len(pods) == 0:
			create = append(create, node.Name)
		case keep:
			var running []*corev1.Pod
			for _, p := range pods {
				switch {
				case p.DeletionTimestamp != nil:
				case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
					bk := ds.Namespace + "/" + ds.Name + "/" + node.Name
					if w := c.backoff.wait(bk, now); w > 0 {
						if wait == 0 || w < wait {
							wait = w
						}
						continue
					}
					c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node.Name)
					del = append(del, p)
				default:
					running = append(running, p)
				}
			}
			del = append(del, excess(ds, running, hash, now)...)
		case len(pods) > 0:
			for _, p := range pods {
				if p.DeletionTimestamp == nil {
					del = append(del, p)
				}
			}
		}
	}
	// Pods bound for nodes that no longer exist.
	for node, pods := range byNode {
		if known[node] {
			continue
		}
		for _, p := range pods {
			if p.DeletionTimestamp == nil && p.Spec.NodeName == "" {
				del = append(del, p)
			}
		}
	}
	return wait, c.syncNodes(ctx, ds, del, create, hash)
}

// excess picks the running pods on one node beyond the one that should
// stay (two during a surge: the old one until the new one is available).
func excess(ds *appsv1.DaemonSet, running []*corev1.Pod, hash string, now time.Time) []*corev1.Pod {
	if len(running) <= 1 {
		return nil
	}
	byAge(running)
	if !allowsSurge(ds) {
		return running[1:]
	}
	var del []*corev1.Pod
	var oldestNew, oldestOld *corev1.Pod
	for _, p := range running {
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
			if oldestNew == nil {
				oldestNew = p
				continue
			}
		} else if oldestOld == nil {
			oldestOld = p
			continue
		}
		del = append(del, p)
	}
	if oldestNew != nil && oldestOld != nil &&
		(!podstate.IsReady(oldestOld) || podstate.IsAvailable(oldestNew, ds.Spec.MinReadySeconds, now)) {
		del = append(del, oldestOld)
	}
	return del
}

// syncNodes deletes del and creates a pod on each node of create, within
// the burst limit, with expectations so a stale cache does not act twice.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, del []*corev1.Pod, create []string, hash string) error {
	key := ds.Namespace + "/" + ds.Name
	create = create[:min(len(create), c.cfg.BurstReplicas)]
	del = del[:min(len(del), c.cfg.BurstReplicas)]
	if len(create) == 0 && len(del) == 0 {
		return nil
	}
	uids := make([]string, len(del))
	for i, p := range del {
		uids[i] = string(p.UID)
	}
	c.exp.Expect(key, len(create), uids)
	var errs []error
	next := make(chan string, len(create))
	for _, n := range create {
		next <- n
	}
	close(next)
	done, err := replicaset.SlowStart(len(create), 1, func() error {
		node := <-next
		_, err := c.podControl.CreatePod(ctx, newPod(ds, node, hash), ds)
		if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.exp.CreationObserved(key)
			return nil
		}
		return err
	})
	for i := done; i < len(create); i++ {
		c.exp.CreationObserved(key)
	}
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range del {
		if err := c.podControl.DeletePod(ctx, p.Namespace, p.Name, p.UID, ds); err != nil {
			c.exp.DeletionObservedOf(key, string(p.UID))
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting daemon pod: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}
