package kubelet

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/podvisor/podvisor/internal/defaults"
	"github.com/podvisor/podvisor/internal/validation"
)

// Annotations Kubernetes puts on pods from static sources.
const (
	annConfigSource = "kubernetes.io/config.source"
	annConfigHash   = "kubernetes.io/config.hash"
	annConfigSeen   = "kubernetes.io/config.seen"
	annConfigMirror = corev1.MirrorPodAnnotationKey
)

// isMirror reports whether an API pod is a mirror of a static pod.
func isMirror(p *corev1.Pod) bool {
	_, ok := p.Annotations[annConfigMirror]
	return ok
}

// isStatic reports whether a pod came from a static source.
func isStatic(p *corev1.Pod) bool {
	s := p.Annotations[annConfigSource]
	return s == SourceFile || s == SourceHTTP
}

func fullName(ns, name string) string { return ns + "/" + name }

// apiPodChanged takes an informer event about a pod bound to this node.
func (k *Kubelet) apiPodChanged(p *corev1.Pod, deleted bool) {
	if isMirror(p) {
		k.mu.Lock()
		key := fullName(p.Namespace, p.Name)
		if deleted {
			if m := k.mirrors[key]; m != nil && m.UID == p.UID {
				delete(k.mirrors, key)
			}
		} else {
			k.mirrors[key] = p
		}
		// Wake the static pod's worker: it keeps its mirror in sync.
		var static types.UID
		for _, pods := range k.static {
			for uid, sp := range pods {
				if sp.Namespace == p.Namespace && sp.Name == p.Name {
					static = uid
				}
			}
		}
		r := k.pods[static]
		k.mu.Unlock()
		if r != nil {
			if !deleted {
				k.statuses.SetTarget(static, p)
			}
			r.poke()
		}
		return
	}
	k.mu.Lock()
	if deleted {
		delete(k.apiPods, p.UID)
		if r := k.pods[p.UID]; r != nil {
			r.mu.Lock()
			r.final = p
			r.mu.Unlock()
		}
	} else {
		k.apiPods[p.UID] = p
	}
	k.mu.Unlock()
	if !deleted {
		k.statuses.SetTarget(p.UID, p)
	}
	k.dispatch(p.UID)
}

// setStatic replaces the pods of a static source.
func (k *Kubelet) setStatic(source string, pods []*corev1.Pod) {
	set := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		set[p.UID] = p
	}
	k.mu.Lock()
	old := k.static[source]
	k.static[source] = set
	k.sourcesReady[source] = true
	k.mu.Unlock()
	for uid := range old {
		if _, ok := set[uid]; !ok {
			k.dispatch(uid)
		}
	}
	for uid, p := range set {
		if o, ok := old[uid]; !ok || o.ResourceVersion != p.ResourceVersion || !sameSpec(o, p) {
			k.dispatch(uid)
		}
	}
}

func sameSpec(a, b *corev1.Pod) bool {
	return a.Annotations[annConfigHash] == b.Annotations[annConfigHash]
}

// desiredLocked returns the pod uid as its source wants it, and the
// source's name.
//
// +checklocks:k.mu
func (k *Kubelet) desiredLocked(uid types.UID) (*corev1.Pod, string) {
	if p, ok := k.apiPods[uid]; ok {
		return p, SourceAPI
	}
	for src, pods := range k.static {
		if p, ok := pods[uid]; ok {
			return p, src
		}
	}
	return nil, ""
}

// dispatch hands pod uid's current desired state to its worker, starting
// one if needed.
func (k *Kubelet) dispatch(uid types.UID) {
	k.mu.Lock()
	pod, src := k.desiredLocked(uid)
	r := k.pods[uid]
	if r == nil {
		if pod == nil || !k.started {
			k.mu.Unlock()
			return
		}
		r = newRecord(uid, k.cfg.BackOffBase, k.cfg.BackOffMax)
		k.pods[uid] = r
		k.step(uid, "seen")
		k.startWorker(r)
	}
	var mirror *corev1.Pod
	if pod != nil && isStatic(pod) {
		mirror = k.mirrors[fullName(pod.Namespace, pod.Name)]
	}
	k.mu.Unlock()
	r.mu.Lock()
	if pod != nil {
		r.pod, r.source = pod, src
		if src == SourceAPI {
			r.target = pod
		} else {
			r.target = mirror
		}
	} else {
		r.pod = nil
	}
	r.mu.Unlock()
	r.poke()
}

// ---- static pods ----

