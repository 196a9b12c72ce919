package validation

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedPullPolicies           = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	supportedTerminationMsgPolicies = []corev1.TerminationMessagePolicy{corev1.TerminationMessageFallbackToLogsOnError, corev1.TerminationMessageReadFile}
	supportedPortProtocols          = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	supportedURISchemes             = []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}
	supportedMountPropagations      = []corev1.MountPropagationMode{corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}
	supportedResizeResources        = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
	supportedResizePolicies         = []corev1.ResourceResizeRestartPolicy{corev1.NotRequired, corev1.RestartContainer}
	supportedContainerRestarts      = []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicyNever, corev1.ContainerRestartPolicyOnFailure}

	// Fields of the pod an environment variable may read through fieldRef.
	envFieldPaths = sets.New("metadata.name", "metadata.namespace", "metadata.uid",
		"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs",
		"status.podIP", "status.podIPs")
	// Resources a resourceFieldRef may read.
	resourceFieldRefs = sets.New("limits.cpu", "limits.memory", "limits.ephemeral-storage",
		"requests.cpu", "requests.memory", "requests.ephemeral-storage")
)

// podContext is what container checks need to know about their pod.
type podContext struct {
	// volumes maps volume names to their sources, for volumeMounts.
	volumes map[string]corev1.VolumeSource
	// hostNetwork: container ports must then equal host ports.
	hostNetwork bool
	// isPod is false for pod templates, where images may be left empty for
	// higher-level tools to fill in.
	isPod bool
}

// validateContainers checks spec.containers.
func validateContainers(ctrs []corev1.Container, pc podContext, names *duplicates[string], fldPath *field.Path) field.ErrorList {
	if len(ctrs) == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	for i := range ctrs {
		ctr := &ctrs[i]
		p := fldPath.Index(i)
		errs = append(errs, validateContainerCommon(ctr, pc, names, p)...)
		if ctr.RestartPolicy != nil {
			errs = append(errs, validateEnum(*ctr.RestartPolicy, false, supportedContainerRestarts, p.Child("restartPolicy"))...)
		}
		errs = append(errs, validateProbe(ctr.LivenessProbe, true, p.Child("livenessProbe"))...)
		errs = append(errs, validateProbe(ctr.ReadinessProbe, false, p.Child("readinessProbe"))...)
		errs = append(errs, validateProbe(ctr.StartupProbe, true, p.Child("startupProbe"))...)
		errs = append(errs, validateLifecycle(ctr.Lifecycle, p.Child("lifecycle"))...)
	}
	return errs
}

// validateInitContainers checks spec.initContainers: like containers, but
// only restartable ("sidecar", restartPolicy Always) ones may carry probes
// and lifecycle hooks.
func validateInitContainers(ctrs []corev1.Container, pc podContext, names *duplicates[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range ctrs {
		ctr := &ctrs[i]
		p := fldPath.Index(i)
		errs = append(errs, validateContainerCommon(ctr, pc, names, p)...)
		sidecar := false
		if ctr.RestartPolicy != nil {
			if *ctr.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				sidecar = true
			} else {
				errs = append(errs, field.NotSupported(p.Child("restartPolicy"), *ctr.RestartPolicy, []string{string(corev1.ContainerRestartPolicyAlways)}))
			}
		}
		if sidecar {
			errs = append(errs, validateProbe(ctr.LivenessProbe, true, p.Child("livenessProbe"))...)
			errs = append(errs, validateProbe(ctr.ReadinessProbe, false, p.Child("readinessProbe"))...)
			errs = append(errs, validateProbe(ctr.StartupProbe, true, p.Child("startupProbe"))...)
			errs = append(errs, validateLifecycle(ctr.Lifecycle, p.Child("lifecycle"))...)
			continue
		}
		const msg = "may not be set for init containers without restartPolicy=Always"
		if ctr.Lifecycle != nil {
			errs = append(errs, field.Forbidden(p.Child("lifecycle"), msg))
		}
		if ctr.LivenessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("livenessProbe"), msg))
		}
		if ctr.ReadinessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("readinessProbe"), msg))
		}
		if ctr.StartupProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("startupProbe"), msg))
		}
	}
	return errs
}

