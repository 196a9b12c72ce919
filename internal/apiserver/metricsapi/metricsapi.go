// Package metricsapi serves the resource metrics API, metrics.k8s.io/v1beta1
// (NodeMetrics and PodMetrics, list and get, with label selectors), from
// the kubelets' /stats/summary, so that `kubectl top nodes|pods
// [--containers]` works without a metrics-server. Summaries are fetched on
// request, from every node in parallel, and kept for a short time (CacheTTL)
// so that a burst of requests costs one scrape per node.
//
// CPU usage is the kubelet's usageNanoCores (a rate over its sampling
// interval, reported as the window); memory is the working set, as
// metrics-server reports them. A pod whose CPU rate is not known yet is
// left out, as metrics-server does before its second scrape.
//
// The API server mounts API as the handler of /apis/metrics.k8s.io, lists
// Group and Resources in its discovery, and authorizes requests (get or
// list on nodes or pods in group metrics.k8s.io) before they reach it.
// Only the apiserver and the server wiring import this package.
package metricsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	statsv1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// GroupName and Version of the API.
const (
	GroupName = "metrics.k8s.io"
	Version   = "v1beta1"
	prefix    = "/apis/" + GroupName
)

// Group is the API group for discovery.
func Group() metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: GroupName + "/" + Version, Version: Version}
	return metav1.APIGroup{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:     GroupName, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv,
	}
}

// Resources is the group version's resource list for discovery.
func Resources() metav1.APIResourceList {
	verbs := metav1.Verbs{"get", "list"}
	return metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: GroupName + "/" + Version,
		APIResources: []metav1.APIResource{
			{Name: "nodes", Kind: "NodeMetrics", Verbs: verbs},
			{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: verbs},
		},
	}
}

// Summaries fetches a node's stats summary (kubeletproxy.Client).
type Summaries interface {
	Summary(ctx context.Context, node string) (*statsv1.Summary, error)
}

// Lister lists the API's nodes and pods (the API server's caches).
type Lister interface {
	ListNodes(ctx context.Context) ([]*corev1.Node, error)
	// ListPods lists the pods of namespace ("" is all namespaces).
	ListPods(ctx context.Context, namespace string) ([]*corev1.Pod, error)
}

// Config holds the API's settings.
type Config struct {
	// CacheTTL is how long a node's summary is reused; 0 is 10 seconds.
	CacheTTL time.Duration
	// ScrapeTimeout bounds one kubelet request; 0 is 10 seconds.
	ScrapeTimeout time.Duration
	// Window is the interval CPU rates are measured over (the kubelets'
	// stats interval); 0 is 10 seconds.
	Window time.Duration
}

// Deps are the API's collaborators.
type Deps struct {
	Summaries Summaries
	Lister    Lister
	Logger    *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// API serves metrics.k8s.io. It is safe for concurrent use.
type API struct {
	cfg  Config
	deps Deps

	mu    sync.Mutex
	cache map[string]*entry // by node; +checklocks:mu
}

// entry is one node's cached summary; ready closes when it is fetched.
type entry struct {
	ready   chan struct{}
	fetched time.Time
	sum     *statsv1.Summary
	err     error
}

// New returns the API.
func New(cfg Config, deps Deps) (*API, error) {
	if deps.Summaries == nil || deps.Lister == nil || deps.Logger == nil {
		return nil, errors.New("metricsapi: Summaries, Lister and Logger are required")
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 10 * time.Second
	}
	if cfg.ScrapeTimeout == 0 {
		cfg.ScrapeTimeout = 10 * time.Second
	}
	if cfg.Window == 0 {
		cfg.Window = 10 * time.Second
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &API{cfg: cfg, deps: deps, cache: map[string]*entry{}}, nil
}

// summary returns node's summary, fetching it unless a fresh one is
// cached; concurrent callers share one fetch.
func (a *API) summary(ctx context.Context, node string) (*statsv1.Summary, error) {
	a.mu.Lock()
	e := a.cache[node]
	if e != nil {
		select {
		case <-e.ready:
			if a.deps.Now().Sub(e.fetched) > a.cfg.CacheTTL {
				e = nil
			}
		default: // being fetched: wait for it
		}
	}
	fetch := e == nil
	if fetch {
		e = &entry{ready: make(chan struct{})}
		a.cache[node] = e
	}
	a.mu.Unlock()
	if fetch {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ScrapeTimeout)
		e.sum, e.err = a.deps.Summaries.Summary(fctx, node)
		cancel()
		e.fetched = a.deps.Now()
		if e.err != nil {
			a.deps.Logger.Debug("metrics: scraping node", "node", node, "err", e.err)
		}
		close(e.ready)
	}
	select {
	case <-e.ready:
		return e.sum, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// summaries fetches the summaries of nodes in parallel; nodes that fail
// are left out.
func (a *API) summaries(ctx context.Context, nodes []string) map[string]*statsv1.Summary {
	out := make([]*statsv1.Summary, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], _ = a.summary(ctx, n)
		}()
	}
	wg.Wait()
	m := map[string]*statsv1.Summary{}
	for i, n := range nodes {
		if out[i] != nil {
			m[n] = out[i]
		}
	}
	return m
}

// ServeHTTP serves the API's paths under /apis/metrics.k8s.io.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, apierrors.NewMethodNotSupported(schema.GroupResource{Group: GroupName}, strings.ToLower(r.Method)))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{Group: GroupName}, r.URL.Path))
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if parts[0] == "" {
		writeJSON(w, Group())
		return
	}
	if parts[0] != Version {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{Group: GroupName}, parts[0]))
		return
	}
	parts = parts[1:]
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeError(w, apierrors.NewBadRequest(fmt.Sprintf("invalid labelSelector: %v", err)))
		return
	}
	ctx := r.Context()
	switch {
	case len(parts) == 0:
		writeJSON(w, Resources())
	case parts[0] == "nodes" && len(parts) <= 2:
		name := ""
		if len(parts) == 2 {
			name = parts[1]
		}
		a.serveNodes(ctx, w, name, sel)
	case parts[0] == "pods" && len(parts) == 1:
		a.servePods(ctx, w, "", "", sel)
	case parts[0] == "namespaces" && len(parts) >= 3 && len(parts) <= 4 && parts[2] == "pods":
		name := ""
		if len(parts) == 4 {
			name = parts[3]
		}
		a.servePods(ctx, w, parts[1], name, sel)
	default:
		writeError(w, apierrors.NewNotFound(schema.GroupResource{Group: GroupName}, strings.Join(parts, "/")))
	}
}

