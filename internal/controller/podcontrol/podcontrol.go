// Package podcontrol is how workload controllers create, delete and patch
// pods: through the API, with the events Kubernetes' controllers record
// (SuccessfulCreate, FailedCreate, SuccessfulDelete, FailedDelete) on the
// owning object. Controllers take the small Interface so tests can count
// and fail calls; New returns the real one. Controllers under
// internal/controller import it.
package podcontrol

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// Event reasons recorded on the owner.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// Interface creates, deletes and patches pods on behalf of owner. Methods
// are safe for concurrent use and return the API error (wrapped) as is, so
// callers can test it with apierrors.
type Interface interface {
	// CreatePod creates pod (namespace and name or generateName set) and
	// returns the created object.
	CreatePod(ctx context.Context, pod *corev1.Pod, owner runtime.Object) (*corev1.Pod, error)
	// DeletePod deletes the pod namespace/name; uid, when not empty, is a
	// precondition (a namesake pod is left alone).
	DeletePod(ctx context.Context, namespace, name string, uid types.UID, owner runtime.Object) error
	// PatchPod applies a strategic merge patch to a pod.
	PatchPod(ctx context.Context, namespace, name string, patch []byte) error
}

// FromTemplate returns a new pod built from template for owner: labels,
// annotations, finalizers and spec copied, generateName "<prefix>", and ref
// (if not nil) as its only owner reference.
func FromTemplate(template *corev1.PodTemplateSpec, namespace, generateName string, ref *metav1.OwnerReference) *corev1.Pod {
	t := template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:    namespace,
			GenerateName: generateName,
			Labels:       t.Labels,
			Annotations:  t.Annotations,
			Finalizers:   t.Finalizers,
		},
		Spec: t.Spec,
	}
	if ref != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return pod
}

// Real is the Interface backed by the API server.
type Real struct {
	Client   kubernetes.Interface
	Recorder record.EventRecorder
}

var _ Interface = (*Real)(nil)

// New returns the real pod control.
func New(client kubernetes.Interface, recorder record.EventRecorder) *Real {
	return &Real{Client: client, Recorder: recorder}
}

// CreatePod implements Interface.CreatePod.
func (r *Real) CreatePod(ctx context.Context, pod *corev1.Pod, owner runtime.Object) (*corev1.Pod, error) {
	if len(pod.Labels) == 0 {
		return nil, fmt.Errorf("creating pod for %s: the template has no labels, the pod would be an orphan", describe(owner))
	}
	created, err := r.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		// A terminating namespace refuses new pods; that is expected, not
		// worth an event.
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			r.Recorder.Eventf(owner, corev1.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
		}
		return nil, fmt.Errorf("creating pod for %s: %w", describe(owner), err)
	}
	r.Recorder.Eventf(owner, corev1.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %v", created.Name)
	return created, nil
}

// DeletePod implements Interface.DeletePod.
func (r *Real) DeletePod(ctx context.Context, namespace, name string, uid types.UID, owner runtime.Object) error {
	opts := metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	if err := r.Client.CoreV1().Pods(namespace).Delete(ctx, name, opts); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting pod %s/%s: %w", namespace, name, err)
		}
		r.Recorder.Eventf(owner, corev1.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
		return fmt.Errorf("deleting pod %s/%s: %w", namespace, name, err)
	}
	r.Recorder.Eventf(owner, corev1.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %v", name)
	return nil
}

// PatchPod implements Interface.PatchPod.
func (r *Real) PatchPod(ctx context.Context, namespace, name string, patch []byte) error {
	if _, err := r.Client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patching pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

func describe(obj runtime.Object) string {
	if m, ok := obj.(metav1.Object); ok {
		return fmt.Sprintf("%s/%s", m.GetNamespace(), m.GetName())
	}
	return fmt.Sprintf("%T", obj)
}
