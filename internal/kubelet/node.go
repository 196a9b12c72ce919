package kubelet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/kubelet/image"
)

// Node lease namespace and pressure thresholds (Kubernetes' default hard
// eviction thresholds).
const (
	leaseNamespace         = "kube-node-lease"
	memoryAvailableMin     = 100 << 20
	diskAvailablePercent   = 10
	pidPressurePercent     = 90
	maxNodeStatusImages    = 50
	nodeRegistrationPeriod = 2 * time.Second
)

// hostIPs returns the node's addresses (primary first).
func (k *Kubelet) hostIPs() []string {
	k.nodeMu.Lock()
	defer k.nodeMu.Unlock()
	if k.hostIP == nil {
		ip := k.cfg.NodeIP
		if ip == "" {
			if a, err := k.host.DefaultIP(); err == nil {
				ip = a.String()
			} else {
				ip = "127.0.0.1"
			}
		}
		k.hostIP = []string{ip}
	}
	return append([]string(nil), k.hostIP...)
}

func (k *Kubelet) hostname() string {
	if k.cfg.Hostname != "" {
		return k.cfg.Hostname
	}
	return k.host.Hostname()
}

// registerNode creates this node's Node (or adopts the existing one) and
// retries until it succeeds or ctx ends.
func (k *Kubelet) registerNode(ctx context.Context) error {
	if k.cfg.NodeIP != "" && net.ParseIP(k.cfg.NodeIP) == nil {
		return fmt.Errorf("node IP %q is not an IP address", k.cfg.NodeIP)
	}
	for {
		err := k.tryRegister(ctx)
		if err == nil {
			return nil
		}
		k.log.Warn("registering node", "node", k.cfg.NodeName, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering node %s: %w", k.cfg.NodeName, err)
		case <-time.After(nodeRegistrationPeriod):
		}
	}
}

func (k *Kubelet) nodeLabels() map[string]string {
	l := map[string]string{
		corev1.LabelHostname:         k.hostname(),
		corev1.LabelOSStable:         runtime.GOOS,
		corev1.LabelArchStable:       runtime.GOARCH,
		"beta.kubernetes.io/os":      runtime.GOOS,
		"beta.kubernetes.io/arch":    runtime.GOARCH,
		"node.kubernetes.io/runtime": k.cfg.DefaultRuntimeHandler,
	}
	for a, b := range k.cfg.Labels {
		l[a] = b
	}
	return l
}

func (k *Kubelet) tryRegister(ctx context.Context) error {
	nodes := k.client.CoreV1().Nodes()
	st, err := k.nodeStatus(nil)
	if err != nil {
		return err
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Labels: k.nodeLabels()},
		Spec:       corev1.NodeSpec{PodCIDR: k.cfg.PodCIDR},
		Status:     st,
	}
	if k.cfg.PodCIDR != "" {
		n.Spec.PodCIDRs = []string{k.cfg.PodCIDR}
	}
	out, err := nodes.Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		out, err = nodes.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("getting node: %w", err)
		}
		changed := false
		for a, b := range k.nodeLabels() {
			if out.Labels[a] != b {
				if out.Labels == nil {
					out.Labels = map[string]string{}
				}
				out.Labels[a], changed = b, true
			}
		}
		if out.Spec.PodCIDR == "" && k.cfg.PodCIDR != "" {
			out.Spec.PodCIDR, out.Spec.PodCIDRs, changed = k.cfg.PodCIDR, []string{k.cfg.PodCIDR}, true
		}
		if changed {
			if out, err = nodes.Update(ctx, out, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("updating node: %w", err)
			}
		}
		st, err := k.nodeStatus(&out.Status)
		if err != nil {
			return err
		}
		out.Status = st
		if out, err = nodes.UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("updating node status: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("creating node: %w", err)
	}
	k.nodeChanged(out)
	return nil
}

// nodeChanged takes a newer Node object (informer, our writes): it keeps
// it and brings the pod network up once a pod CIDR is known.
func (k *Kubelet) nodeChanged(n *corev1.Node) {
	k.nodeMu.Lock()
	if k.node == nil || newerRV(k.node.ResourceVersion, n.ResourceVersion) {
		k.node = n
	}
	k.nodeMu.Unlock()
	k.mu.Lock()
	k.allocatable = n.Status.Allocatable.DeepCopy()
	k.mu.Unlock()
	cidr := n.Spec.PodCIDR
	if cidr == "" {
		cidr = k.cfg.PodCIDR
	}
	if cidr != "" {
		k.ensureNetwork(cidr)
	}
}

