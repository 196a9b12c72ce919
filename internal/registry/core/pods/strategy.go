// Package pods is the strategy for core/v1 pods: defaults, validation, the
// few spec fields an update may change, status and graceful deletion, and
// the fields field selectors use (spec.nodeName, status.phase, ...).
// Imported by the API server.
package pods

import (
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/registry"
)

// Strategy is the pods strategy.
type Strategy struct{ registry.Base }

// New returns the strategy.
func New() *Strategy { return &Strategy{registry.Base{Namespaced: true, HasStatus: true}} }

var (
	_ registry.Strategy              = (*Strategy)(nil)
	_ registry.StatusStrategy        = (*Strategy)(nil)
	_ registry.Deleter               = (*Strategy)(nil)
	_ registry.DeletedObjectReturner = (*Strategy)(nil)
)

// Info implements registry.Strategy.Info.
func (*Strategy) Info() registry.Info {
	return registry.Info{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true,
		ShortNames: []string{"po"}, Categories: []string{"all"}}
}

// New implements registry.Strategy.New.
func (*Strategy) New() runtime.Object { return &corev1.Pod{} }

// NewList implements registry.Strategy.NewList.
func (*Strategy) NewList() runtime.Object { return &corev1.PodList{} }

// ReturnDeletedObject implements registry.DeletedObjectReturner.
func (*Strategy) ReturnDeletedObject() bool { return true }

// Default implements registry.Strategy.Default with the defaults
// Kubernetes applies to every pod.
func (*Strategy) Default(obj runtime.Object) {
	DefaultSpec(&obj.(*corev1.Pod).Spec)
}

// DefaultSpec applies the pod spec defaults (also to workload templates).
func DefaultSpec(s *corev1.PodSpec) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := int64(corev1.DefaultTerminationGracePeriodSeconds)
		s.TerminationGracePeriodSeconds = &g
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.EnableServiceLinks == nil {
		t := true
		s.EnableServiceLinks = &t
	}
	if s.Priority == nil {
		zero := int32(0)
		s.Priority = &zero
	}
	if s.PreemptionPolicy == nil {
		pp := corev1.PreemptLowerPriority
		s.PreemptionPolicy = &pp
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
	if s.ServiceAccountName == "" && s.DeprecatedServiceAccount != "" {
		s.ServiceAccountName = s.DeprecatedServiceAccount
	}
	s.DeprecatedServiceAccount = s.ServiceAccountName
	for i := range s.Tolerations {
		if s.Tolerations[i].Operator == "" {
			s.Tolerations[i].Operator = corev1.TolerationOpEqual
		}
	}
}

func defaultContainer(c *corev1.Container) {
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
		if tag := imageTag(c.Image); tag == "" || tag == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		}
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	// Limits without requests: requests default to the limits.
	for name, q := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			c.Resources.Requests[name] = q.DeepCopy()
		}
	}
}

// imageTag returns the tag of an image reference, "" if none (a digest
// counts as a tag).
func imageTag(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		return image[i+1:]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[i+1:]
	}
	return ""
}

// PrepareForCreate implements registry.Strategy.PrepareForCreate.
func (s *Strategy) PrepareForCreate(obj runtime.Object) {
	s.Base.PrepareForCreate(obj)
	p := obj.(*corev1.Pod)
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: QOSClass(p)}
}

// PrepareForUpdate implements registry.Strategy.PrepareForUpdate.
func (s *Strategy) PrepareForUpdate(obj, old runtime.Object) {
	s.Base.PrepareForUpdate(obj, old)
}

// Validate implements registry.Strategy.Validate.
func (s *Strategy) Validate(obj runtime.Object) field.ErrorList {
	p := obj.(*corev1.Pod)
	errs := s.Base.Validate(obj)
	spec := field.NewPath("spec")
	if len(p.Spec.Containers) == 0 {
		errs = append(errs, field.Required(spec.Child("containers"), ""))
	}
	names := map[string]bool{}
	check := func(cs []corev1.Container, path *field.Path) {
		for i, c := range cs {
			cp := path.Index(i)
			if c.Name == "" {
				errs = append(errs, field.Required(cp.Child("name"), ""))
			} else {
				for _, msg := range validation.IsDNS1123Label(c.Name) {
					errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
				}
				if names[c.Name] {
					errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
				}
				names[c.Name] = true
			}
			if strings.TrimSpace(c.Image) == "" {
				errs = append(errs, field.Required(cp.Child("image"), ""))
			}
			for j, port := range c.Ports {
				if port.ContainerPort < 1 || port.ContainerPort > 65535 {
					errs = append(errs, field.Invalid(cp.Child("ports").Index(j).Child("containerPort"), port.ContainerPort, validation.InclusiveRangeError(1, 65535)))
				}
			}
		}
	}
	check(p.Spec.InitContainers, spec.Child("initContainers"))
	check(p.Spec.Containers, spec.Child("containers"))
	switch p.Spec.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		errs = append(errs, field.NotSupported(spec.Child("restartPolicy"), p.Spec.RestartPolicy,
			[]string{string(corev1.RestartPolicyAlways), string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}))
	}
	if p.Spec.NodeName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(p.Spec.NodeName) {
			errs = append(errs, field.Invalid(spec.Child("nodeName"), p.Spec.NodeName, msg))
		}
	}
	return errs
}

