package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Values Kubernetes uses for pods.
const (
	defaultTerminationGracePeriod = int64(corev1.DefaultTerminationGracePeriodSeconds) // 30
	defaultTokenExpirationSeconds = int64(3600)
	defaultFileMode               = int32(0o644)
)

// Pod defaults a pod: everything PodTemplateSpec defaults in its spec,
// plus what only pods get: container requests copied from limits where
// unset, pod-level requests and limits derived from the containers',
// enableServiceLinks true, and host ports equal to container ports on the
// host network.
func Pod(p *corev1.Pod) {
	defaultRequestsFromLimits(p.Spec.Containers)
	defaultRequestsFromLimits(p.Spec.InitContainers)
	podSpec(&p.Spec)
	defaultPodLevelResources(&p.Spec)
	if p.Spec.EnableServiceLinks == nil {
		p.Spec.EnableServiceLinks = ptrTo(corev1.DefaultEnableServiceLinks)
	}
	if p.Spec.HostNetwork {
		defaultHostPorts(p.Spec.Containers)
		defaultHostPorts(p.Spec.InitContainers)
	}
}

// PodTemplate defaults a core/v1 PodTemplate object.
func PodTemplate(t *corev1.PodTemplate) {
	PodTemplateSpec(&t.Template)
}

// PodTemplateSpec defaults the pod template of a workload (Deployment,
// Job, ...): the pod spec's own defaults (restartPolicy Always, dnsPolicy
// ClusterFirst, schedulerName default-scheduler, a 30 s grace period, an
// empty securityContext) and those of its containers, probes and volumes.
// Unlike Pod it leaves requests, enableServiceLinks and host ports alone,
// as Kubernetes does, so templates do not change meaning when defaults
// change.
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	podSpec(&t.Spec)
}

func podSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptrTo(defaultTerminationGracePeriod)
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range spec.Volumes {
		volume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		container(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		container(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		container((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundResourceList(spec.Overhead)
	if spec.Resources != nil {
		roundResourceList(spec.Resources.Limits)
		roundResourceList(spec.Resources.Requests)
	}
}

// container defaults one container: pull policy from the image tag,
// termination message path and policy, port protocols, env field
// references, resource rounding, probes and lifecycle hooks.
func container(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = pullPolicyFor(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil {
			if vf.FieldRef != nil {
				objectFieldSelector(vf.FieldRef)
			}
			if vf.FileKeyRef != nil && vf.FileKeyRef.Optional == nil {
				vf.FileKeyRef.Optional = ptrTo(false)
			}
		}
	}
	roundResourceList(c.Resources.Limits)
	roundResourceList(c.Resources.Requests)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			probe(p)
		}
	}
	if lc := c.Lifecycle; lc != nil {
		for _, h := range []*corev1.LifecycleHandler{lc.PostStart, lc.PreStop} {
			if h != nil && h.HTTPGet != nil {
				httpGet(h.HTTPGet)
			}
		}
	}
}

// pullPolicyFor is Always for an image tagged latest or not tagged at all
// (and not pinned by digest), IfNotPresent otherwise.
func pullPolicyFor(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag returns an image reference's tag: "latest" when it has neither
// tag nor digest, "" when it has only a digest. A colon before the last
// slash belongs to a registry port, not a tag.
func imageTag(image string) string {
	if image == "" {
		return ""
	}
	name, digest, hasDigest := strings.Cut(image, "@")
	if hasDigest && digest != "" {
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			return name[i+1:]
		}
		return ""
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		return name[i+1:]
	}
	return "latest"
}

func probe(p *corev1.Probe) {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		httpGet(p.HTTPGet)
	}
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptrTo("")
	}
}

