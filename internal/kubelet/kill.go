package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/kubelet/prober"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// minStopGrace is what remains for SIGTERM after a preStop hook used the
// whole grace period (Kubernetes gives 2s).
const minStopGrace = 2 * time.Second

// specOf finds container name in pod's spec (nil if absent).
func specOf(pod *corev1.Pod, name string) *corev1.Container {
	if pod == nil {
		return nil
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// stopInstance stops a running instance gracefully: its preStop hook (if
// hook is set and c has one) within grace, then SIGTERM and, after what
// remains of grace, SIGKILL. reason is the Killing event's message.
func (k *Kubelet) stopInstance(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace time.Duration, reason string, hook bool) {
	if pod != nil && c != nil {
		k.event(pod, corev1.EventTypeNormal, "Killing", "%s", reason)
	}
	start := k.now()
	if hook && c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
		hctx, cancel := context.WithTimeout(ctx, grace)
		t := prober.Target{ContainerID: id, Container: c}
		k.mu.Lock()
		r := k.pods[pod.UID]
		k.mu.Unlock()
		if r != nil {
			t = k.hookTarget(r, c, id)
		}
		res, msg := k.runner.Run(hctx, prober.HookHandler(c.Lifecycle.PreStop), t)
		cancel()
		if res != prober.Success {
			k.event(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %s", msg)
		}
		grace -= k.now().Sub(start)
		if grace < minStopGrace {
			grace = minStopGrace
		}
	}
	if err := k.rt.Stop(ctx, id, grace); err != nil && !errors.Is(err, oci.ErrNotFound) {
		k.log.Warn("stopping container", "id", id, "err", err)
	}
}

// killContainers stops the given running instances of pod in parallel,
// app containers first, then sidecars (in reverse order), within grace.
func (k *Kubelet) killContainers(ctx context.Context, r *podRecord, pod *corev1.Pod, ids []string, grace time.Duration, why func(name string) string) {
	byID := map[string]oci.ContainerStatus{}
	for _, c := range r.w.containers {
		byID[c.ID] = c
	}
	var apps, sidecars []oci.ContainerStatus
	for _, id := range ids {
		c, ok := byID[id]
		if !ok {
			continue
		}
		if c.Labels[labelInit] == "true" {
			sidecars = append([]oci.ContainerStatus{c}, sidecars...)
		} else {
			apps = append(apps, c)
		}
	}
	start := k.now()
	var wg sync.WaitGroup
	for _, c := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k.stopInstance(ctx, pod, specOf(pod, c.Name), c.ID, grace, why(c.Name), true)
		}()
	}
	wg.Wait()
	for _, c := range sidecars {
		left := grace - k.now().Sub(start)
		if left < minStopGrace {
			left = minStopGrace
		}
		k.stopInstance(ctx, pod, specOf(pod, c.Name), c.ID, left, why(c.Name), true)
	}
	k.refreshContainers(ctx, r)
}

// running returns the IDs of the pod's instances that run or are
// created.
func running(cs []oci.ContainerStatus) []string {
	var out []string
	for _, c := range cs {
		if c.State == oci.StateRunning || c.State == oci.StateCreated {
			out = append(out, c.ID)
		}
	}
	return out
}

// deletionGrace is how long a deleted pod's containers get.
func deletionGrace(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	return time.Duration(gracePeriod(pod)) * time.Second
}

// syncTerminating tears down a pod that is being deleted (pod has a
// deletionTimestamp) or left every source (pod is nil; last is the last
// version seen): containers stopped gracefully, final status written,
// containers, volumes, network and sandbox removed, then the pod is
// deleted from the API (grace 0, UID precondition) or its mirror pod
// removed. It returns -1 once done, or when to retry.
func (k *Kubelet) syncTerminating(ctx context.Context, r *podRecord, pod *corev1.Pod) time.Duration {
	last := r.w.lastPod
	if pod != nil {
		last = pod
	}
	if last == nil {
		// Never knew its spec (adopted leftovers): grace from labels.
		last = &corev1.Pod{}
		last.UID = r.uid
	}
	grace := deletionGrace(last)
	r.mu.Lock()
	final := r.final
	r.mu.Unlock()
	if pod == nil && final != nil && final.DeletionGracePeriodSeconds != nil {
		grace = deletionGrace(final)
	} else if pod == nil {
		// Removed from its source without a graceful deletion (force
		// delete, manifest removed): use what the pod last asked for.
		grace = time.Duration(gracePeriod(last)) * time.Second
		if last.DeletionGracePeriodSeconds != nil {
			grace = deletionGrace(last)
		}
		if len(r.w.containers) > 0 && last.Name == "" {
			grace = graceFromLabels(r.w.containers)
		}
	}
	k.probes.Remove(r.uid)
	if ids := running(r.w.containers); len(ids) > 0 {
		k.killContainers(ctx, r, last, ids, grace, func(name string) string { return "Stopping container " + name })
		if ids := running(r.w.containers); len(ids) > 0 {
			k.log.Warn("containers still running after stop", "pod", last.Name, "namespace", last.Namespace, "ids", ids)
			return time.Second
		}
	}
	// Final status (containers terminated) before the pod goes away.
	if pod != nil && last.Name != "" {
		k.updateStatus(r, last, true)
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := k.statuses.Flush(fctx, r.uid); err != nil {
			k.log.Debug("final pod status", "pod", last.Name, "err", err)
		}
		cancel()
	}
	if err := k.cleanupPod(ctx, r); err != nil {
		k.log.Warn("cleaning up pod", "pod", last.Name, "namespace", last.Namespace, "err", err)
		return 2 * time.Second
	}
	if pod != nil && r.sourceName() == SourceAPI {
		uid := pod.UID
		zero := int64(0)
		err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			k.log.Warn("deleting pod", "pod", pod.Name, "namespace", pod.Namespace, "err", err)
			return 2 * time.Second
		}
	}
	if last.Name != "" && isStatic(last) {
		k.deleteMirror(ctx, last, nil)
	}
	k.statuses.Forget(r.uid)
	k.log.Info("pod removed", "pod", last.Name, "namespace", last.Namespace, "uid", string(r.uid))
	return -1
}