// ValidateUpdate implements registry.Strategy.ValidateUpdate: a pod's spec
// may change only in its images, activeDeadlineSeconds, added
// tolerations and terminationGracePeriodSeconds (as in Kubernetes).
func (s *Strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	p, o := obj.(*corev1.Pod), old.(*corev1.Pod)
	errs := append(s.Validate(obj), registry.MetaUpdateErrors(obj, old)...)
	// Copy the mutable fields of the new spec into the old one: what
	// differs after that was a forbidden change.
	mutable := *o.Spec.DeepCopy()
	if len(p.Spec.Containers) == len(mutable.Containers) {
		for i := range mutable.Containers {
			mutable.Containers[i].Image = p.Spec.Containers[i].Image
		}
	}
	if len(p.Spec.InitContainers) == len(mutable.InitContainers) {
		for i := range mutable.InitContainers {
			mutable.InitContainers[i].Image = p.Spec.InitContainers[i].Image
		}
	}
	mutable.ActiveDeadlineSeconds = p.Spec.ActiveDeadlineSeconds
	mutable.Tolerations = p.Spec.Tolerations
	mutable.TerminationGracePeriodSeconds = p.Spec.TerminationGracePeriodSeconds
	mutable.SchedulingGates = p.Spec.SchedulingGates
	if !apiequality.Semantic.DeepEqual(mutable, p.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"))
	}
	return errs
}

// ValidateStatusUpdate implements registry.StatusStrategy.
func (s *Strategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	p := obj.(*corev1.Pod)
	errs := registry.MetaUpdateErrors(obj, old)
	switch p.Status.Phase {
	case "", corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("status", "phase"), p.Status.Phase, []string{"Pending", "Running", "Succeeded", "Failed", "Unknown"}))
	}
	return errs
}

// Attrs implements registry.Strategy.Attrs.
func (*Strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	p := obj.(*corev1.Pod)
	return registry.MetaAttrs(obj, fields.Set{
		"spec.nodeName":            p.Spec.NodeName,
		"spec.restartPolicy":       string(p.Spec.RestartPolicy),
		"spec.schedulerName":       p.Spec.SchedulerName,
		"spec.serviceAccountName":  p.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(p.Spec.HostNetwork),
		"status.phase":             string(p.Status.Phase),
		"status.podIP":             p.Status.PodIP,
		"status.nominatedNodeName": p.Status.NominatedNodeName,
	})
}

// BeforeDelete implements registry.Deleter: graceful deletion. A pod that
// runs on a node gets its grace period (from the options or the spec) and
// stays until the kubelet confirms; a pod never scheduled, already finished,
// or deleted with grace 0 goes at once.
func (*Strategy) BeforeDelete(obj runtime.Object, opts *metav1.DeleteOptions, now time.Time) bool {
	p := obj.(*corev1.Pod)
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if p.Spec.TerminationGracePeriodSeconds != nil {
		grace = *p.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if grace < 0 {
		grace = 1
	}
	if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		grace = 0
	}
	// A second delete may shorten the grace period, never extend it.
	if p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds < grace {
		grace = *p.DeletionGracePeriodSeconds
	}
	opts.GracePeriodSeconds = &grace
	if grace == 0 {
		return false
	}
	p.DeletionGracePeriodSeconds = &grace
	return true
}

// QOSClass computes a pod's quality-of-service class from its containers'
// requests and limits.
func QOSClass(p *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	cs := append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...)
	for _, c := range cs {
		for n, q := range c.Resources.Requests {
			if n != corev1.ResourceCPU && n != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			add(requests, n, q)
		}
		have := 0
		for n, q := range c.Resources.Limits {
			if n != corev1.ResourceCPU && n != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			have++
			add(limits, n, q)
		}
		if have != 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for n, r := range requests {
			if l, ok := limits[n]; !ok || l.Cmp(r) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func add(l corev1.ResourceList, n corev1.ResourceName, q resource.Quantity) {
	if cur, ok := l[n]; ok {
		cur.Add(q)
		l[n] = cur
	} else {
		l[n] = q.DeepCopy()
	}
}