func (a *API) serveNodes(ctx context.Context, w http.ResponseWriter, name string, sel labels.Selector) {
	nodes, err := a.deps.Lister.ListNodes(ctx)
	if err != nil {
		writeError(w, err)
		return
	}
	var names []string
	keep := map[string]*corev1.Node{}
	for _, n := range nodes {
		if (name == "" || n.Name == name) && sel.Matches(labels.Set(n.Labels)) {
			names = append(names, n.Name)
			keep[n.Name] = n
		}
	}
	sort.Strings(names)
	sums := a.summaries(ctx, names)
	list := metricsv1beta1.NodeMetricsList{TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: GroupName + "/" + Version},
		Items: []metricsv1beta1.NodeMetrics{}}
	for _, n := range names {
		s := sums[n]
		if s == nil || s.Node.CPU == nil || s.Node.CPU.UsageNanoCores == nil || s.Node.Memory == nil || s.Node.Memory.WorkingSetBytes == nil {
			continue
		}
		list.Items = append(list.Items, metricsv1beta1.NodeMetrics{
			TypeMeta:   metav1.TypeMeta{Kind: "NodeMetrics", APIVersion: GroupName + "/" + Version},
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: keep[n].Labels, CreationTimestamp: metav1.NewTime(a.deps.Now())},
			Timestamp:  s.Node.CPU.Time,
			Window:     metav1.Duration{Duration: a.cfg.Window},
			Usage:      usage(*s.Node.CPU.UsageNanoCores, *s.Node.Memory.WorkingSetBytes),
		})
	}
	if name == "" {
		writeJSON(w, &list)
		return
	}
	if len(list.Items) == 0 {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{Group: GroupName, Resource: "nodes"}, name))
		return
	}
	writeJSON(w, &list.Items[0])
}

func usage(nanoCores, workingSet uint64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(nanoCores), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(workingSet), resource.BinarySI),
	}
}

func (a *API) servePods(ctx context.Context, w http.ResponseWriter, ns, name string, sel labels.Selector) {
	pods, err := a.deps.Lister.ListPods(ctx, ns)
	if err != nil {
		writeError(w, err)
		return
	}
	byNode := map[string]bool{}
	var keep []*corev1.Pod
	for _, p := range pods {
		if p.Spec.NodeName == "" || (name != "" && p.Name != name) || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		keep = append(keep, p)
		byNode[p.Spec.NodeName] = true
	}
	nodes := make([]string, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	sums := a.summaries(ctx, nodes)
	// The pods' stats, by UID (a pod recreated under the same name is
	// another pod).
	stats := map[string]*statsv1.PodStats{}
	for _, s := range sums {
		for i := range s.Pods {
			stats[s.Pods[i].PodRef.UID] = &s.Pods[i]
		}
	}
	list := metricsv1beta1.PodMetricsList{TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: GroupName + "/" + Version},
		Items: []metricsv1beta1.PodMetrics{}}
	sort.Slice(keep, func(i, j int) bool {
		if keep[i].Namespace != keep[j].Namespace {
			return keep[i].Namespace < keep[j].Namespace
		}
		return keep[i].Name < keep[j].Name
	})
	for _, p := range keep {
		ps := stats[string(p.UID)]
		if ps == nil || len(ps.Containers) == 0 {
			continue
		}
		pm := metricsv1beta1.PodMetrics{
			TypeMeta:   metav1.TypeMeta{Kind: "PodMetrics", APIVersion: GroupName + "/" + Version},
			ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, CreationTimestamp: metav1.NewTime(a.deps.Now())},
			Window:     metav1.Duration{Duration: a.cfg.Window},
		}
		complete := true
		for _, c := range ps.Containers {
			if c.CPU == nil || c.CPU.UsageNanoCores == nil || c.Memory == nil || c.Memory.WorkingSetBytes == nil {
				complete = false
				break
			}
			if pm.Timestamp.IsZero() || c.CPU.Time.Before(&pm.Timestamp) {
				pm.Timestamp = c.CPU.Time
			}
			pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{
				Name: c.Name, Usage: usage(*c.CPU.UsageNanoCores, *c.Memory.WorkingSetBytes),
			})
		}
		if complete {
			list.Items = append(list.Items, pm)
		}
	}
	if name == "" {
		writeJSON(w, &list)
		return
	}
	if len(list.Items) == 0 {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{Group: GroupName, Resource: "pods"}, name))
		return
	}
	writeJSON(w, &list.Items[0])
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	b, _ := json.Marshal(&st)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	w.Write(b)
}
