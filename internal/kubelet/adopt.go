package kubelet

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// adopt rebuilds pod records from what the node holds after an agent
// restart: the runtime's containers (grouped by pod), pod sandboxes, pod
// directories and network addresses. Each record's worker then
// reconciles it with the desired pods like any other: a running, healthy
// container is kept as it is (same ID, same restart count); leftovers of
// pods no source wants any more are torn down once every source has
// reported.
func (k *Kubelet) adopt(ctx context.Context) error {
	list, err := k.rt.List(ctx)
	if err != nil {
		return err
	}
	uids := map[types.UID][]oci.ContainerStatus{}
	for _, c := range list {
		if c.PodID == "" {
			continue
		}
		uids[types.UID(c.PodID)] = append(uids[types.UID(c.PodID)], c)
	}
	if ids, err := k.sandboxes.List(); err == nil {
		for _, id := range ids {
			if _, ok := uids[types.UID(id)]; !ok {
				uids[types.UID(id)] = nil
			}
		}
	}
	if ids, err := k.volumes.Pods(); err == nil {
		for _, id := range ids {
			if _, ok := uids[id]; !ok {
				uids[id] = nil
			}
		}
	}
	var records []*podRecord
	k.mu.Lock()
	for uid, cs := range uids {
		if k.pods[uid] != nil {
			continue
		}
		r := newRecord(uid, k.cfg.BackOffBase, k.cfg.BackOffMax)
		r.w.containers = cs
		r.w.adopted = true
		k.pods[uid] = r
		records = append(records, r)
	}
	k.started = true
	k.mu.Unlock()
	running := 0
	for _, r := range records {
		for _, c := range r.w.containers {
			if c.State == oci.StateRunning {
				running++
			}
		}
		k.startWorker(r)
		k.dispatch(r.uid)
		r.poke()
	}
	// Pods the API binds here that have nothing on the node yet.
	k.mu.Lock()
	var fresh []types.UID
	for uid := range k.apiPods {
		if k.pods[uid] == nil {
			fresh = append(fresh, uid)
		}
	}
	for _, pods := range k.static {
		for uid := range pods {
			if k.pods[uid] == nil {
				fresh = append(fresh, uid)
			}
		}
	}
	k.mu.Unlock()
	for _, uid := range fresh {
		k.dispatch(uid)
	}
	if len(records) > 0 {
		k.log.Info("re-adopted pods", "pods", len(records), "runningContainers", running)
	}
	k.go_(func() { k.cleanOrphanNetwork(ctx) })
	return nil
}

// cleanOrphanNetwork frees addresses held by pods that have no record
// (a pod torn down while the agent was away), once sources are ready.
func (k *Kubelet) cleanOrphanNetwork(ctx context.Context) {
	for !k.sourcesAllReady() || k.net() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	owners, err := k.net().Owners()
	if err != nil {
		return
	}
	for _, o := range owners {
		k.mu.Lock()
		r := k.pods[types.UID(o)]
		k.mu.Unlock()
		if r == nil {
			k.log.Info("releasing the address of a pod that is gone", "uid", o)
			k.net().Teardown(o, "")
		}
	}
}

// relistLoop lists the runtime's containers every RelistPeriod and wakes
// the workers of pods whose containers changed state (exited, vanished),
// and does periodic housekeeping.
func (k *Kubelet) relistLoop(ctx context.Context) {
	prev := map[string]string{}
	owner := map[string]types.UID{}
	tick := time.NewTicker(k.cfg.RelistPeriod)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		list, err := k.rt.List(ctx)
		if err != nil {
			k.log.Warn("listing containers", "err", err)
			continue
		}
		cur := make(map[string]string, len(list))
		changed := map[types.UID]bool{}
		for _, c := range list {
			sig := fmt.Sprintf("%s/%d/%s", c.State, c.ExitCode, c.FinishedAt)
			cur[c.ID] = sig
			owner[c.ID] = types.UID(c.PodID)
			if old, ok := prev[c.ID]; ok && old != sig {
				changed[types.UID(c.PodID)] = true
			}
		}
		for id := range prev {
			if _, ok := cur[id]; !ok {
				changed[owner[id]] = true
				delete(owner, id)
			}
		}
		prev = cur
		for uid := range changed {
			k.wake(uid)
		}
		n++
		if n%10 == 0 {
			k.cleanOrphanMirrors(ctx)
		}
	}
}
