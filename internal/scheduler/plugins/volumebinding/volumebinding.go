// Package volumebinding is the VolumeBinding plugin: it places pods where
// their PersistentVolumeClaims can be satisfied.
//
//   - A claim that is bound: the pod may go only where the bound volume's
//     node affinity allows (data locality: a local volume pins its pods to
//     its node).
//   - An unbound claim whose StorageClass has volumeBindingMode
//     WaitForFirstConsumer: on each node the plugin looks for the smallest
//     available PersistentVolume that fits the claim (class, capacity,
//     access modes, volume mode, selector) and is reachable from the node;
//     failing that, if the class has a provisioner, the claim will be
//     provisioned for the node (the class's allowedTopologies must admit
//     it). In PreBind the plugin writes its choice: the volume's claimRef
//     for a static match, or the volume.kubernetes.io/selected-node
//     annotation on the claim for provisioning; then it waits until the
//     volume controller has bound every claim before the pod is bound.
//   - An unbound claim with Immediate binding waits for the volume
//     controller to bind it first.
//
// Volumes chosen by a pod are reserved in memory from Reserve until the
// pod's binding cycle ends, so concurrent cycles do not pick the same
// volume. Only the plugin registry imports it.
package volumebinding

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/podvisor/podvisor/internal/scheduler/framework"
)

// Name is the plugin's name.
const Name = "VolumeBinding"

// AnnSelectedNode is the claim annotation naming the node a volume should
// be provisioned for.
const AnnSelectedNode = "volume.kubernetes.io/selected-node"

// NoProvisioner is the provisioner name of classes that cannot provision.
const NoProvisioner = "kubernetes.io/no-provisioner"

// Rejection reasons.
const (
	ErrReasonBindConflict = "node(s) didn't find available persistent volumes to bind"
	ErrReasonNodeConflict = "node(s) had volume node affinity conflict"
	ErrReasonPVNotExist   = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	ErrUnboundImmediate   = "pod has unbound immediate PersistentVolumeClaims"
)

// Args configure the plugin.
type Args struct {
	// BindTimeout bounds how long PreBind waits for the volume controller
	// to bind the claims; default 10 minutes (Kubernetes' 600s).
	BindTimeout time.Duration
}

// VolumeBinding binds pods' volumes.
type VolumeBinding struct {
	handle      framework.Handle
	pvcs        corelisters.PersistentVolumeClaimLister
	pvs         corelisters.PersistentVolumeLister
	classes     storagelisters.StorageClassLister
	bindTimeout time.Duration

	// changed is closed and replaced whenever a claim or volume changes;
	// PreBind waits on it instead of polling.
	changedMu sync.Mutex
	// +checklocks:changedMu
	changed chan struct{}

	assumedMu sync.RWMutex
	// assumedPVs maps a volume to the claim ("ns/name") reserved for it.
	// +checklocks:assumedMu
	assumedPVs map[string]string
}

var (
	_ framework.PreFilterPlugin   = (*VolumeBinding)(nil)
	_ framework.FilterPlugin      = (*VolumeBinding)(nil)
	_ framework.ReservePlugin     = (*VolumeBinding)(nil)
	_ framework.PreBindPlugin     = (*VolumeBinding)(nil)
	_ framework.EnqueueExtensions = (*VolumeBinding)(nil)
)

// New returns the plugin; args is nil, Args or *Args.
func New(_ context.Context, args any, h framework.Handle) (framework.Plugin, error) {
	var a Args
	switch x := args.(type) {
	case nil:
	case Args:
		a = x
	case *Args:
		a = *x
	default:
		return nil, fmt.Errorf("%s: args of type %T, want Args", Name, args)
	}
	if a.BindTimeout <= 0 {
		a.BindTimeout = 10 * time.Minute
	}
	f := h.SharedInformerFactory()
	p := &VolumeBinding{
		handle:      h,
		pvcs:        f.Core().V1().PersistentVolumeClaims().Lister(),
		pvs:         f.Core().V1().PersistentVolumes().Lister(),
		classes:     f.Storage().V1().StorageClasses().Lister(),
		bindTimeout: a.BindTimeout,
		changed:     make(chan struct{}),
		assumedPVs:  map[string]string{},
	}
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.notify() },
		UpdateFunc: func(any, any) { p.notify() },
		DeleteFunc: func(any) { p.notify() },
	}
	if _, err := f.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(notify); err != nil {
		return nil, fmt.Errorf("%s: watching claims: %w", Name, err)
	}
	if _, err := f.Core().V1().PersistentVolumes().Informer().AddEventHandler(notify); err != nil {
		return nil, fmt.Errorf("%s: watching volumes: %w", Name, err)
	}
	return p, nil
}

