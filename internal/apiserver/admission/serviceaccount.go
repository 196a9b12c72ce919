package admission

import (
	"context"
	"math/rand/v2"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Service-account token volume, as Kubernetes' ServiceAccount admission
// adds it.
const (
	DefaultServiceAccount = "default"
	TokenMountPath        = "/var/run/secrets/kubernetes.io/serviceaccount"
	RootCAConfigMap       = "kube-root-ca.crt"
	tokenVolumePrefix     = "kube-api-access-"
	tokenExpiration       = 3607
)

// ServiceAccount is the service-account plugin: a pod without a service
// account gets "default", and, if that account exists and neither it nor
// the pod opts out of automounting, a projected volume with a bound
// token, the cluster CA and the namespace, mounted in every container.
// A pod naming an account that does not exist is let through, as the
// accounts themselves are created by a controller.
type ServiceAccount struct {
	Objects Objects
}

var _ Interface = (*ServiceAccount)(nil)

// Mutate implements Interface.Mutate.
func (p *ServiceAccount) Mutate(ctx context.Context, a *Attributes) error {
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || a.Operation != Create || a.Subresource != "" {
		return nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccount
	}
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	obj, err := p.Objects.Get(ctx, schema.GroupResource{Resource: "serviceaccounts"}, a.Namespace, pod.Spec.ServiceAccountName)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	sa := obj.(*corev1.ServiceAccount)
	if pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken {
		return nil
	}
	if pod.Spec.AutomountServiceAccountToken == nil && sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
		return nil
	}
	name := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, tokenVolumePrefix) {
			name = v.Name
		}
	}
	if name == "" {
		name = tokenVolumePrefix + randSuffix()
		pod.Spec.Volumes = append(pod.Spec.Volumes, tokenVolume(name))
	}
	mount := func(cs []corev1.Container) {
		for i := range cs {
			has := false
			for _, m := range cs[i].VolumeMounts {
				has = has || m.MountPath == TokenMountPath
			}
			if !has {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: TokenMountPath})
			}
		}
	}
	mount(pod.Spec.InitContainers)
	mount(pod.Spec.Containers)
	return nil
}

// Validate implements Interface.Validate.
func (*ServiceAccount) Validate(context.Context, *Attributes) error { return nil }

func randSuffix() string {
	const chars = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}

func tokenVolume(name string) corev1.Volume {
	exp := int64(tokenExpiration)
	mode := int32(0o644)
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &exp, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}