// validateContainerCommon checks what init and regular containers share.
func validateContainerCommon(ctr *corev1.Container, pc podContext, names *duplicates[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ctr.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		errs = append(errs, validateDNS1123Label(ctr.Name, p.Child("name"))...)
		if names.add(ctr.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), ctr.Name))
		}
	}
	switch {
	case ctr.Image == "" && pc.isPod:
		errs = append(errs, field.Required(p.Child("image"), ""))
	case ctr.Image != strings.TrimSpace(ctr.Image):
		errs = append(errs, field.Invalid(p.Child("image"), ctr.Image, "must not have leading or trailing whitespace"))
	}
	errs = append(errs, validateEnum(ctr.ImagePullPolicy, true, supportedPullPolicies, p.Child("imagePullPolicy"))...)
	errs = append(errs, validateEnum(ctr.TerminationMessagePolicy, true, supportedTerminationMsgPolicies, p.Child("terminationMessagePolicy"))...)
	errs = append(errs, validateContainerPorts(ctr.Ports, pc.hostNetwork, p.Child("ports"))...)
	errs = append(errs, validateEnv(ctr.Env, p.Child("env"))...)
	errs = append(errs, validateEnvFrom(ctr.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(ctr.VolumeMounts, ctr.VolumeDevices, pc.volumes, ctr.SecurityContext, p)...)
	errs = append(errs, validateContainerResources(&ctr.Resources, p.Child("resources"))...)
	errs = append(errs, validateResizePolicy(ctr.ResizePolicy, p.Child("resizePolicy"))...)
	errs = append(errs, validateContainerSecurityContext(ctr.SecurityContext, p.Child("securityContext"))...)
	return errs
}

// validateContainerPorts checks one container's ports.
func validateContainerPorts(ports []corev1.ContainerPort, hostNetwork bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	var names duplicates[string]
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			errs = append(errs, validatePortName(port.Name, p.Child("name"))...)
			if names.add(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			errs = append(errs, validatePortNumber(port.ContainerPort, p.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, validatePortNumber(port.HostPort, p.Child("hostPort"))...)
		}
		if hostNetwork && port.HostPort != 0 && port.HostPort != port.ContainerPort {
			errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
		}
		if port.HostIP != "" {
			errs = append(errs, validateIP(port.HostIP, p.Child("hostIP"))...)
		}
		errs = append(errs, validateEnum(port.Protocol, true, supportedPortProtocols, p.Child("protocol"))...)
	}
	return errs
}

// validateEnv checks a container's env list.
func validateEnv(env []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		p := fldPath.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			for _, msg := range utilvalidation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), ev.Name, msg))
			}
		}
		errs = append(errs, validateEnvVarSource(ev.ValueFrom, ev.Value != "", p.Child("valueFrom"))...)
	}
	return errs
}

// validateEnvVarSource checks env[i].valueFrom: exactly one source.
func validateEnvVarSource(src *corev1.EnvVarSource, hasValue bool, fldPath *field.Path) field.ErrorList {
	if src == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if src.FieldRef != nil {
		n++
		errs = append(errs, validateObjectFieldSelector(src.FieldRef, envFieldPaths, fldPath.Child("fieldRef"))...)
	}
	if src.ResourceFieldRef != nil {
		n++
		errs = append(errs, validateResourceFieldSelector(src.ResourceFieldRef, false, fldPath.Child("resourceFieldRef"))...)
	}
	if ref := src.ConfigMapKeyRef; ref != nil {
		n++
		errs = append(errs, validateKeySelector(ref.Name, ref.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if ref := src.SecretKeyRef; ref != nil {
		n++
		errs = append(errs, validateKeySelector(ref.Name, ref.Key, fldPath.Child("secretKeyRef"))...)
	}
	if ref := src.FileKeyRef; ref != nil {
		n++
		errs = append(errs, validateFileKeySelector(ref, fldPath.Child("fileKeyRef"))...)
	}
	switch {
	case hasValue:
		errs = append(errs, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	case n == 0:
		errs = append(errs, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
	case n > 1:
		errs = append(errs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	}
	return errs
}

// validateKeySelector checks a configMapKeyRef or secretKeyRef.
func validateKeySelector(name, key string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(fldPath.Child("name"), ""))
	} else {
		errs = append(errs, validateDNS1123Subdomain(name, fldPath.Child("name"))...)
	}
	errs = append(errs, validateConfigMapKey(key, fldPath.Child("key"))...)
	return errs
}

// validateFileKeySelector checks env[i].valueFrom.fileKeyRef.
func validateFileKeySelector(ref *corev1.FileKeySelector, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.VolumeName == "" {
		errs = append(errs, field.Required(fldPath.Child("volumeName"), ""))
	}
	if ref.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	} else {
		errs = append(errs, validateLocalDescendingPath(ref.Path, fldPath.Child("path"))...)
	}
	if ref.Key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	}
	return errs
}

// validateConfigMapKey checks a key of a ConfigMap or Secret.
func validateConfigMapKey(key string, fldPath *field.Path) field.ErrorList {
	if key == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(fldPath, key, msg))
	}
	return errs
}