// Name implements framework.Plugin.
func (*VolumeBinding) Name() string { return Name }

func (p *VolumeBinding) notify() {
	p.changedMu.Lock()
	defer p.changedMu.Unlock()
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *VolumeBinding) changes() <-chan struct{} {
	p.changedMu.Lock()
	defer p.changedMu.Unlock()
	return p.changed
}

const stateKey framework.StateKey = "PreFilter" + Name

// decision is what the pod's unbound claims need on one node.
type decision struct {
	// static binds claims to existing volumes.
	static []staticBinding
	// provision lists the claims to provision for the node.
	provision []*v1.PersistentVolumeClaim
}

type staticBinding struct {
	claim *v1.PersistentVolumeClaim
	pv    *v1.PersistentVolume
}

type stateData struct {
	bound   []*v1.PersistentVolumeClaim
	unbound []*v1.PersistentVolumeClaim
	// pvs are the volumes the unbound claims may take, listed once.
	pvs []*v1.PersistentVolume
	// chosen is set by Reserve.
	chosen *decision

	// Filter runs in parallel and records its decision per node.
	mu sync.Mutex
	// +checklocks:mu
	byNode map[string]*decision
}

func (s *stateData) Clone() framework.StateData { return s }

// claimName returns the claim backing vol, "" if none: a claim volume
// names it, a generic ephemeral volume implies <pod>-<volume>.
func claimName(pod *v1.Pod, vol *v1.Volume) (string, bool) {
	switch {
	case vol.PersistentVolumeClaim != nil:
		return vol.PersistentVolumeClaim.ClaimName, false
	case vol.Ephemeral != nil:
		return pod.Name + "-" + vol.Name, true
	}
	return "", false
}

func className(claim *v1.PersistentVolumeClaim) string {
	if claim.Spec.StorageClassName != nil {
		return *claim.Spec.StorageClassName
	}
	return claim.Annotations[v1.BetaStorageClassAnnotation]
}

// PreFilter implements framework.PreFilterPlugin: Skip for pods without
// claims; reject pods whose claims are missing, being deleted, or unbound
// with Immediate binding.
func (p *VolumeBinding) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	s := &stateData{byNode: map[string]*decision{}}
	hasClaims := false
	for i := range pod.Spec.Volumes {
		name, ephemeral := claimName(pod, &pod.Spec.Volumes[i])
		if name == "" {
			continue
		}
		hasClaims = true
		claim, err := p.pvcs.PersistentVolumeClaims(pod.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			if ephemeral {
				return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
					fmt.Sprintf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", name))
			}
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q not found", name))
		}
		if err != nil {
			return nil, framework.AsStatus(fmt.Errorf("getting claim %s/%s: %w", pod.Namespace, name, err))
		}
		if claim.DeletionTimestamp != nil {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name))
		}
		if ephemeral && !metav1.IsControlledBy(claim, pod) {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("persistentvolumeclaim %q was not created for the pod", name))
		}
		if claim.Spec.VolumeName != "" {
			s.bound = append(s.bound, claim)
			continue
		}
		delayed, err := p.delayed(claim)
		if err != nil {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
		}
		if !delayed {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrUnboundImmediate)
		}
		s.unbound = append(s.unbound, claim)
	}
	if !hasClaims {
		return nil, framework.NewStatus(framework.Skip)
	}
	if len(s.unbound) > 0 {
		pvs, err := p.pvs.List(labels.Everything())
		if err != nil {
			return nil, framework.AsStatus(fmt.Errorf("listing volumes: %w", err))
		}
		s.pvs = pvs
	}
	state.Write(stateKey, s)
	return nil, nil
}