// newerRV compares resource versions as this API server issues them
// (etcd revisions); unparsable ones count as newer.
func newerRV(old, cur string) bool {
	var a, b uint64
	if _, err := fmt.Sscan(old, &a); err != nil {
		return true
	}
	if _, err := fmt.Sscan(cur, &b); err != nil {
		return true
	}
	return b >= a
}

// ensureNetwork creates the pod network for cidr once.
func (k *Kubelet) ensureNetwork(cidr string) {
	k.netMu.Lock()
	defer k.netMu.Unlock()
	if k.network != nil {
		if k.podCIDR != cidr {
			k.log.Warn("pod CIDR changed; keeping the one in use", "inUse", k.podCIDR, "node", cidr)
		}
		return
	}
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		k.log.Error("invalid pod CIDR", "cidr", cidr, "err", err)
		return
	}
	n, err := k.newNet(p)
	if err == nil {
		err = n.Init()
	}
	if err != nil {
		k.log.Error("setting up the pod network", "cidr", cidr, "err", err)
		return
	}
	k.network, k.podCIDR = n, cidr
	k.log.Info("pod network ready", "podCIDR", cidr)
	// Pods waiting for the network can go on.
	k.mu.Lock()
	rs := make([]*podRecord, 0, len(k.pods))
	for _, r := range k.pods {
		rs = append(rs, r)
	}
	k.mu.Unlock()
	for _, r := range rs {
		r.poke()
	}
}

func (k *Kubelet) net() Network {
	k.netMu.Lock()
	defer k.netMu.Unlock()
	return k.network
}

// condition builds a node condition, keeping old's transition time while
// the status is unchanged.
func condition(old *corev1.NodeStatus, t corev1.NodeConditionType, ok bool, now metav1.Time, reasonTrue, msgTrue, reasonFalse, msgFalse string) corev1.NodeCondition {
	c := corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: reasonFalse, Message: msgFalse, LastHeartbeatTime: now, LastTransitionTime: now}
	if ok {
		c.Status, c.Reason, c.Message = corev1.ConditionTrue, reasonTrue, msgTrue
	}
	if old != nil {
		for _, o := range old.Conditions {
			if o.Type == t && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return c
}

// nodeStatus computes the node's status from the host (old keeps
// transition times).
func (k *Kubelet) nodeStatus(old *corev1.NodeStatus) (corev1.NodeStatus, error) {
	capacity, err := k.host.Capacity()
	if err != nil {
		return corev1.NodeStatus{}, fmt.Errorf("reading host capacity: %w", err)
	}
	capacity[corev1.ResourcePods] = *resource.NewQuantity(int64(k.cfg.MaxPods), resource.DecimalSI)
	alloc := capacity.DeepCopy()
	if m, ok := alloc[corev1.ResourceMemory]; ok {
		v := m.Value() - memoryAvailableMin
		if v < 0 {
			v = 0
		}
		alloc[corev1.ResourceMemory] = *resource.NewQuantity(v, resource.BinarySI)
	}
	if s, ok := alloc[corev1.ResourceEphemeralStorage]; ok {
		alloc[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(s.Value()*(100-diskAvailablePercent)/100, resource.BinarySI)
	}
	u, err := k.host.Usage()
	if err != nil {
		return corev1.NodeStatus{}, fmt.Errorf("reading host usage: %w", err)
	}
	now := metav1.NewTime(k.now().Truncate(time.Second))
	netOK := k.net() != nil
	memPressure := u.MemoryAvailable < memoryAvailableMin
	diskPressure := u.DiskTotal > 0 && u.DiskAvailable*100 < u.DiskTotal*diskAvailablePercent
	pidPressure := u.PIDMax > 0 && u.PIDs*100 > u.PIDMax*pidPressurePercent
	conds := []corev1.NodeCondition{
		condition(old, corev1.NodeMemoryPressure, memPressure, now, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		condition(old, corev1.NodeDiskPressure, diskPressure, now, "KubeletHasDiskPressure", "kubelet has disk pressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		condition(old, corev1.NodePIDPressure, pidPressure, now, "KubeletHasInsufficientPID", "kubelet has insufficient PID available", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		condition(old, corev1.NodeReady, netOK, now, "KubeletReady", "kubelet is posting ready status",
			"KubeletNotReady", "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:no pod CIDR is assigned to this node"),
	}
	info := k.host.SystemInfo()
	info.KubeletVersion = Version
	info.ContainerRuntimeVersion = k.cfg.RuntimeVersion
	addrs := []corev1.NodeAddress{}
	for _, ip := range k.hostIPs() {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: k.hostname()})
	st := corev1.NodeStatus{
		Capacity: capacity, Allocatable: alloc, Conditions: conds, Addresses: addrs,
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(k.cfg.Port)}},
		NodeInfo:        info,
		Images:          k.nodeImages(),
	}
	if old != nil {
		st.VolumesInUse, st.VolumesAttached, st.Config = old.VolumesInUse, old.VolumesAttached, old.Config
	}
	return st, nil
}

