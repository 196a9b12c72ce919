package validation

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podUpdateForbiddenMsg lists what a pod update may change.
const podUpdateForbiddenMsg = "pod updates may not change fields other than `spec.containers[*].image`," +
	"`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)," +
	"`spec.schedulingGates` (only removals) and, while scheduling gates remain, `spec.nodeSelector` (only additions) and `spec.affinity`"

var supportedPodPhases = []corev1.PodPhase{corev1.PodFailed, corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodUnknown}

// ValidatePodUpdate checks an update of a pod's metadata and spec. The spec
// of a pod is fixed once created except: container images, a shorter
// activeDeadlineSeconds, added tolerations (or shorter tolerationSeconds of
// existing NoExecute ones), a negative grace period becoming 1, removed
// scheduling gates and, while the pod is still gated, added node selector
// labels and a changed affinity. Ephemeral containers change only through
// their own subresource and are ignored here.
func ValidatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	errs = append(errs, validatePodSpec(&pod.Spec, true, specPath)...)

	if len(pod.Spec.Containers) != len(old.Spec.Containers) || len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return append(errs, field.Forbidden(specPath, podUpdateForbiddenMsg+": the number of containers may not change"))
	}
	errs = append(errs, validateActiveDeadlineUpdate(pod.Spec.ActiveDeadlineSeconds, old.Spec.ActiveDeadlineSeconds, specPath.Child("activeDeadlineSeconds"))...)
	errs = append(errs, validateTolerationsUpdate(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)
	errs = append(errs, validateSchedulingGatesUpdate(pod.Spec.SchedulingGates, old.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	// Copy the mutable fields from the new spec into a copy of the old one:
	// what still differs was changed where it may not be.
	munged := old.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = pod.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = pod.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = pod.Spec.ActiveDeadlineSeconds
	munged.Tolerations = pod.Spec.Tolerations
	munged.SchedulingGates = pod.Spec.SchedulingGates
	munged.EphemeralContainers = pod.Spec.EphemeralContainers
	if old.Spec.TerminationGracePeriodSeconds != nil && *old.Spec.TerminationGracePeriodSeconds < 0 &&
		pod.Spec.TerminationGracePeriodSeconds != nil && *pod.Spec.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = pod.Spec.TerminationGracePeriodSeconds
	}
	if len(old.Spec.SchedulingGates) > 0 {
		munged.Affinity = pod.Spec.Affinity
		if nodeSelectorAdditionsOnly(pod.Spec.NodeSelector, old.Spec.NodeSelector) {
			munged.NodeSelector = pod.Spec.NodeSelector
		}
	}
	if changed := changedFields(munged, &pod.Spec); len(changed) > 0 {
		errs = append(errs, field.Forbidden(specPath, fmt.Sprintf("%s; changed: %s", podUpdateForbiddenMsg, strings.Join(changed, ", "))))
	}
	return errs
}

// changedFields names (by JSON name) the top-level fields of two structs of
// the same type that differ.
func changedFields(a, b any) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	var out []string
	for i := 0; i < va.NumField(); i++ {
		if equality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			continue
		}
		name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("json"), ",")
		out = append(out, "spec."+name)
	}
	return out
}

func nodeSelectorAdditionsOnly(newSel, oldSel map[string]string) bool {
	for k, v := range oldSel {
		if nv, ok := newSel[k]; !ok || nv != v {
			return false
		}
	}
	return true
}

// validateActiveDeadlineUpdate: the deadline may be set or shortened, never
// lengthened or removed.
func validateActiveDeadlineUpdate(newV, oldV *int64, fldPath *field.Path) field.ErrorList {
	switch {
	case oldV == nil:
		return nil
	case newV == nil:
		return field.ErrorList{field.Invalid(fldPath, newV, "must not update from a positive integer to nil value")}
	case *newV > *oldV:
		return field.ErrorList{field.Invalid(fldPath, *newV, "must be less than or equal to previous value")}
	}
	return nil
}

// validateTolerationsUpdate: every old toleration must remain; a NoExecute
// one may only shorten its tolerationSeconds.
func validateTolerationsUpdate(newT, oldT []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, o := range oldT {
		found := false
		for _, n := range newT {
			if n.Key != o.Key || n.Operator != o.Operator || n.Value != o.Value || n.Effect != o.Effect {
				continue
			}
			switch {
			case o.TolerationSeconds == nil && n.TolerationSeconds == nil:
				found = true
			case o.TolerationSeconds != nil && n.TolerationSeconds != nil && *n.TolerationSeconds <= *o.TolerationSeconds:
				found = true
			case o.TolerationSeconds == nil && n.TolerationSeconds != nil && n.Effect == corev1.TaintEffectNoExecute:
				found = true
			}
			if found {
				break
			}
		}
		if !found {
			errs = append(errs, field.Forbidden(fldPath, fmt.Sprintf("existing toleration can not be modified except its tolerationSeconds; only additions are allowed: %s", describeToleration(o))))
		}
	}
	return errs
}

func describeToleration(t corev1.Toleration) string {
	s := fmt.Sprintf("key=%q operator=%q value=%q effect=%q", t.Key, t.Operator, t.Value, t.Effect)
	if t.TolerationSeconds != nil {
		s += fmt.Sprintf(" tolerationSeconds=%d", *t.TolerationSeconds)
	}
	return s
}

// validateSchedulingGatesUpdate: gates may only be removed.
func validateSchedulingGatesUpdate(newG, oldG []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	old := map[string]bool{}
	for _, g := range oldG {
		old[g.Name] = true
	}
	var errs field.ErrorList
	for i, g := range newG {
		if !old[g.Name] {
			errs = append(errs, field.Forbidden(fldPath.Index(i), "only deletion is allowed, but found new scheduling gate '"+g.Name+"'"))
		}
	}
	return errs
}

