package volume

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// tokenKey identifies a service-account token requested for a pod.
type tokenKey struct {
	pod      types.UID
	account  string
	audience string
	seconds  int64
}

// token is a cached service-account token.
type token struct {
	value           string
	issued, expires time.Time
}

// tokenMaxAge: a token is refreshed after a day even if it lives longer,
// as Kubernetes does.
const tokenMaxAge = 24 * time.Hour

// stale reports whether t needs a refresh at now: past 80% of its
// lifetime or a day old.
func (t token) stale(now time.Time) bool {
	if t.value == "" {
		return true
	}
	life := t.expires.Sub(t.issued)
	return !now.Before(t.issued.Add(life*8/10)) || now.Sub(t.issued) > tokenMaxAge
}

// serviceAccountToken returns a token for pod's service account bound to
// the pod, from the cache or the TokenRequest API.
func (m *Manager) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	secs := int64(3600)
	if p.ExpirationSeconds != nil {
		secs = *p.ExpirationSeconds
	}
	k := tokenKey{pod: pod.UID, account: sa, audience: p.Audience, seconds: secs}
	now := m.now()
	m.mu.Lock()
	t, ok := m.tokens[k]
	m.mu.Unlock()
	if ok && !t.stale(now) {
		return t.value, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &secs,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	out, err := m.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		if ok && now.Before(t.expires) {
			// Keep serving the old, still valid token; retry later.
			m.log.Warn("refreshing service-account token", "pod", pod.Name, "namespace", pod.Namespace, "err", err)
			return t.value, nil
		}
		return "", fmt.Errorf("requesting a token for service account %q: %w", sa, err)
	}
	t = token{value: out.Status.Token, issued: now, expires: out.Status.ExpirationTimestamp.Time}
	if t.expires.IsZero() || !t.expires.After(now) {
		t.expires = now.Add(time.Duration(secs) * time.Second)
	}
	m.mu.Lock()
	m.tokens[k] = t
	m.mu.Unlock()
	return t.value, nil
}

// NextTokenRefresh returns when the soonest cached token of pod uid
// becomes stale (zero if it has none): the kubelet re-syncs the pod then.
func (m *Manager) NextTokenRefresh(uid types.UID) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for k, t := range m.tokens {
		if k.pod != uid {
			continue
		}
		at := t.issued.Add(t.expires.Sub(t.issued) * 8 / 10)
		if day := t.issued.Add(tokenMaxAge); day.Before(at) {
			at = day
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

func (m *Manager) setupProjected(ctx context.Context, pod *corev1.Pod, name string, src *corev1.ProjectedVolumeSource, gid int64) (Mounted, error) {
	payload := map[string]File{}
	merge := func(p map[string]File) {
		for k, v := range p {
			payload[k] = v
		}
	}
	for i, s := range src.Sources {
		switch {
		case s.ServiceAccountToken != nil:
			tok, err := m.serviceAccountToken(ctx, pod, s.ServiceAccountToken)
			if err != nil {
				return Mounted{}, err
			}
			payload[s.ServiceAccountToken.Path] = File{Data: []byte(tok), Mode: mode(nil, src.DefaultMode)}
		case s.ConfigMap != nil:
			p, err := m.configMapPayload(ctx, pod.Namespace, s.ConfigMap.LocalObjectReference, s.ConfigMap.Items, s.ConfigMap.Optional, src.DefaultMode)
			if err != nil {
				return Mounted{}, err
			}
			merge(p)
		case s.Secret != nil:
			p, err := m.secretPayload(ctx, pod.Namespace, s.Secret.Name, s.Secret.Items, s.Secret.Optional, src.DefaultMode)
			if err != nil {
				return Mounted{}, err
			}
			merge(p)
		case s.DownwardAPI != nil:
			p, err := downwardPayload(pod, s.DownwardAPI.Items, src.DefaultMode, m.alloc())
			if err != nil {
				return Mounted{}, err
			}
			merge(p)
		default:
			return Mounted{}, fmt.Errorf("projected source %d: this kind of source is not supported on this node", i)
		}
	}
	dir := m.volDir(pod.UID, kindProjected, name)
	if err := tmpfsDir(dir); err != nil {
		return Mounted{}, err
	}
	if _, err := WriteAtomic(dir, payload, gid); err != nil {
		return Mounted{}, err
	}
	return Mounted{HostPath: dir, ReadOnly: true}, nil
}