// delayed reports whether claim's class binds WaitForFirstConsumer.
func (p *VolumeBinding) delayed(claim *v1.PersistentVolumeClaim) (bool, error) {
	cn := className(claim)
	if cn == "" {
		return false, nil
	}
	class, err := p.classes.Get(cn)
	if err != nil {
		return false, fmt.Errorf("storageclass.storage.k8s.io %q not found", cn)
	}
	return class.VolumeBindingMode != nil && *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer, nil
}

// PreFilterExtensions implements framework.PreFilterPlugin.
func (*VolumeBinding) PreFilterExtensions() framework.PreFilterExtensions { return nil }

func readState(state *framework.CycleState) (*stateData, *framework.Status) {
	d, err := state.Read(stateKey)
	if err != nil {
		return nil, framework.AsStatus(fmt.Errorf("reading %q from cycle state: %w", stateKey, err))
	}
	return d.(*stateData), nil
}

// volumeReachable reports whether pv's node affinity admits node.
func volumeReachable(pv *v1.PersistentVolume, node *v1.Node) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	sel, err := nodeaffinity.NewNodeSelector(pv.Spec.NodeAffinity.Required)
	if err != nil {
		return false
	}
	return sel.Match(node)
}

// Filter implements framework.FilterPlugin.
func (p *VolumeBinding) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, ni *framework.NodeInfo) *framework.Status {
	s, st := readState(state)
	if st != nil {
		return st
	}
	node := ni.Node()
	for _, claim := range s.bound {
		pv, err := p.pvs.Get(claim.Spec.VolumeName)
		if err != nil {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPVNotExist)
		}
		if !volumeReachable(pv, node) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeConflict)
		}
	}
	if len(s.unbound) == 0 {
		return nil
	}
	d, reason := p.decide(s.unbound, s.pvs, node)
	if reason != "" {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, reason)
	}
	s.mu.Lock()
	s.byNode[node.Name] = d
	s.mu.Unlock()
	return nil
}

// decide finds, for every unbound claim, a volume on node or a way to
// provision one; it returns a rejection reason if it cannot.
func (p *VolumeBinding) decide(claims []*v1.PersistentVolumeClaim, all []*v1.PersistentVolume, node *v1.Node) (*decision, string) {
	d := &decision{}
	taken := map[string]bool{}
	for _, claim := range claims {
		if sel, ok := claim.Annotations[AnnSelectedNode]; ok {
			// Already being provisioned: only for that node.
			if sel != node.Name {
				return nil, ErrReasonBindConflict
			}
			d.provision = append(d.provision, claim)
			continue
		}
		if pv := p.bestVolume(claim, all, node, taken); pv != nil {
			taken[pv.Name] = true
			d.static = append(d.static, staticBinding{claim: claim, pv: pv})
			continue
		}
		class, err := p.classes.Get(className(claim))
		if err != nil || class.Provisioner == NoProvisioner || class.Provisioner == "" {
			return nil, ErrReasonBindConflict
		}
		if !topologyAllowed(class, node) {
			return nil, ErrReasonNodeConflict
		}
		d.provision = append(d.provision, claim)
	}
	return d, ""
}

