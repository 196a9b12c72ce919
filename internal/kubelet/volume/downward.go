package volume

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// FieldRef returns the value of a downward API field of pod's metadata
// (metadata.name, namespace, uid, labels, annotations, and single
// labels['k'] / annotations['k']). Fields of spec and status that only
// environment variables may use are the caller's.
func FieldRef(pod *corev1.Pod, fieldPath string) (string, error) {
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	if k, ok := subscript(fieldPath, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(fieldPath, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", fieldPath)
}

// subscript parses "<prefix>['key']".
func subscript(fp, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(fp, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap renders labels or annotations as the downward API does:
// key="value" lines sorted by key, values quoted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
	}
	return b.String()
}

// ResourceFieldRef returns a container's resource request or limit
// (limits.cpu, requests.memory, ...) divided by the divisor and rounded
// up. A limit the container does not set is the node's allocatable
// amount, as in Kubernetes. containerName "" is defaultContainer.
func ResourceFieldRef(pod *corev1.Pod, defaultContainer string, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	name := ref.ContainerName
	if name == "" {
		name = defaultContainer
	}
	var c *corev1.Container
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			c = &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			c = &pod.Spec.InitContainers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("container %q not found for resourceFieldRef %q", name, ref.Resource)
	}
	kind, res, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	rn := corev1.ResourceName(res)
	var q resource.Quantity
	var have bool
	if kind == "limits" {
		q, have = c.Resources.Limits[rn]
		if !have {
			q, have = allocatable[rn]
		}
	} else {
		q, have = c.Resources.Requests[rn]
		if !have && rn != corev1.ResourceCPU && rn != corev1.ResourceMemory && rn != corev1.ResourceEphemeralStorage {
			return "", fmt.Errorf("unsupported resource %q", ref.Resource)
		}
	}
	div := ref.Divisor
	if div.IsZero() {
		div = resource.MustParse("1")
	}
	return convert(q, div, rn), nil
}

// convert divides q by div, rounding up: cpu in millicores, the rest in
// units. Example: 250m cpu with divisor 1 → "1"; with 1m → "250"; 64Mi
// memory with divisor 1Mi → "64".
func convert(q, div resource.Quantity, rn corev1.ResourceName) string {
	if rn == corev1.ResourceCPU {
		v := math.Ceil(float64(q.MilliValue()) / float64(div.MilliValue()))
		return strconv.FormatInt(int64(v), 10)
	}
	v := math.Ceil(float64(q.Value()) / float64(div.Value()))
	return strconv.FormatInt(int64(v), 10)
}

// downwardPayload builds the files of a downwardAPI volume or projection.
func downwardPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32, allocatable corev1.ResourceList) (map[string]File, error) {
	out := map[string]File{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = FieldRef(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = ResourceFieldRef(pod, "", it.ResourceFieldRef, allocatable)
		default:
			err = fmt.Errorf("item %q has neither fieldRef nor resourceFieldRef", it.Path)
		}
		if err != nil {
			return nil, err
		}
		out[it.Path] = File{Data: []byte(v), Mode: mode(it.Mode, defaultMode)}
	}
	return out, nil
}

// mode picks an item's mode or the volume default (0644 when unset).
func mode(item, def *int32) os.FileMode {
	if item != nil {
		return os.FileMode(*item)
	}
	if def == nil {
		return 0o644
	}
	return os.FileMode(*def)
}
