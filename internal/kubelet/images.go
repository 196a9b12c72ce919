package kubelet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/status"
)

// errWaiting marks an error already reported as a container's waiting
// reason (and Event).
var errWaiting = errors.New("container is waiting")

// pullPolicy is the container's policy, defaulted as the API server does
// when it is unset (static pods are defaulted too; this is a fallback).
func pullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	ref := c.Image
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	if strings.Contains(ref, "@") {
		return corev1.PullIfNotPresent
	}
	if _, tag, ok := strings.Cut(ref, ":"); !ok || tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// registryAnswered reports whether a pull error came from the registry
// (an HTTP answer: missing image, denied) rather than from not reaching
// it.
func registryAnswered(err error) bool {
	var te *transport.Error
	return errors.As(err, &te)
}

// pullSecrets reads the pod's imagePullSecrets (a missing one is an
// Event, not an error, as in Kubernetes).
func (k *Kubelet) pullSecrets(ctx context.Context, pod *corev1.Pod) [][]byte {
	var out [][]byte
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := k.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			k.event(pod, corev1.EventTypeWarning, "FailedToRetrieveImagePullSecret", "Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", ref.Name)
			continue
		}
		switch {
		case len(s.Data[corev1.DockerConfigJsonKey]) > 0:
			out = append(out, s.Data[corev1.DockerConfigJsonKey])
		case len(s.Data[corev1.DockerConfigKey]) > 0:
			out = append(out, s.Data[corev1.DockerConfigKey])
		}
	}
	return out
}

// ensureImage makes c's image present per its pull policy, with
// back-off after failures. Failures set the container's waiting reason
// (ErrImagePull, ImagePullBackOff, ErrImageNeverPull, InvalidImageName)
// and Events, and return errWaiting.
//
// Decision: with policy Always, a registry that cannot be reached (no
// HTTP answer at all) falls back to an image already on the node, with a
// Pulled event saying so: nodes without internet access (and `make run`
// with the preloaded busybox) still start `kubectl run --image=busybox`.
// A registry that answers (missing image, denied) is an error as in
// Kubernetes.
func (k *Kubelet) ensureImage(ctx context.Context, r *podRecord, pod *corev1.Pod, c *corev1.Container) (image.Image, error) {
	w := &r.w
	ref := c.Image
	wait := func(reason, msg string) (image.Image, error) {
		w.waiting[c.Name] = status.Waiting{Reason: reason, Message: msg}
		return image.Image{}, errWaiting
	}
	if _, err := image.NormalizeRef(ref); err != nil || ref == "" {
		msg := fmt.Sprintf("Failed to apply default image tag %q: couldn't parse image name %q: %v", ref, ref, err)
		k.event(pod, corev1.EventTypeWarning, "InspectFailed", "%s", msg)
		return wait(status.ReasonInvalidImageName, msg)
	}
	policy := pullPolicy(c)
	present, perr := k.images.Get(ref)
	have := perr == nil
	switch policy {
	case corev1.PullNever:
		if have {
			return present, nil
		}
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", ref)
		k.event(pod, corev1.EventTypeWarning, status.ReasonErrImageNeverPull, "%s", msg)
		return wait(status.ReasonErrImageNeverPull, msg)
	case corev1.PullIfNotPresent:
		if have {
			k.event(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", ref)
			return present, nil
		}
	}
	now := k.now()
	if d := w.pulls.remaining(ref, w.pulls.lastAt(ref), now); d > 0 {
		msg := fmt.Sprintf("Back-off pulling image %q: %s", ref, w.lastPullErr[ref])
		if cur, ok := w.waiting[c.Name]; !ok || cur.Reason != status.ReasonImagePullBackOff {
			k.event(pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", ref)
		}
		return wait(status.ReasonImagePullBackOff, msg)
	}
	secrets := k.pullSecrets(ctx, pod)
	k.event(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", ref)
	im, err := k.images.Pull(ctx, ref, image.PullOptions{DockerConfigs: secrets})
	if err != nil {
		if have && policy == corev1.PullAlways && !registryAnswered(err) && ctx.Err() == nil {
			k.event(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine (its registry could not be reached: %v)", ref, err)
			return present, nil
		}
		msg := fmt.Sprintf("failed to pull and unpack image %q: %v", ref, err)
		if image.IsUnauthorized(err) {
			msg = fmt.Sprintf("failed to pull image %q: pull access denied, repository does not exist or may require authorization: %v", ref, err)
		}
		w.pulls.next(ref, k.now())
		w.lastPullErr[ref] = msg
		k.event(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", ref, err)
		k.event(pod, corev1.EventTypeWarning, "Failed", "Error: %s", status.ReasonErrImagePull)
		return wait(status.ReasonErrImagePull, msg)
	}
	w.pulls.reset(ref)
	delete(w.lastPullErr, ref)
	k.event(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s. Image size: %d bytes.", ref, k.now().Sub(now).Round(time.Millisecond), im.Size)
	return im, nil
}

// imageID is the status's imageID of an image: its repo digest when it
// has one, else its config digest.
func imageID(im image.Image) string {
	if len(im.RepoDigests) > 0 {
		return im.RepoDigests[0]
	}
	return im.ID
}
