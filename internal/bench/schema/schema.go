// Package schema benchmarks what the API server needs to describe its
// resources to kubectl: building the OpenAPI documents, server-side apply
// and table printing. cmd/bench runs it as the "schema" suite; nothing else
// imports it.
package schema

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/podvisor/podvisor/internal/apiserver/apply"
	"github.com/podvisor/podvisor/internal/apiserver/openapi"
	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/printers"
)

// resources are the resources of issue 2, as the API server describes them.
func resources() []openapi.Resource {
	crud := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	status := openapi.Subresource{Name: "status", Verbs: []string{"get", "update", "patch"}}
	scale := openapi.Subresource{Name: "scale", Kind: k8sschema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, Verbs: []string{"get", "update", "patch"}}
	r := func(group, version, kind, plural string, namespaced bool, subs ...openapi.Subresource) openapi.Resource {
		return openapi.Resource{Kind: k8sschema.GroupVersionKind{Group: group, Version: version, Kind: kind}, Plural: plural, Namespaced: namespaced, Verbs: crud, Subresources: subs}
	}
	return []openapi.Resource{
		r("", "v1", "Namespace", "namespaces", false, status),
		r("", "v1", "Pod", "pods", true, status,
			openapi.Subresource{Name: "binding", Kind: k8sschema.GroupVersionKind{Version: "v1", Kind: "Binding"}, Verbs: []string{"create"}},
			openapi.Subresource{Name: "eviction", Kind: k8sschema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, Verbs: []string{"create"}},
			openapi.Subresource{Name: "log", Options: k8sschema.GroupVersionKind{Version: "v1", Kind: "PodLogOptions"}, Verbs: []string{"get"}},
			openapi.Subresource{Name: "exec", Options: k8sschema.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}, Verbs: []string{"connect"}},
		),
		r("", "v1", "Node", "nodes", false, status),
		r("", "v1", "Service", "services", true, status),
		r("", "v1", "Endpoints", "endpoints", true),
		r("", "v1", "ConfigMap", "configmaps", true),
		r("", "v1", "Secret", "secrets", true),
		r("", "v1", "ServiceAccount", "serviceaccounts", true),
		r("", "v1", "Event", "events", true),
		r("", "v1", "PersistentVolume", "persistentvolumes", false, status),
		r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, status),
		r("", "v1", "ResourceQuota", "resourcequotas", true, status),
		r("", "v1", "LimitRange", "limitranges", true),
		r("apps", "v1", "Deployment", "deployments", true, status, scale),
		r("apps", "v1", "ReplicaSet", "replicasets", true, status, scale),
		r("apps", "v1", "StatefulSet", "statefulsets", true, status, scale),
		r("apps", "v1", "DaemonSet", "daemonsets", true, status),
		r("batch", "v1", "Job", "jobs", true, status),
		r("batch", "v1", "CronJob", "cronjobs", true, status),
		r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true),
		r("coordination.k8s.io", "v1", "Lease", "leases", true),
		r("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
		r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
		r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true),
		r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false),
		r("storage.k8s.io", "v1", "StorageClass", "storageclasses", false),
		r("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", false),
		r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, status),
		r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, status),
		r("events.k8s.io", "v1", "Event", "events", true),
	}
}

