package stream

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	statsv1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// serverMetrics are the kubelet server's own Prometheus metrics
// (/metrics), in a registry of its own.
type serverMetrics struct {
	s        *Server
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	sessions *prometheus.GaugeVec
	started  *prometheus.CounterVec
}

func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{s: s, reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubelet_http_requests_total", Help: "Requests to the kubelet server, by path, method and code.",
	}, []string{"path", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kubelet_http_requests_duration_seconds", Help: "Duration of kubelet server requests (streams: until the upgrade).",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, []string{"path", "method"})
	m.sessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubelet_streaming_sessions", Help: "Open exec, attach and port-forward sessions.",
	}, []string{"kind"})
	m.started = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubelet_streaming_sessions_total", Help: "Exec, attach and port-forward sessions opened.",
	}, []string{"kind"})
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kubelet_running_pods", Help: "Pods the kubelet runs.",
	}, func() float64 { return float64(len(s.deps.Pods.ListPods())) })
	m.reg.MustRegister(m.requests, m.duration, m.sessions, m.started, running,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// pathLabel is the first path segment of known paths (bounded labels).
func pathLabel(p string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	switch seg {
	case "containerLogs", "exec", "attach", "portForward", "stats", "metrics", "healthz", "pods":
		return seg
	}
	return "other"
}

func (m *serverMetrics) observe(r *http.Request, code int, d time.Duration) {
	p := pathLabel(r.URL.Path)
	m.requests.WithLabelValues(p, r.Method, itoa(code)).Inc()
	m.duration.WithLabelValues(p, r.Method).Observe(d.Seconds())
}

func itoa(n int) string {
	if n >= 100 && n < 600 {
		return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
	}
	return "other"
}

func (m *serverMetrics) sessionStarted(kind string) {
	m.sessions.WithLabelValues(kind).Inc()
	m.started.WithLabelValues(kind).Inc()
}

func (m *serverMetrics) sessionEnded(kind string) { m.sessions.WithLabelValues(kind).Dec() }

func (m *serverMetrics) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// serveResource serves /metrics/resource: the resource metrics the
// kubelet exposes for metrics pipelines (node, pod and container CPU
// seconds and working set), read when scraped.
func (m *serverMetrics) serveResource(w http.ResponseWriter, r *http.Request) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&resourceCollector{s: m.s, ctx: r.Context()})
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// resourceCollector turns a stats summary into resource metrics.
type resourceCollector struct {
	s   *Server
	ctx context.Context
}

var (
	descNodeCPU       = prometheus.NewDesc("node_cpu_usage_seconds_total", "Cumulative CPU time of the node's cores.", nil, nil)
	descNodeMem       = prometheus.NewDesc("node_memory_working_set_bytes", "The node's memory working set.", nil, nil)
	descPodCPU        = prometheus.NewDesc("pod_cpu_usage_seconds_total", "Cumulative CPU time of the pod's containers.", []string{"pod", "namespace"}, nil)
	descPodMem        = prometheus.NewDesc("pod_memory_working_set_bytes", "The pod's memory working set.", []string{"pod", "namespace"}, nil)
	descContainerCPU  = prometheus.NewDesc("container_cpu_usage_seconds_total", "Cumulative CPU time of the container.", []string{"container", "pod", "namespace"}, nil)
	descContainerMem  = prometheus.NewDesc("container_memory_working_set_bytes", "The container's memory working set.", []string{"container", "pod", "namespace"}, nil)
	descContainerStrt = prometheus.NewDesc("container_start_time_seconds", "Start time of the container (Unix seconds).", []string{"container", "pod", "namespace"}, nil)
	descScrapeError   = prometheus.NewDesc("scrape_error", "1 if the stats could not be read, else 0.", nil, nil)
)

// Describe implements prometheus.Collector.Describe.
func (c *resourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodeCPU, descNodeMem, descPodCPU, descPodMem, descContainerCPU, descContainerMem, descContainerStrt, descScrapeError} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.Collect.
func (c *resourceCollector) Collect(ch chan<- prometheus.Metric) {
	sum, err := c.s.Summary(c.ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descScrapeError, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(descScrapeError, prometheus.GaugeValue, 0)
	cpu := func(d *prometheus.Desc, st *statsv1.CPUStats, labels ...string) {
		if st != nil && st.UsageCoreNanoSeconds != nil {
			ch <- prometheus.NewMetricWithTimestamp(st.Time.Time,
				prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(*st.UsageCoreNanoSeconds)/1e9, labels...))
		}
	}
	mem := func(d *prometheus.Desc, st *statsv1.MemoryStats, labels ...string) {
		if st != nil && st.WorkingSetBytes != nil {
			ch <- prometheus.NewMetricWithTimestamp(st.Time.Time,
				prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(*st.WorkingSetBytes), labels...))
		}
	}
	cpu(descNodeCPU, sum.Node.CPU)
	mem(descNodeMem, sum.Node.Memory)
	for _, p := range sum.Pods {
		cpu(descPodCPU, p.CPU, p.PodRef.Name, p.PodRef.Namespace)
		mem(descPodMem, p.Memory, p.PodRef.Name, p.PodRef.Namespace)
		for _, k := range p.Containers {
			cpu(descContainerCPU, k.CPU, k.Name, p.PodRef.Name, p.PodRef.Namespace)
			mem(descContainerMem, k.Memory, k.Name, p.PodRef.Name, p.PodRef.Namespace)
			if !k.StartTime.IsZero() {
				ch <- prometheus.MustNewConstMetric(descContainerStrt, prometheus.GaugeValue,
					float64(k.StartTime.UnixNano())/1e9, k.Name, p.PodRef.Name, p.PodRef.Namespace)
			}
		}
	}
}