// nodeImages lists the largest images for status.images.
func (k *Kubelet) nodeImages() []corev1.ContainerImage {
	ims, err := k.images.List()
	if err != nil {
		return nil
	}
	sort.SliceStable(ims, func(i, j int) bool { return ims[i].Size > ims[j].Size })
	var out []corev1.ContainerImage
	for _, im := range ims {
		if len(out) == maxNodeStatusImages {
			break
		}
		names := append(append([]string(nil), im.RepoDigests...), im.RepoTags...)
		if len(names) == 0 {
			names = []string{im.ID}
		}
		out = append(out, corev1.ContainerImage{Names: names, SizeBytes: im.Size})
	}
	return out
}

// sameNodeStatus compares statuses ignoring heartbeat times.
func sameNodeStatus(a, b corev1.NodeStatus) bool {
	strip := func(s corev1.NodeStatus) corev1.NodeStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		return s
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}

// nodeStatusLoop keeps the node's status fresh until ctx ends.
func (k *Kubelet) nodeStatusLoop(ctx context.Context) {
	tick := time.NewTicker(k.cfg.NodeStatusPeriod)
	defer tick.Stop()
	lastReport := k.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := k.updateNodeStatus(ctx, &lastReport); err != nil {
			k.log.Warn("updating node status", "node", k.cfg.NodeName, "err", err)
		}
	}
}

func (k *Kubelet) updateNodeStatus(ctx context.Context, lastReport *time.Time) error {
	for attempt := 0; attempt < 3; attempt++ {
		k.nodeMu.Lock()
		n := k.node.DeepCopy()
		k.nodeMu.Unlock()
		if n == nil {
			var err error
			if n, err = k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{}); err != nil {
				return err
			}
		}
		st, err := k.nodeStatus(&n.Status)
		if err != nil {
			return err
		}
		if sameNodeStatus(st, n.Status) && k.now().Sub(*lastReport) < k.cfg.NodeStatusReportPeriod {
			return nil
		}
		n.Status = st
		out, err := k.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			fresh, gerr := k.client.CoreV1().Nodes().Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
			if gerr != nil {
				return gerr
			}
			k.nodeChanged(fresh)
			continue
		}
		if apierrors.IsNotFound(err) {
			// Deleted by someone: register again.
			return k.tryRegister(ctx)
		}
		if err != nil {
			return err
		}
		*lastReport = k.now()
		k.nodeChanged(out)
		return nil
	}
	return fmt.Errorf("node status: too many conflicts")
}

// leaseLoop renews the node's Lease every LeasePeriod until ctx ends.
func (k *Kubelet) leaseLoop(ctx context.Context) {
	var lease *coordinationv1.Lease
	for {
		var err error
		lease, err = k.renewLease(ctx, lease)
		if err != nil {
			k.log.Warn("renewing node lease", "node", k.cfg.NodeName, "err", err)
			lease = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(k.cfg.LeasePeriod):
		}
	}
}

func (k *Kubelet) renewLease(ctx context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	leases := k.client.CoordinationV1().Leases(leaseNamespace)
	now := metav1.NewMicroTime(k.now())
	if l == nil {
		got, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			dur := int32(k.cfg.LeaseDuration / time.Second)
			holder := k.cfg.NodeName
			nl := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: leaseNamespace},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now},
			}
			k.nodeMu.Lock()
			if k.node != nil {
				nl.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: k.node.Name, UID: k.node.UID}}
			}
			k.nodeMu.Unlock()
			return leases.Create(ctx, nl, metav1.CreateOptions{})
		case err != nil:
			return nil, err
		}
		l = got
	}
	l = l.DeepCopy()
	holder := k.cfg.NodeName
	dur := int32(k.cfg.LeaseDuration / time.Second)
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &dur, &now
	return leases.Update(ctx, l, metav1.UpdateOptions{})
}

// imageGCLoop removes unused images when the disk fills up.
func (k *Kubelet) imageGCLoop(ctx context.Context) {
	tick := time.NewTicker(k.cfg.ImageGCPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		res, err := k.images.GC(image.GCPolicy{HighPercent: k.cfg.ImageGCHighPercent, LowPercent: k.cfg.ImageGCLowPercent})
		if err != nil {
			k.log.Warn("image garbage collection", "err", err)
			continue
		}
		if len(res.Removed) > 0 {
			k.log.Info("image garbage collection", "removed", len(res.Removed), "usedBefore", res.UsedBefore, "usedAfter", res.UsedAfter)
		}
	}
}