// heap returns the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// timed runs f n times and returns the durations.
func timed(n int, f func() error) (report.Durations, error) {
	d := make(report.Durations, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

// Run measures the suite and returns its tables.
func Run(ctx context.Context, _ string) ([]*report.Table, error) {
	cfg := openapi.Config{Scheme: scheme.Scheme, Resources: resources(), Version: "v1.37.2"}

	build := &report.Table{Title: "OpenAPI documents and server-side apply: startup cost",
		Columns: []string{"step", "p50", "max", "heap retained"},
		Notes: []string{"openapi.New builds the v2 document and one v3 document per group version for the issue-2 resources " +
			"(JSON; protobuf and gzip are made on first request). apply.New builds the structured-merge-diff type converter from the " +
			"same models and one field manager per resource. Heap retained is measured after a GC, with the result alive."}}
	before := heap()
	svc, err := openapi.New(cfg)
	if err != nil {
		return nil, err
	}
	retained := heap() - before
	d, err := timed(5, func() error { _, err := openapi.New(cfg); return err })
	if err != nil {
		return nil, err
	}
	st := svc.Stats()
	build.AddRow("openapi.New ("+strconv.Itoa(st.Definitions)+" definitions, v2 "+mib(uint64(st.V2Bytes))+", v3 "+mib(uint64(st.V3Bytes))+")",
		report.Ms(d.Percentile(50)), report.Ms(d.Percentile(100)), mib(retained))

	srv := httptest.NewServer(svc)
	defer srv.Close()
	d, err = timed(1, func() error {
		return fetch(ctx, srv.URL+"/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	})
	if err != nil {
		return nil, err
	}
	build.AddRow("first GET /openapi/v2 as protobuf (encodes it)", report.Ms(d.Percentile(50)), report.Ms(d.Percentile(100)), "")
	d, err = timed(20, func() error {
		return fetch(ctx, srv.URL+"/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	})
	if err != nil {
		return nil, err
	}
	build.AddRow("later GET /openapi/v2 as protobuf", report.Ms(d.Percentile(50)), report.Ms(d.Percentile(100)), "")

	var endpoints []apply.Endpoint
	for _, r := range cfg.Resources {
		endpoints = append(endpoints, apply.Endpoint{Kind: r.Kind})
	}
	acfg := apply.Config{Models: svc.Models(), Scheme: scheme.Scheme, Endpoints: endpoints}
	before = heap()
	mgr, err := apply.New(acfg)
	if err != nil {
		return nil, err
	}
	retained = heap() - before
	d, err = timed(5, func() error { _, err := apply.New(acfg); return err })
	if err != nil {
		return nil, err
	}
	build.AddRow("apply.New ("+strconv.Itoa(len(endpoints))+" field managers)", report.Ms(d.Percentile(50)), report.Ms(d.Percentile(100)), mib(retained))

	ops, err := applyTable(mgr)
	if err != nil {
		return nil, err
	}
	tables, err := printTable()
	if err != nil {
		return nil, err
	}
	return []*report.Table{build, ops, tables}, nil
}

// fetch GETs url as accept and reads the whole answer.
func fetch(ctx context.Context, url, accept string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        ports: [{containerPort: 80}]
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        resources: {limits: {cpu: 500m, memory: 128Mi}}
`

// applyTable measures server-side apply and managed-field updates of one
// deployment.
func applyTable(mgr *apply.Manager) (*report.Table, error) {
	t := &report.Table{Title: "Server-side apply latency (one deployment, 2000 operations each)",
		Columns: []string{"operation", "p50", "p99"},
		Notes:   []string{"In-process calls of apply.Manager, without storage or HTTP."}}
	live, err := mgr.Apply(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}}, "", []byte(deployment), "alice", false)
	if err != nil {
		return nil, err
	}
	const n = 2000
	d, err := timed(n, func() error { _, err := mgr.Apply(live, "", []byte(deployment), "alice", false); return err })
	if err != nil {
		return nil, err
	}
	t.AddRow("re-apply, no change", report.Ms(d.Percentile(50)), report.Ms(d.Percentile(99)))
	conflict := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":5}}`)
	d, err = timed(n, func() error {
		if _, err := mgr.Apply(live, "", conflict, "bob", false); err == nil {
			return fmt.Errorf("apply by bob did not conflict")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.AddRow("apply with a conflict (409)", report.Ms(d.Percentile(50)), report.Ms(d.Percentile(99)))
	edited := live.DeepCopyObject().(*appsv1.Deployment)
	edited.Spec.Replicas = new(int32)
	d, err = timed(n, func() error { _, err := mgr.Update(live, edited, "", "kubectl-edit"); return err })
	if err != nil {
		return nil, err
	}
	t.AddRow("managedFields update of an ordinary write", report.Ms(d.Percentile(50)), report.Ms(d.Percentile(99)))
	return t, nil
}

// printTable measures printing lists of pods as tables.
func printTable() (*report.Table, error) {
	t := &report.Table{Title: "Table printing (kubectl get)", Columns: []string{"list", "p50", "p99", "per object"},
		Notes: []string{"printers.Table on in-memory lists; pods have two containers, one restarted."}}
	now := time.Now()
	for _, n := range []int{100, 3000} {
		list := &corev1.PodList{}
		for i := 0; i < n; i++ {
			p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "default", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
				Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web"}, {Name: "log"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.42.0.1"}}, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
					{Name: "log", Ready: true, RestartCount: 2, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(now.Add(-time.Minute))}}},
				}}}
			list.Items = append(list.Items, p)
		}
		d, err := timed(50, func() error { _, err := printers.Table(list, now); return err })
		if err != nil {
			return nil, err
		}
		t.AddRow(fmt.Sprintf("%d pods", n), report.Ms(d.Percentile(50)), report.Ms(d.Percentile(99)),
			fmt.Sprintf("%.2f µs", float64(d.Percentile(50))/float64(time.Microsecond)/float64(n)))
	}
	return t, nil
}