// graceFromLabels recovers a pod's grace period from its containers'
// labels (pods the kubelet no longer has a spec for).
func graceFromLabels(cs []oci.ContainerStatus) time.Duration {
	for _, c := range cs {
		var s int64
		if _, err := fmt.Sscan(c.Labels[labelGrace], &s); err == nil {
			return time.Duration(s) * time.Second
		}
	}
	return 30 * time.Second
}

// cleanupPod removes everything the pod has on the node: containers and
// their snapshots and logs, volumes, network, sandbox.
func (k *Kubelet) cleanupPod(ctx context.Context, r *podRecord) error {
	var errs []error
	ids := make([]string, len(r.w.containers))
	for i, c := range r.w.containers {
		ids[i] = c.ID
	}
	for _, id := range ids {
		k.removeInstance(ctx, r, id)
	}
	if len(r.w.containers) > 0 {
		errs = append(errs, fmt.Errorf("%d containers could not be removed", len(r.w.containers)))
	}
	if err := k.volumes.Teardown(r.uid); err != nil {
		errs = append(errs, err)
	}
	if n := k.net(); n != nil {
		netns := ""
		if r.w.sandbox != nil {
			netns = r.w.sandbox.NetNS
		}
		if err := n.Teardown(string(r.uid), netns); err != nil {
			errs = append(errs, fmt.Errorf("tearing down pod network: %w", err))
		}
	}
	r.w.netReady, r.w.podIP = false, netip.Addr{}
	if len(errs) == 0 {
		if err := k.sandboxes.Remove(string(r.uid)); err != nil {
			errs = append(errs, fmt.Errorf("removing pod sandbox: %w", err))
		} else {
			r.w.sandbox = nil
		}
	}
	if last := r.w.lastPod; last != nil && last.Name != "" {
		os.RemoveAll(k.podLogDir(last))
	}
	k.publish(r)
	return errors.Join(errs...)
}

// finishPod cleans up a pod that reached a terminal phase (Succeeded,
// Failed): remaining containers (sidecars) stopped, probes, network and
// volumes released. Exited containers and their logs stay until the pod
// is deleted.
func (k *Kubelet) finishPod(ctx context.Context, r *podRecord, pod *corev1.Pod) {
	if r.w.finished {
		return
	}
	k.probes.Remove(r.uid)
	if ids := running(r.w.containers); len(ids) > 0 {
		k.killContainers(ctx, r, pod, ids, time.Duration(gracePeriod(pod))*time.Second, func(name string) string {
			return "Stopping container " + name
		})
		if len(running(r.w.containers)) > 0 {
			return
		}
	}
	if err := k.volumes.Teardown(r.uid); err != nil {
		k.log.Warn("tearing down volumes of a finished pod", "pod", pod.Name, "err", err)
		return
	}
	if n := k.net(); n != nil && r.w.sandbox != nil && !pod.Spec.HostNetwork {
		if err := n.Teardown(string(r.uid), r.w.sandbox.NetNS); err != nil {
			k.log.Warn("tearing down network of a finished pod", "pod", pod.Name, "err", err)
			return
		}
	}
	r.w.finished = true
	k.log.Info("pod finished", "pod", pod.Name, "namespace", pod.Namespace, "phase", string(r.w.status.Phase))
}

// reasonFor is the Killing message for a container killed by a probe.
func reasonFor(kind, name string) string {
	return fmt.Sprintf("Container %s failed %s probe, will be restarted", name, kind)
}
