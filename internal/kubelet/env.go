package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/podvisor/podvisor/internal/kubelet/volume"
)

// expand replaces $(VAR) references in s with mapping's values, as
// Kubernetes does for env values, command and args: "$$" is a literal
// "$", an unknown or unterminated reference is kept as written.
func expand(s string, mapping func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := mapping(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// mergeCommand returns the process's argv from the container spec and
// the image, as Kubernetes does: command replaces the image's
// Entrypoint (and then the image's Cmd is ignored), args replace its
// Cmd; $(VAR) references are expanded.
func mergeCommand(command, args, entrypoint, cmd []string, mapping func(string) (string, bool)) []string {
	var out []string
	switch {
	case len(command) > 0:
		out = append(out, command...)
		out = append(out, args...)
	case len(args) > 0:
		out = append(out, entrypoint...)
		out = append(out, args...)
		// Only the spec's parts are expanded.
		for i := len(entrypoint); i < len(out); i++ {
			out[i] = expand(out[i], mapping)
		}
		return out
	default:
		out = append(out, entrypoint...)
		out = append(out, cmd...)
		return out
	}
	for i := range out {
		out[i] = expand(out[i], mapping)
	}
	return out
}

// serviceEnv returns the docker-link style variables of services: for a
// service "my-svc" with cluster IP 10.0.0.5 and port 80/TCP:
// MY_SVC_SERVICE_HOST=10.0.0.5, MY_SVC_SERVICE_PORT=80,
// MY_SVC_PORT=tcp://10.0.0.5:80, MY_SVC_PORT_80_TCP=tcp://10.0.0.5:80,
// MY_SVC_PORT_80_TCP_PROTO=tcp, _PORT=80, _ADDR=10.0.0.5, and
// MY_SVC_SERVICE_PORT_<NAME> for named ports. Headless services and
// services without a cluster IP give none.
func serviceEnv(svcs []*corev1.Service) []corev1.EnvVar {
	sorted := append([]*corev1.Service(nil), svcs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var out []corev1.EnvVar
	add := func(k, v string) { out = append(out, corev1.EnvVar{Name: k, Value: v}) }
	for _, s := range sorted {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		base := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		host := ip
		if strings.Contains(ip, ":") {
			host = "[" + ip + "]"
		}
		first := s.Spec.Ports[0]
		add(base+"_SERVICE_HOST", ip)
		add(base+"_SERVICE_PORT", strconv.Itoa(int(first.Port)))
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				add(base+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), strconv.Itoa(int(p.Port)))
			}
		}
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		add(base+"_PORT", fmt.Sprintf("%s://%s:%d", proto, host, first.Port))
		for _, p := range s.Spec.Ports {
			pr := strings.ToLower(string(p.Protocol))
			if pr == "" {
				pr = "tcp"
			}
			pfx := fmt.Sprintf("%s_PORT_%d_%s", base, p.Port, strings.ToUpper(pr))
			add(pfx, fmt.Sprintf("%s://%s:%d", pr, host, p.Port))
			add(pfx+"_PROTO", pr)
			add(pfx+"_PORT", strconv.Itoa(int(p.Port)))
			add(pfx+"_ADDR", ip)
		}
	}
	return out
}

// servicesFor returns the services whose variables a pod gets: those of
// its namespace when enableServiceLinks (default true), and always the
// API server's "kubernetes" service of the default namespace.
func (k *Kubelet) servicesFor(pod *corev1.Pod) []*corev1.Service {
	if k.services == nil {
		return nil
	}
	var out []*corev1.Service
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	if links {
		ss, _ := k.services.Services(pod.Namespace).List(labels.Everything())
		out = append(out, ss...)
	}
	if pod.Namespace != metav1.NamespaceDefault || !links {
		if s, err := k.services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
			dup := false
			for _, o := range out {
				dup = dup || o.Name == s.Name
			}
			if !dup {
				out = append(out, s)
			}
		}
	}
	return out
}

// envSources caches the configMaps and secrets one container's
// environment reads.
type envSources struct {
	k       *Kubelet
	ns      string
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func (e *envSources) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if cm, ok := e.cms[name]; ok {
		return cm, nil
	}
	cm, err := e.k.client.CoreV1().ConfigMaps(e.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting configmap %q: %w", name, err)
	}
	e.cms[name] = cm
	return cm, nil
}

func (e *envSources) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if s, ok := e.secrets[name]; ok {
		return s, nil
	}
	s, err := e.k.client.CoreV1().Secrets(e.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting secret %q: %w", name, err)
	}
	e.secrets[name] = s
	return s, nil
}

