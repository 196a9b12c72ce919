// Package controllers is the `make bench` suite for controller latency: a
// Deployment of 500 replicas, from its creation to 500 pods existing,
// through the real API server (in process, embedded etcd in a temp dir)
// and the controller manager (Deployment and ReplicaSet controllers). No
// kubelet is needed: pods only have to exist. Only cmd/bench imports it.
package controllers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/controller/manager"
	"github.com/podvisor/podvisor/internal/server"
)

// Replicas is the size of the benchmark Deployment.
const Replicas = 500

// Run measures and returns the suite's table. binDir is unused: the suite
// runs in process.
func Run(ctx context.Context, _ string) ([]*report.Table, error) {
	dir, err := os.MkdirTemp("", "podvisor-bench-controllers-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The server must not run its own controller manager: each trial runs one.
	srv, err := server.Start(ctx, server.Config{
		DataDir: dir, BindAddress: "127.0.0.1", AdvertiseAddress: "127.0.0.1",
		DisableControllerManager: true, DisableAgent: true,
	}, server.Deps{Log: log})
	if err != nil {
		return nil, fmt.Errorf("starting a server in %s: %w", dir, err)
	}
	defer srv.Stop()
	rc, err := clientcmd.BuildConfigFromFlags("", server.KubeconfigPath(dir))
	if err != nil {
		return nil, fmt.Errorf("loading the admin kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 1000, 2000
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}

	t := &report.Table{
		Title:   fmt.Sprintf("Controller latency: Deployment of %d replicas, create → %d pods created", Replicas, Replicas),
		Columns: []string{"controller-manager client limits", "trials", "first pod", "all pods (median)", "all pods (min..max)", "pods/s"},
		Notes: []string{
			"Real API server (embedded etcd) and controller manager in one process, no kubelet; the clock runs from the",
			"Deployment's create call to the watch event of the last pod. The ReplicaSet controller creates pods in",
			"slow-start batches (1, 2, 4, ...). Kubernetes' reference: kube-controller-manager's default client limit",
			"(--kube-api-qps=20, --kube-api-burst=30) alone bounds 500 pod creations to about 24 s; the second row",
			"runs our controllers under those same limits; the unlimited row shows what the API server allows.",
		},
	}
	runs := []struct {
		name       string
		qps        float32
		burst      int
		trials     int
		deployment string
	}{
		{"podvisor default (200 qps, burst 400)", 0, 0, 3, "default"},
		{"no client limit", -1, 0, 3, "unlimited"},
		{"as kube-controller-manager (20 qps, burst 30)", 20, 30, 1, "kcm"},
	}
	for _, r := range runs {
		var firsts, alls []time.Duration
		for i := 0; i < r.trials; i++ {
			first, all, err := trial(ctx, rc, client, fmt.Sprintf("bench-%s-%d", r.deployment, i), r.qps, r.burst, log)
			if err != nil {
				return nil, err
			}
			firsts = append(firsts, first)
			alls = append(alls, all)
		}
		sort.Slice(alls, func(i, j int) bool { return alls[i] < alls[j] })
		sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
		med := alls[len(alls)/2]
		t.AddRow(r.name, r.trials, firsts[len(firsts)/2].Round(time.Millisecond), med.Round(time.Millisecond),
			fmt.Sprintf("%v..%v", alls[0].Round(time.Millisecond), alls[len(alls)-1].Round(time.Millisecond)),
			fmt.Sprintf("%.0f", float64(Replicas)/med.Seconds()))
	}
	return []*report.Table{t}, nil
}

// trial runs a controller manager, creates the Deployment in a fresh
// namespace and times its pods' creation.
func trial(ctx context.Context, rc *rest.Config, client kubernetes.Interface, ns string, qps float32, burst int, log *slog.Logger) (first, all time.Duration, err error) {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return 0, 0, fmt.Errorf("creating namespace: %w", err)
	}
	m, err := manager.New(manager.Config{
		Controllers:    []string{"deployment", "replicaset"},
		LeaderElection: manager.LeaderElection{Disabled: true},
		QPS:            qps, Burst: burst,
	}, manager.Deps{RESTConfig: rc, Log: log})
	if err != nil {
		return 0, 0, err
	}
	mctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = m.Run(mctx)
	}()
	defer func() { stop(); wg.Wait() }()

	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("watching pods: %w", err)
	}
	defer w.Stop()
	// Let the manager's informers sync before the clock starts.
	time.Sleep(500 * time.Millisecond)
	replicas := int32(Replicas)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	start := time.Now()
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return 0, 0, fmt.Errorf("creating the deployment: %w", err)
	}
	seen := 0
	timeout := time.After(5 * time.Minute)
	for seen < Replicas {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, 0, fmt.Errorf("pod watch closed after %d pods", seen)
			}
			if ev.Type != watch.Added {
				continue
			}
			seen++
			if seen == 1 {
				first = time.Since(start)
			}
		case <-timeout:
			return 0, 0, fmt.Errorf("only %d of %d pods after 5 minutes", seen, Replicas)
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	return first, time.Since(start), nil
}