// staticPod turns a manifest pod into the pod the kubelet runs: defaults
// applied, namespace "default" if unset, name suffixed with the node
// name, bound to this node, and a UID derived from its content (so the
// same manifest is the same pod across agent restarts).
func (k *Kubelet) staticPod(p *corev1.Pod, source, origin string) (*corev1.Pod, error) {
	if p.Kind != "" && p.Kind != "Pod" {
		return nil, fmt.Errorf("%s: kind %q is not Pod", origin, p.Kind)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("%s: the pod has no name", origin)
	}
	p = p.DeepCopy()
	if p.Namespace == "" {
		p.Namespace = corev1.NamespaceDefault
	}
	p.Name = p.Name + "-" + k.cfg.NodeName
	p.Spec.NodeName = k.cfg.NodeName
	defaults.Pod(p)
	h := md5.New()
	h.Write([]byte(k.cfg.NodeName))
	b, _ := json.Marshal(p)
	h.Write(b)
	h.Write([]byte(origin))
	sum := hex.EncodeToString(h.Sum(nil))
	if p.UID == "" {
		p.UID = types.UID(sum)
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[annConfigHash] = sum
	p.Annotations[annConfigSource] = source
	p.Annotations[annConfigSeen] = k.now().UTC().Format(time.RFC3339Nano)
	p.ResourceVersion = ""
	// Static pods tolerate every NoExecute taint, as in Kubernetes: the
	// node lifecycle controller must not evict what the node itself runs.
	p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	if errs := validation.ValidatePod(p); len(errs) > 0 {
		return nil, fmt.Errorf("%s: invalid pod: %v", origin, errs.ToAggregate())
	}
	return p, nil
}

// decodeManifests decodes YAML or JSON holding a Pod, a PodList or a
// List of pods (several YAML documents allowed).
func decodeManifests(data []byte) ([]*corev1.Pod, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*corev1.Pod
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("decoding manifest: %w", err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("decoding manifest: %w", err)
		}
		switch meta.Kind {
		case "Pod", "":
			var p corev1.Pod
			if err := strictUnmarshal(raw, &p); err != nil {
				return nil, fmt.Errorf("decoding pod: %w", err)
			}
			out = append(out, &p)
		case "PodList", "List":
			var l corev1.PodList
			if err := strictUnmarshal(raw, &l); err != nil {
				return nil, fmt.Errorf("decoding pod list: %w", err)
			}
			for i := range l.Items {
				out = append(out, &l.Items[i])
			}
		default:
			return nil, fmt.Errorf("manifest kind %q is not a Pod or PodList", meta.Kind)
		}
	}
	return out, nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// readManifestDir reads the static pods of dir: every regular file not
// starting with a dot, each holding a pod (or a list). A bad file is
// reported and skipped; the others still count.
func (k *Kubelet) readManifestDir(dir string) ([]*corev1.Pod, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest dir: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var out []*corev1.Pod
	for _, n := range names {
		p := filepath.Join(dir, n)
		b, err := os.ReadFile(p)
		if err != nil {
			k.log.Warn("reading static pod manifest", "file", p, "err", err)
			continue
		}
		pods, err := decodeManifests(b)
		if err != nil {
			k.log.Warn("static pod manifest", "file", p, "err", err)
			continue
		}
		for _, pod := range pods {
			sp, err := k.staticPod(pod, SourceFile, p)
			if err != nil {
				k.log.Warn("static pod manifest", "file", p, "err", err)
				continue
			}
			out = append(out, sp)
		}
	}
	return out, nil
}

// runFileSource watches the manifest directory (inotify, and a re-read
// every ManifestCheckPeriod) until ctx ends.
func (k *Kubelet) runFileSource(ctx context.Context) {
	dir := k.cfg.PodManifestPath
	events := make(chan struct{}, 1)
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err == nil {
		os.MkdirAll(dir, 0o755)
		if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_DELETE|unix.IN_MODIFY|unix.IN_MOVED_FROM|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_ATTRIB); err != nil {
			k.log.Warn("watching manifest dir", "dir", dir, "err", err)
		}
		f := os.NewFile(uintptr(fd), "inotify")
		defer f.Close()
		k.go_(func() {
			buf := make([]byte, 4096)
			for {
				// Reads block in the poller; closing f ends them.
				if _, err := f.Read(buf); err != nil {
					return
				}
				select {
				case events <- struct{}{}:
				default:
				}
			}
		})
	}
	tick := time.NewTicker(k.cfg.ManifestCheckPeriod)
	defer tick.Stop()
	for {
		pods, err := k.readManifestDir(dir)
		if err != nil {
			k.log.Warn("static pods", "dir", dir, "err", err)
		} else {
			k.setStatic(SourceFile, pods)
		}
		select {
		case <-ctx.Done():
			return
		case <-events:
			// Let a burst of writes settle.
			time.Sleep(100 * time.Millisecond)
		case <-tick.C:
		}
	}
}

// runHTTPSource polls the manifest URL until ctx ends. A failed fetch
// keeps the previous pods.
func (k *Kubelet) runHTTPSource(ctx context.Context) {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(k.cfg.ManifestCheckPeriod)
	defer tick.Stop()
	var lastErr string
	for {
		pods, err := k.fetchManifests(ctx, client)
		if err != nil {
			if err.Error() != lastErr {
				k.log.Warn("static pods from URL", "url", k.cfg.ManifestURL, "err", err)
			}
			lastErr = err.Error()
		} else {
			lastErr = ""
			k.setStatic(SourceHTTP, pods)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (k *Kubelet) fetchManifests(ctx context.Context, client *http.Client) ([]*corev1.Pod, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.cfg.ManifestURL, nil)
	if err != nil {
		return nil, err
	}
	for h, vs := range k.cfg.ManifestURLHeader {
		for _, v := range vs {
			req.Header.Add(h, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", k.cfg.ManifestURL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		return nil, err
	}
	pods, err := decodeManifests(b)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(pods))
	for _, p := range pods {
		sp, err := k.staticPod(p, SourceHTTP, k.cfg.ManifestURL)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}
