package volume

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// keyed is a configMap's or secret's content.
type keyed map[string][]byte

// itemsPayload picks items (all keys when there are none) from data.
// kind names the object in errors ("configmap", "secret").
func itemsPayload(kind string, data keyed, items []corev1.KeyToPath, defaultMode *int32, optional bool) (map[string]File, error) {
	out := map[string]File{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = File{Data: v, Mode: mode(nil, defaultMode)}
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s references non-existent config key: %s", kind, it.Key)
		}
		out[it.Path] = File{Data: v, Mode: mode(it.Mode, defaultMode)}
	}
	return out, nil
}

// configMapData reads a configMap; ok is false when it does not exist.
func (m *Manager) configMapData(ctx context.Context, ns, name string) (keyed, bool, error) {
	cm, err := m.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("getting configmap %q: %w", name, err)
	}
	d := keyed{}
	for k, v := range cm.Data {
		d[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		d[k] = v
	}
	return d, true, nil
}

// secretData reads a secret; ok is false when it does not exist.
func (m *Manager) secretData(ctx context.Context, ns, name string) (keyed, bool, error) {
	s, err := m.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("getting secret %q: %w", name, err)
	}
	d := keyed{}
	for k, v := range s.Data {
		d[k] = v
	}
	for k, v := range s.StringData {
		d[k] = []byte(v)
	}
	return d, true, nil
}

func (m *Manager) configMapPayload(ctx context.Context, ns string, ref corev1.LocalObjectReference, items []corev1.KeyToPath, optionalP *bool, dm *int32) (map[string]File, error) {
	optional := optionalP != nil && *optionalP
	data, ok, err := m.configMapData(ctx, ns, ref.Name)
	if err != nil {
		return nil, err
	}
	if !ok {
		if optional {
			return map[string]File{}, nil
		}
		return nil, fmt.Errorf("configmap %q not found", ref.Name)
	}
	return itemsPayload("configmap", data, items, dm, optional)
}

func (m *Manager) secretPayload(ctx context.Context, ns, name string, items []corev1.KeyToPath, optionalP *bool, dm *int32) (map[string]File, error) {
	optional := optionalP != nil && *optionalP
	data, ok, err := m.secretData(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		if optional {
			return map[string]File{}, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	return itemsPayload("secret", data, items, dm, optional)
}

func (m *Manager) setupConfigMap(ctx context.Context, pod *corev1.Pod, name string, src *corev1.ConfigMapVolumeSource, gid int64) (Mounted, error) {
	payload, err := m.configMapPayload(ctx, pod.Namespace, src.LocalObjectReference, src.Items, src.Optional, src.DefaultMode)
	if err != nil {
		return Mounted{}, err
	}
	dir := m.volDir(pod.UID, kindConfigMap, name)
	if _, err := WriteAtomic(dir, payload, gid); err != nil {
		return Mounted{}, err
	}
	return Mounted{HostPath: dir, ReadOnly: true}, nil
}

// tmpfsDir makes dir a tmpfs (secret data never touches the disk).
func tmpfsDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating volume dir: %w", err)
	}
	if isMountpoint(dir) {
		return nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting tmpfs for secret volume: %w", err)
	}
	return nil
}

func (m *Manager) setupSecret(ctx context.Context, pod *corev1.Pod, name string, src *corev1.SecretVolumeSource, gid int64) (Mounted, error) {
	payload, err := m.secretPayload(ctx, pod.Namespace, src.SecretName, src.Items, src.Optional, src.DefaultMode)
	if err != nil {
		return Mounted{}, err
	}
	dir := m.volDir(pod.UID, kindSecret, name)
	if err := tmpfsDir(dir); err != nil {
		return Mounted{}, err
	}
	if _, err := WriteAtomic(dir, payload, gid); err != nil {
		return Mounted{}, err
	}
	return Mounted{HostPath: dir, ReadOnly: true}, nil
}