// ValidatePodStatusUpdate checks an update through pods/status: a known
// phase that never leaves Succeeded or Failed, well-formed pod and host
// IPs, condition types, and container statuses that name the pod's
// containers and, under restartPolicy Never (or OnFailure after success),
// never come back from terminated.
func ValidatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	st := &pod.Status
	p := field.NewPath("status")
	errs = append(errs, validateEnum(st.Phase, false, supportedPodPhases, p.Child("phase"))...)
	if terminal(old.Status.Phase) && st.Phase != old.Status.Phase {
		errs = append(errs, field.Forbidden(p.Child("phase"), fmt.Sprintf("may not transition from terminal phase %s to %s", old.Status.Phase, st.Phase)))
	}
	if st.NominatedNodeName != "" {
		errs = append(errs, validateNameRef(st.NominatedNodeName, NameIsDNSSubdomain, p.Child("nominatedNodeName"))...)
	}
	ips := make([]string, len(st.PodIPs))
	for i, ip := range st.PodIPs {
		ips[i] = ip.IP
	}
	errs = append(errs, validateDualStackIPs(ips, st.PodIP, p.Child("podIPs"), p.Child("podIP"))...)
	hips := make([]string, len(st.HostIPs))
	for i, ip := range st.HostIPs {
		hips[i] = ip.IP
	}
	errs = append(errs, validateDualStackIPs(hips, st.HostIP, p.Child("hostIPs"), p.Child("hostIP"))...)
	for i, c := range st.Conditions {
		errs = append(errs, validateQualifiedName(string(c.Type), p.Child("conditions").Index(i).Child("type"))...)
	}
	errs = append(errs, validateContainerStatuses(st.ContainerStatuses, old.Status.ContainerStatuses, pod.Spec.Containers, pod.Spec.RestartPolicy, p.Child("containerStatuses"))...)
	errs = append(errs, validateContainerStatuses(st.InitContainerStatuses, old.Status.InitContainerStatuses, pod.Spec.InitContainers, pod.Spec.RestartPolicy, p.Child("initContainerStatuses"))...)
	return errs
}

func terminal(phase corev1.PodPhase) bool {
	return phase == corev1.PodSucceeded || phase == corev1.PodFailed
}

// validateDualStackIPs checks a list of at most two addresses, one per
// family, whose first entry matches the singular field when both are set.
func validateDualStackIPs(ips []string, primary string, listPath, primaryPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if primary != "" {
		errs = append(errs, validateIP(primary, primaryPath)...)
		if len(ips) > 0 && ips[0] != primary {
			errs = append(errs, field.Invalid(primaryPath, primary, "must match the first entry of "+listPath.String()))
		}
	}
	if len(ips) > 2 {
		return append(errs, field.TooMany(listPath, len(ips), 2))
	}
	families := map[bool]bool{}
	for i, ip := range ips {
		ep := listPath.Index(i).Child("ip")
		if e := validateIP(ip, ep); len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		is4 := netip.MustParseAddr(ip).Unmap().Is4()
		if families[is4] {
			errs = append(errs, field.Invalid(listPath, ips, "may specify no more than one IP for each IP family"))
		}
		families[is4] = true
	}
	return errs
}

// validateContainerStatuses checks status.containerStatuses (or the init
// ones) against the spec and the previous status.
func validateContainerStatuses(statuses, oldStatuses []corev1.ContainerStatus, ctrs []corev1.Container, rp corev1.RestartPolicy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]*corev1.Container{}
	for i := range ctrs {
		names[ctrs[i].Name] = &ctrs[i]
	}
	oldByName := map[string]corev1.ContainerStatus{}
	for _, s := range oldStatuses {
		oldByName[s.Name] = s
	}
	for i, s := range statuses {
		p := fldPath.Index(i)
		ctr, ok := names[s.Name]
		if !ok {
			errs = append(errs, field.NotFound(p.Child("name"), s.Name))
			continue
		}
		errs = append(errs, validateNonnegative(int64(s.RestartCount), p.Child("restartCount"))...)
		o, ok := oldByName[s.Name]
		if !ok || o.State.Terminated == nil || s.State.Terminated != nil {
			continue
		}
		restarts := rp
		if ctr.RestartPolicy != nil {
			restarts = corev1.RestartPolicy(*ctr.RestartPolicy)
		}
		if restarts == corev1.RestartPolicyNever || (restarts == corev1.RestartPolicyOnFailure && o.State.Terminated.ExitCode == 0) {
			errs = append(errs, field.Forbidden(p.Child("state"), "may not be transitioned to non-terminated state"))
		}
	}
	return errs
}

// ValidateBinding checks a pods/binding request: the target is a node,
// named.
func ValidateBinding(b *corev1.Binding) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("target")
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(p.Child("kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, validateNameRef(b.Target.Name, NameIsDNSSubdomain, p.Child("name"))...)
	}
	return errs
}

// ValidateEviction checks a pods/eviction request: it names a pod and
// carries valid delete options.
func ValidateEviction(e *policyv1.Eviction) field.ErrorList {
	var errs field.ErrorList
	if e.Name == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), ""))
	}
	if e.DeleteOptions != nil {
		errs = append(errs, metav1validation.ValidateDeleteOptions(e.DeleteOptions)...)
		if gp := e.DeleteOptions.GracePeriodSeconds; gp != nil && *gp < 0 {
			errs = append(errs, field.Invalid(field.NewPath("deleteOptions", "gracePeriodSeconds"), *gp, isNegativeErrorMsg))
		}
	}
	return errs
}