// topologyAllowed reports whether class may provision on node.
func topologyAllowed(class *storagev1.StorageClass, node *v1.Node) bool {
	if len(class.AllowedTopologies) == 0 {
		return true
	}
	for _, term := range class.AllowedTopologies {
		ok := true
		for _, e := range term.MatchLabelExpressions {
			v, has := node.Labels[e.Key]
			if !has || !contains(e.Values, v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// bestVolume returns the smallest volume that can satisfy claim on node:
// one pre-bound to the claim wins over any other.
func (p *VolumeBinding) bestVolume(claim *v1.PersistentVolumeClaim, all []*v1.PersistentVolume, node *v1.Node, taken map[string]bool) *v1.PersistentVolume {
	want := claim.Spec.Resources.Requests[v1.ResourceStorage]
	key := claim.Namespace + "/" + claim.Name
	var sel labels.Selector
	if claim.Spec.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(claim.Spec.Selector)
		if err != nil {
			return nil
		}
		sel = s
	}
	p.assumedMu.RLock()
	defer p.assumedMu.RUnlock()
	var candidates []*v1.PersistentVolume
	for _, pv := range all {
		if taken[pv.Name] || pv.DeletionTimestamp != nil {
			continue
		}
		if owner, ok := p.assumedPVs[pv.Name]; ok && owner != key {
			continue
		}
		if ref := pv.Spec.ClaimRef; ref != nil {
			if ref.Namespace != claim.Namespace || ref.Name != claim.Name || (ref.UID != "" && ref.UID != claim.UID) {
				continue
			}
			if volumeReachable(pv, node) && volumeFits(pv, claim, want, nil) {
				return pv
			}
			continue
		}
		if pv.Status.Phase != "" && pv.Status.Phase != v1.VolumeAvailable && pv.Status.Phase != v1.VolumePending {
			continue
		}
		if pv.Spec.StorageClassName != className(claim) || !volumeFits(pv, claim, want, sel) || !volumeReachable(pv, node) {
			continue
		}
		candidates = append(candidates, pv)
	}
	if len(candidates) == 0 {
		return nil
	}
	sort.Slice(candidates, func(i, j int) bool {
		ci, cj := candidates[i].Spec.Capacity[v1.ResourceStorage], candidates[j].Spec.Capacity[v1.ResourceStorage]
		if c := ci.Cmp(cj); c != 0 {
			return c < 0
		}
		return candidates[i].Name < candidates[j].Name
	})
	return candidates[0]
}

// volumeFits checks capacity, access modes, volume mode and selector.
func volumeFits(pv *v1.PersistentVolume, claim *v1.PersistentVolumeClaim, want resource.Quantity, sel labels.Selector) bool {
	have := pv.Spec.Capacity[v1.ResourceStorage]
	if have.Cmp(want) < 0 {
		return false
	}
	for _, m := range claim.Spec.AccessModes {
		if !contains(accessModes(pv.Spec.AccessModes), string(m)) {
			return false
		}
	}
	pvMode, claimMode := v1.PersistentVolumeFilesystem, v1.PersistentVolumeFilesystem
	if pv.Spec.VolumeMode != nil {
		pvMode = *pv.Spec.VolumeMode
	}
	if claim.Spec.VolumeMode != nil {
		claimMode = *claim.Spec.VolumeMode
	}
	if pvMode != claimMode {
		return false
	}
	return sel == nil || sel.Matches(labels.Set(pv.Labels))
}

func accessModes(ms []v1.PersistentVolumeAccessMode) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// Reserve implements framework.ReservePlugin: it reserves the chosen
// volumes in memory.
func (p *VolumeBinding) Reserve(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeName string) *framework.Status {
	d, err := state.Read(stateKey)
	if err != nil {
		return nil // PreFilter skipped: the pod has no claims.
	}
	s := d.(*stateData)
	s.mu.Lock()
	chosen := s.byNode[nodeName]
	s.mu.Unlock()
	if len(s.unbound) == 0 {
		return nil
	}
	if chosen == nil {
		return framework.AsStatus(fmt.Errorf("no volume decision recorded for node %s", nodeName))
	}
	p.assumedMu.Lock()
	defer p.assumedMu.Unlock()
	for _, b := range chosen.static {
		key := b.claim.Namespace + "/" + b.claim.Name
		if owner, ok := p.assumedPVs[b.pv.Name]; ok && owner != key {
			return framework.NewStatus(framework.Unschedulable, ErrReasonBindConflict)
		}
	}
	for _, b := range chosen.static {
		p.assumedPVs[b.pv.Name] = b.claim.Namespace + "/" + b.claim.Name
	}
	s.chosen = chosen
	return nil
}

// Unreserve implements framework.ReservePlugin.
func (p *VolumeBinding) Unreserve(_ context.Context, state *framework.CycleState, _ *v1.Pod, _ string) {
	d, err := state.Read(stateKey)
	if err != nil {
		return
	}
	p.release(d.(*stateData))
}

func (p *VolumeBinding) release(s *stateData) {
	if s.chosen == nil {
		return
	}
	p.assumedMu.Lock()
	defer p.assumedMu.Unlock()
	for _, b := range s.chosen.static {
		if p.assumedPVs[b.pv.Name] == b.claim.Namespace+"/"+b.claim.Name {
			delete(p.assumedPVs, b.pv.Name)
		}
	}
}

// PreBind implements framework.PreBindPlugin: it records the decisions in
// the API and waits for the volume controller to bind every claim.
func (p *VolumeBinding) PreBind(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	d, err := state.Read(stateKey)
	if err != nil {
		return nil
	}
	s := d.(*stateData)
	if s.chosen == nil {
		return nil
	}
	defer p.release(s)
	client := p.handle.ClientSet()
	for _, b := range s.chosen.static {
		pv, err := p.pvs.Get(b.pv.Name)
		if err != nil {
			return framework.AsStatus(fmt.Errorf("getting volume %s: %w", b.pv.Name, err))
		}
		if ref := pv.Spec.ClaimRef; ref != nil && ref.UID == b.claim.UID {
			continue
		}
		pv = pv.DeepCopy()
		pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1",
			Namespace: b.claim.Namespace, Name: b.claim.Name, UID: b.claim.UID, ResourceVersion: b.claim.ResourceVersion}
		if _, err := client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
			return framework.AsStatus(fmt.Errorf("binding volume %s to claim %s/%s: %w", pv.Name, b.claim.Namespace, b.claim.Name, err))
		}
	}
	for _, c := range s.chosen.provision {
		claim, err := p.pvcs.PersistentVolumeClaims(c.Namespace).Get(c.Name)
		if err != nil {
			return framework.AsStatus(fmt.Errorf("getting claim %s/%s: %w", c.Namespace, c.Name, err))
		}
		if claim.Annotations[AnnSelectedNode] == nodeName {
			continue
		}
		claim = claim.DeepCopy()
		if claim.Annotations == nil {
			claim.Annotations = map[string]string{}
		}
		claim.Annotations[AnnSelectedNode] = nodeName
		if _, err := client.CoreV1().PersistentVolumeClaims(c.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
			return framework.AsStatus(fmt.Errorf("selecting node %s for claim %s/%s: %w", nodeName, c.Namespace, c.Name, err))
		}
	}
	return p.waitBound(ctx, s, nodeName)
}

// waitBound waits until every claim the pod needs is bound to a volume
// reachable from nodeName.
func (p *VolumeBinding) waitBound(ctx context.Context, s *stateData, nodeName string) *framework.Status {
	timeout := time.NewTimer(p.bindTimeout)
	defer timeout.Stop()
	for {
		changed := p.changes()
		done, err := p.allBound(s, nodeName)
		if err != nil {
			return framework.AsStatus(err)
		}
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-timeout.C:
			return framework.AsStatus(fmt.Errorf("binding volumes: timed out after %v waiting for the volume controller", p.bindTimeout))
		case <-ctx.Done():
			return framework.AsStatus(fmt.Errorf("binding volumes: %w", ctx.Err()))
		}
	}
}