// envInput is the pod-level data the environment reads.
type envInput struct {
	pod             *corev1.Pod
	podIPs, hostIPs []string
	services        []*corev1.Service
	allocatable     corev1.ResourceList
}

// makeEnv builds container c's environment: envFrom sources, then env
// entries (expanded with what precedes them and the service variables),
// then the service variables not already defined. Errors are
// configuration errors (CreateContainerConfigError): a missing configMap
// or secret or key that is not optional, an unsupported field.
func (k *Kubelet) makeEnv(ctx context.Context, in envInput, c *corev1.Container) ([]corev1.EnvVar, error) {
	pod := in.pod
	src := &envSources{k: k, ns: pod.Namespace, cms: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	var out []corev1.EnvVar
	vals := map[string]string{}
	set := func(n, v string) {
		if _, ok := vals[n]; ok {
			for i := range out {
				if out[i].Name == n {
					out[i].Value = v
				}
			}
		} else {
			out = append(out, corev1.EnvVar{Name: n, Value: v})
		}
		vals[n] = v
	}
	svcEnv := serviceEnv(in.services)
	svcVals := map[string]string{}
	for _, e := range svcEnv {
		svcVals[e.Name] = e.Value
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := src.configMap(ctx, ef.ConfigMapRef.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ef.ConfigMapRef.Name)
			}
			keys := make([]string, 0, len(cm.Data))
			for key := range cm.Data {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			for _, key := range keys {
				if !strings.Contains(key, "=") {
					set(ef.Prefix+key, cm.Data[key])
				}
			}
		case ef.SecretRef != nil:
			s, err := src.secret(ctx, ef.SecretRef.Name)
			if err != nil {
				return nil, err
			}
			if s == nil {
				if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ef.SecretRef.Name)
			}
			keys := make([]string, 0, len(s.Data))
			for key := range s.Data {
				keys = append(keys, key)
			}
			sort.Strings(keys)
			for _, key := range keys {
				if !strings.Contains(key, "=") {
					set(ef.Prefix+key, string(s.Data[key]))
				}
			}
		}
	}
	mapping := func(n string) (string, bool) {
		if v, ok := vals[n]; ok {
			return v, true
		}
		v, ok := svcVals[n]
		return v, ok
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, mapping))
			continue
		}
		vf := e.ValueFrom
		switch {
		case vf.FieldRef != nil:
			v, err := podField(in, vf.FieldRef.FieldPath)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			set(e.Name, v)
		case vf.ResourceFieldRef != nil:
			v, err := volume.ResourceFieldRef(pod, c.Name, vf.ResourceFieldRef, in.allocatable)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			set(e.Name, v)
		case vf.ConfigMapKeyRef != nil:
			ref := vf.ConfigMapKeyRef
			optional := ref.Optional != nil && *ref.Optional
			cm, err := src.configMap(ctx, ref.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", ref.Name)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			set(e.Name, v)
		case vf.SecretKeyRef != nil:
			ref := vf.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			s, err := src.secret(ctx, ref.Name)
			if err != nil {
				return nil, err
			}
			if s == nil {
				if optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", ref.Name)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
			}
			set(e.Name, string(v))
		default:
			return nil, fmt.Errorf("env %s: unsupported valueFrom", e.Name)
		}
	}
	for _, e := range svcEnv {
		if _, ok := vals[e.Name]; !ok {
			set(e.Name, e.Value)
		}
	}
	return out, nil
}

// podField resolves an env fieldRef.
func podField(in envInput, fp string) (string, error) {
	pod := in.pod
	first := func(ss []string) string {
		if len(ss) == 0 {
			return ""
		}
		return ss[0]
	}
	switch fp {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return first(in.hostIPs), nil
	case "status.hostIPs":
		return strings.Join(in.hostIPs, ","), nil
	case "status.podIP":
		return first(in.podIPs), nil
	case "status.podIPs":
		return strings.Join(in.podIPs, ","), nil
	case "metadata.labels", "metadata.annotations":
		return "", fmt.Errorf("fieldPath %q is only supported in downwardAPI volumes", fp)
	}
	return volume.FieldRef(pod, fp)
}

// envStrings renders env as KEY=VALUE.
func envStrings(env []corev1.EnvVar) []string {
	out := make([]string, len(env))
	for i, e := range env {
		out[i] = e.Name + "=" + e.Value
	}
	return out
}