// validateObjectFieldSelector checks a fieldRef against the paths allowed
// in its place; metadata.labels['k'] and metadata.annotations['k'] are
// always allowed.
func validateObjectFieldSelector(fs *corev1.ObjectFieldSelector, allowed sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if fs.APIVersion == "" {
		errs = append(errs, field.Required(fldPath.Child("apiVersion"), ""))
	} else if fs.APIVersion != "v1" {
		errs = append(errs, field.NotSupported(fldPath.Child("apiVersion"), fs.APIVersion, []string{"v1"}))
	}
	if fs.FieldPath == "" {
		return append(errs, field.Required(fldPath.Child("fieldPath"), ""))
	}
	if key, ok := subscriptKey(fs.FieldPath); ok {
		if key == "" {
			return append(errs, field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath, "must have a non-empty subscript"))
		}
		if strings.HasPrefix(fs.FieldPath, "metadata.labels") {
			return append(errs, validateQualifiedName(key, fldPath.Child("fieldPath"))...)
		}
		return append(errs, validateQualifiedName(strings.ToLower(key), fldPath.Child("fieldPath"))...)
	}
	if !allowed.Has(fs.FieldPath) {
		errs = append(errs, field.NotSupported(fldPath.Child("fieldPath"), fs.FieldPath, sets.List(allowed)))
	}
	return errs
}

// subscriptKey splits metadata.labels['key'] or metadata.annotations['key'].
func subscriptKey(fieldPath string) (string, bool) {
	for _, prefix := range []string{"metadata.labels", "metadata.annotations"} {
		rest, ok := strings.CutPrefix(fieldPath, prefix)
		if !ok || !strings.HasPrefix(rest, "[") {
			continue
		}
		if !strings.HasSuffix(rest, "]") {
			return "", true
		}
		key := strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
		key = strings.Trim(key, `'"`)
		return key, true
	}
	return "", false
}

// validateResourceFieldSelector checks a resourceFieldRef; in a downward
// API volume the container must be named.
func validateResourceFieldSelector(fs *corev1.ResourceFieldSelector, needContainer bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if needContainer && fs.ContainerName == "" {
		errs = append(errs, field.Required(fldPath.Child("containerName"), ""))
	}
	switch {
	case fs.Resource == "":
		errs = append(errs, field.Required(fldPath.Child("resource"), ""))
	case resourceFieldRefs.Has(fs.Resource):
	case strings.HasPrefix(fs.Resource, "limits.hugepages-"), strings.HasPrefix(fs.Resource, "requests.hugepages-"):
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("resource"), fs.Resource, sets.List(resourceFieldRefs)))
	}
	if !fs.Divisor.IsZero() {
		errs = append(errs, validateDivisor(fs.Resource, fs.Divisor, fldPath.Child("divisor"))...)
	}
	return errs
}