func (p *VolumeBinding) allBound(s *stateData, nodeName string) (bool, error) {
	all := append(append([]*v1.PersistentVolumeClaim(nil), s.chosen.provision...), staticClaims(s.chosen)...)
	for _, c := range all {
		claim, err := p.pvcs.PersistentVolumeClaims(c.Namespace).Get(c.Name)
		if err != nil {
			return false, fmt.Errorf("claim %s/%s disappeared while binding: %w", c.Namespace, c.Name, err)
		}
		if claim.Spec.VolumeName == "" {
			return false, nil
		}
		if sel, ok := claim.Annotations[AnnSelectedNode]; ok && sel != nodeName {
			return false, fmt.Errorf("claim %s/%s was selected for node %s meanwhile", c.Namespace, c.Name, sel)
		}
	}
	return true, nil
}

func staticClaims(d *decision) []*v1.PersistentVolumeClaim {
	out := make([]*v1.PersistentVolumeClaim, len(d.static))
	for i, b := range d.static {
		out[i] = b.claim
	}
	return out
}

// EventsToRegister implements framework.EnqueueExtensions.
func (p *VolumeBinding) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolume, ActionType: framework.Add | framework.Update}},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add | framework.Update},
			QueueingHintFn: func(_ *slog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
				_, claim, err := framework.Objects[v1.PersistentVolumeClaim](oldObj, newObj)
				if err != nil || claim == nil {
					return framework.Queue, err
				}
				if claim.Namespace != pod.Namespace {
					return framework.QueueSkip, nil
				}
				return framework.Queue, nil
			}},
		{Event: framework.ClusterEvent{Resource: framework.StorageClass, ActionType: framework.Add | framework.Update}},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}},
	}, nil
}