func httpGet(h *corev1.HTTPGetAction) {
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func objectFieldSelector(fs *corev1.ObjectFieldSelector) {
	if fs.APIVersion == "" {
		fs.APIVersion = "v1"
	}
}

// volume defaults one pod volume: a volume without a source is an
// emptyDir; file modes 0644; hostPath type ""; a projected token lives an
// hour; legacy in-tree sources get their documented defaults.
func volume(v *corev1.Volume) {
	vs := &v.VolumeSource
	if noVolumeSource(vs) {
		vs.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if vs.HostPath != nil {
		hostPath(vs.HostPath)
	}
	if vs.Secret != nil && vs.Secret.DefaultMode == nil {
		vs.Secret.DefaultMode = ptrTo(defaultFileMode)
	}
	if vs.ConfigMap != nil && vs.ConfigMap.DefaultMode == nil {
		vs.ConfigMap.DefaultMode = ptrTo(defaultFileMode)
	}
	if d := vs.DownwardAPI; d != nil {
		if d.DefaultMode == nil {
			d.DefaultMode = ptrTo(defaultFileMode)
		}
		downwardAPIFiles(d.Items)
	}
	if pr := vs.Projected; pr != nil {
		if pr.DefaultMode == nil {
			pr.DefaultMode = ptrTo(defaultFileMode)
		}
		for i := range pr.Sources {
			src := &pr.Sources[i]
			if src.DownwardAPI != nil {
				downwardAPIFiles(src.DownwardAPI.Items)
			}
			if t := src.ServiceAccountToken; t != nil && t.ExpirationSeconds == nil {
				t.ExpirationSeconds = ptrTo(defaultTokenExpirationSeconds)
			}
		}
	}
	if e := vs.Ephemeral; e != nil && e.VolumeClaimTemplate != nil {
		pvcSpec(&e.VolumeClaimTemplate.Spec)
	}
	if img := vs.Image; img != nil && img.PullPolicy == "" {
		img.PullPolicy = pullPolicyFor(img.Reference)
	}
	if is := vs.ISCSI; is != nil && is.ISCSIInterface == "" {
		is.ISCSIInterface = "default"
	}
	if r := vs.RBD; r != nil {
		rbd(&r.RBDPool, &r.RadosUser, &r.Keyring)
	}
	if a := vs.AzureDisk; a != nil {
		azureDisk(a)
	}
	if s := vs.ScaleIO; s != nil {
		scaleIO(&s.StorageMode, &s.FSType)
	}
}

func noVolumeSource(vs *corev1.VolumeSource) bool {
	return vs.HostPath == nil && vs.EmptyDir == nil && vs.GCEPersistentDisk == nil &&
		vs.AWSElasticBlockStore == nil && vs.GitRepo == nil && vs.Secret == nil && vs.NFS == nil &&
		vs.ISCSI == nil && vs.Glusterfs == nil && vs.PersistentVolumeClaim == nil && vs.RBD == nil &&
		vs.FlexVolume == nil && vs.Cinder == nil && vs.CephFS == nil && vs.Flocker == nil &&
		vs.DownwardAPI == nil && vs.FC == nil && vs.AzureFile == nil && vs.ConfigMap == nil &&
		vs.VsphereVolume == nil && vs.Quobyte == nil && vs.AzureDisk == nil && vs.PhotonPersistentDisk == nil &&
		vs.Projected == nil && vs.PortworxVolume == nil && vs.ScaleIO == nil && vs.StorageOS == nil &&
		vs.CSI == nil && vs.Ephemeral == nil && vs.Image == nil
}

func hostPath(hp *corev1.HostPathVolumeSource) {
	if hp.Type == nil {
		hp.Type = ptrTo(corev1.HostPathUnset)
	}
}

func downwardAPIFiles(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			objectFieldSelector(items[i].FieldRef)
		}
	}
}

func rbd(pool, user, keyring *string) {
	if *pool == "" {
		*pool = "rbd"
	}
	if *user == "" {
		*user = "admin"
	}
	if *keyring == "" {
		*keyring = "/etc/ceph/keyring"
	}
}

func azureDisk(a *corev1.AzureDiskVolumeSource) {
	if a.CachingMode == nil {
		a.CachingMode = ptrTo(corev1.AzureDataDiskCachingReadWrite)
	}
	if a.Kind == nil {
		a.Kind = ptrTo(corev1.AzureSharedBlobDisk)
	}
	if a.FSType == nil {
		a.FSType = ptrTo("ext4")
	}
	if a.ReadOnly == nil {
		a.ReadOnly = ptrTo(false)
	}
}

func scaleIO(mode, fsType *string) {
	if *mode == "" {
		*mode = "ThinProvisioned"
	}
	if *fsType == "" {
		*fsType = "xfs"
	}
}

// defaultRequestsFromLimits copies each limit into requests where the
// request is unset.
func defaultRequestsFromLimits(ctrs []corev1.Container) {
	for i := range ctrs {
		r := &ctrs[i].Resources
		if r.Limits == nil {
			continue
		}
		if r.Requests == nil {
			r.Requests = corev1.ResourceList{}
		}
		for name, q := range r.Limits {
			if _, ok := r.Requests[name]; !ok {
				r.Requests[name] = q.DeepCopy()
			}
		}
	}
}

func defaultHostPorts(ctrs []corev1.Container) {
	for i := range ctrs {
		for j := range ctrs[i].Ports {
			if ctrs[i].Ports[j].HostPort == 0 {
				ctrs[i].Ports[j].HostPort = ctrs[i].Ports[j].ContainerPort
			}
		}
	}
}

// roundResourceList rounds every quantity up to a whole milli-unit, as
// Kubernetes does (1.0001m becomes 2m), so stored values compare equal to
// what clients read back.
func roundResourceList(list corev1.ResourceList) {
	for name, q := range list {
		q.RoundUp(resource.Milli)
		list[name] = q
	}
}

func ptrTo[T any](v T) *T { return &v }