// validateDivisor checks that a resourceFieldRef divisor is a unit.
func validateDivisor(rName string, divisor resource.Quantity, fldPath *field.Path) field.ErrorList {
	var ok []string
	switch {
	case strings.HasSuffix(rName, ".cpu"):
		ok = []string{"1m", "1"}
	default:
		ok = []string{"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
	}
	for _, s := range ok {
		if divisor.Cmp(resource.MustParse(s)) == 0 {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(fldPath, divisor.String(), fmt.Sprintf("only divisor's values %s are supported with the %s resource", strings.Join(ok, ", "), rName))}
}

// validateEnvFrom checks a container's envFrom list.
func validateEnvFrom(envFrom []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ef := range envFrom {
		p := fldPath.Index(i)
		if ef.Prefix != "" {
			for _, msg := range utilvalidation.IsRelaxedEnvVarName(ef.Prefix) {
				errs = append(errs, field.Invalid(p.Child("prefix"), ef.Prefix, msg))
			}
		}
		n := 0
		if ef.ConfigMapRef != nil {
			n++
			errs = append(errs, validateLocalRefName(ef.ConfigMapRef.Name, p.Child("configMapRef", "name"))...)
		}
		if ef.SecretRef != nil {
			n++
			errs = append(errs, validateLocalRefName(ef.SecretRef.Name, p.Child("secretRef", "name"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(p, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

// validateLocalRefName checks the name of a referenced ConfigMap or Secret.
func validateLocalRefName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return validateDNS1123Subdomain(name, fldPath)
}

// validateVolumeMounts checks volumeMounts and volumeDevices against the
// pod's volumes.
func validateVolumeMounts(mounts []corev1.VolumeMount, devices []corev1.VolumeDevice, volumes map[string]corev1.VolumeSource, sc *corev1.SecurityContext, ctrPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	fldPath := ctrPath.Child("volumeMounts")
	var paths duplicates[string]
	mounted := sets.New[string]()
	for i, m := range mounts {
		p := fldPath.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else if _, ok := volumes[m.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		mounted.Insert(m.Name)
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		} else if paths.add(path.Clean(m.MountPath)) {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, p.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalDescendingPath(m.SubPathExpr, p.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			errs = append(errs, validateEnum(*m.MountPropagation, true, supportedMountPropagations, p.Child("mountPropagation"))...)
			privileged := sc != nil && sc.Privileged != nil && *sc.Privileged
			if *m.MountPropagation == corev1.MountPropagationBidirectional && !privileged {
				errs = append(errs, field.Forbidden(p.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
			}
		}
		if m.RecursiveReadOnly != nil {
			rro := *m.RecursiveReadOnly
			errs = append(errs, validateEnum(rro, true, []corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyIfPossible, corev1.RecursiveReadOnlyEnabled}, p.Child("recursiveReadOnly"))...)
			if rro != corev1.RecursiveReadOnlyDisabled && !m.ReadOnly {
				errs = append(errs, field.Forbidden(p.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
			}
			if rro == corev1.RecursiveReadOnlyEnabled && m.MountPropagation != nil && *m.MountPropagation != corev1.MountPropagationNone {
				errs = append(errs, field.Forbidden(p.Child("recursiveReadOnly"), "may only be specified when mountPropagation is None or not specified"))
			}
		}
	}
	devPath := ctrPath.Child("volumeDevices")
	var devPaths duplicates[string]
	var devNames duplicates[string]
	for i, d := range devices {
		p := devPath.Index(i)
		if d.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			if _, ok := volumes[d.Name]; !ok {
				errs = append(errs, field.NotFound(p.Child("name"), d.Name))
			}
			if devNames.add(d.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), d.Name, "must be unique"))
			}
			if mounted.Has(d.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), d.Name, "can not be used in both volumeMounts and volumeDevices"))
			}
		}
		if d.DevicePath == "" {
			errs = append(errs, field.Required(p.Child("devicePath"), ""))
		} else {
			if devPaths.add(d.DevicePath) {
				errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must be unique"))
			}
			if paths.seen.Has(path.Clean(d.DevicePath)) {
				errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must not be already mounted by volumeMounts"))
			}
		}
	}
	return errs
}

// validateLocalDescendingPath checks a relative path that must stay below
// its base: not absolute, no ".." element.
func validateLocalDescendingPath(target string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(fldPath, target, "must be a relative path"))
	}
	for _, elem := range strings.Split(strings.ReplaceAll(target, `\`, "/"), "/") {
		if elem == ".." {
			errs = append(errs, field.Invalid(fldPath, target, "must not contain '..'"))
			break
		}
	}
	return errs
}

// validateResizePolicy checks a container's in-place resize policy.
func validateResizePolicy(policies []corev1.ContainerResizePolicy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	var seen duplicates[corev1.ResourceName]
	for i, rp := range policies {
		p := fldPath.Index(i)
		errs = append(errs, validateEnum(rp.ResourceName, true, supportedResizeResources, p.Child("resourceName"))...)
		if seen.add(rp.ResourceName) {
			errs = append(errs, field.Duplicate(p.Child("resourceName"), rp.ResourceName))
		}
		errs = append(errs, validateEnum(rp.RestartPolicy, true, supportedResizePolicies, p.Child("restartPolicy"))...)
	}
	return errs
}

// validateProbe checks a liveness, readiness or startup probe. Liveness
// and startup probes must succeed once to count (successThreshold 1);
// readiness probes may not shorten the termination grace period.
func validateProbe(probe *corev1.Probe, successMustBeOne bool, fldPath *field.Path) field.ErrorList {
	if probe == nil {
		return nil
	}
	errs := validateHandler(handlerOf(&probe.ProbeHandler), fldPath)
	errs = append(errs, validateNonnegative(int64(probe.InitialDelaySeconds), fldPath.Child("initialDelaySeconds"))...)
	errs = append(errs, validateNonnegative(int64(probe.TimeoutSeconds), fldPath.Child("timeoutSeconds"))...)
	errs = append(errs, validateNonnegative(int64(probe.PeriodSeconds), fldPath.Child("periodSeconds"))...)
	errs = append(errs, validateNonnegative(int64(probe.SuccessThreshold), fldPath.Child("successThreshold"))...)
	errs = append(errs, validateNonnegative(int64(probe.FailureThreshold), fldPath.Child("failureThreshold"))...)
	if successMustBeOne && probe.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(fldPath.Child("successThreshold"), probe.SuccessThreshold, "must be 1"))
	}
	if tgps := probe.TerminationGracePeriodSeconds; tgps != nil {
		if !successMustBeOne {
			errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *tgps, "must not be set for readinessProbes"))
		} else if *tgps <= 0 {
			errs = append(errs, field.Invalid(fldPath.Child("terminationGracePeriodSeconds"), *tgps, "must be greater than 0"))
		}
	}
	return errs
}

// handler is the union of a probe handler and a lifecycle handler.
type handler struct {
	exec      *corev1.ExecAction
	httpGet   *corev1.HTTPGetAction
	tcpSocket *corev1.TCPSocketAction
	grpc      *corev1.GRPCAction
	sleep     *corev1.SleepAction
}

func handlerOf(h *corev1.ProbeHandler) handler {
	return handler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, grpc: h.GRPC}
}

func lifecycleHandlerOf(h *corev1.LifecycleHandler) handler {
	return handler{exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, sleep: h.Sleep}
}

// validateHandler checks that exactly one handler is set and that it is
// well formed.
func validateHandler(h handler, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if h.exec != nil {
		n++
		if len(h.exec.Command) == 0 {
			errs = append(errs, field.Required(fldPath.Child("exec", "command"), ""))
		}
	}
	if h.httpGet != nil {
		n++
		errs = append(errs, validateHTTPGetAction(h.httpGet, fldPath.Child("httpGet"))...)
	}
	if h.tcpSocket != nil {
		n++
		errs = append(errs, validatePortNumOrName(h.tcpSocket.Port, fldPath.Child("tcpSocket", "port"))...)
		if h.tcpSocket.Host != "" {
			errs = append(errs, validateHostOrIP(h.tcpSocket.Host, fldPath.Child("tcpSocket", "host"))...)
		}
	}
	if h.grpc != nil {
		n++
		errs = append(errs, validatePortNumber(h.grpc.Port, fldPath.Child("grpc", "port"))...)
		if h.grpc.Mode != nil {
			errs = append(errs, validateEnum(*h.grpc.Mode, true, []corev1.GRPCProbeMode{corev1.GRPCProbeModePlaintext, corev1.GRPCProbeModeTLS}, fldPath.Child("grpc", "mode"))...)
		}
	}
	if h.sleep != nil {
		n++
		errs = append(errs, validateNonnegative(h.sleep.Seconds, fldPath.Child("sleep", "seconds"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(fldPath, "must specify a handler type"))
	case n > 1:
		errs = append(errs, field.Forbidden(fldPath, "may not specify more than 1 handler type"))
	}
	return errs
}

// validateHostOrIP checks the optional host of an HTTP or TCP action.
func validateHostOrIP(host string, fldPath *field.Path) field.ErrorList {
	if len(utilvalidation.IsDNS1123Subdomain(host)) == 0 {
		return nil
	}
	if len(validateIP(host, fldPath)) == 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, host, "must be a valid hostname or IP address")}
}

// validateHTTPGetAction checks an httpGet probe or hook.
func validateHTTPGetAction(a *corev1.HTTPGetAction, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if a.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	}
	errs = append(errs, validatePortNumOrName(a.Port, fldPath.Child("port"))...)
	errs = append(errs, validateEnum(a.Scheme, true, supportedURISchemes, fldPath.Child("scheme"))...)
	if a.Host != "" {
		errs = append(errs, validateHostOrIP(a.Host, fldPath.Child("host"))...)
	}
	for i, h := range a.HTTPHeaders {
		for _, msg := range utilvalidation.IsHTTPHeaderName(h.Name) {
			errs = append(errs, field.Invalid(fldPath.Child("httpHeaders").Index(i).Child("name"), h.Name, msg))
		}
	}
	return errs
}

// validateLifecycle checks postStart and preStop hooks.
func validateLifecycle(lc *corev1.Lifecycle, fldPath *field.Path) field.ErrorList {
	if lc == nil {
		return nil
	}
	var errs field.ErrorList
	if lc.PostStart != nil {
		errs = append(errs, validateHandler(lifecycleHandlerOf(lc.PostStart), fldPath.Child("postStart"))...)
	}
	if lc.PreStop != nil {
		errs = append(errs, validateHandler(lifecycleHandlerOf(lc.PreStop), fldPath.Child("preStop"))...)
	}
	if lc.StopSignal != nil && *lc.StopSignal == "" {
		errs = append(errs, field.Invalid(fldPath.Child("stopSignal"), "", "must be a signal name such as SIGTERM"))
	}
	return errs
}
