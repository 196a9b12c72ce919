package prober

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestCounter(t *testing.T) {
	S, F, U := Success, Failure, Unknown
	tests := []struct {
		name     string
		kind     Kind
		succ     int32
		fail     int32
		results  []Result
		verdicts []Result
		changed  []bool
	}{
		{
			name: "readiness needs successThreshold", kind: Readiness, succ: 2, fail: 3,
			results:  []Result{S, S, F, F, F, S},
			verdicts: []Result{F, S, S, S, F, F},
			changed:  []bool{false, true, false, false, true, false},
		},
		{
			name: "liveness fails after failureThreshold, then holds", kind: Liveness, succ: 1, fail: 2,
			results:  []Result{F, S, F, F, S, S},
			verdicts: []Result{S, S, S, F, F, F},
			changed:  []bool{false, false, false, true, false, false},
		},
		{
			name: "startup succeeds once", kind: Startup, succ: 1, fail: 3,
			results:  []Result{F, F, S},
			verdicts: []Result{U, U, S},
			changed:  []bool{false, false, true},
		},
		{
			name: "unknown results are ignored", kind: Readiness, succ: 1, fail: 1,
			results:  []Result{U, S, U},
			verdicts: []Result{F, S, S},
			changed:  []bool{false, true, false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCounter(tc.kind, &corev1.Probe{SuccessThreshold: tc.succ, FailureThreshold: tc.fail})
			var verdicts []Result
			var changed []bool
			for _, r := range tc.results {
				changed = append(changed, c.observe(r))
				verdicts = append(verdicts, c.verdict)
			}
			if diff := cmp.Diff(tc.verdicts, verdicts); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.changed, changed); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSchedule(&corev1.Probe{InitialDelaySeconds: 5}, start)
	if got := s.first(start.Add(2 * time.Second)); got != 3*time.Second {
		t.Errorf("first probe: got %v, want 3s", got)
	}
	if got := s.first(start.Add(time.Minute)); got != 0 {
		t.Errorf("first probe after the delay: got %v, want 0", got)
	}
	if s.period != 10*time.Second || s.timeout != time.Second {
		t.Errorf("defaults: period %v timeout %v", s.period, s.timeout)
	}
}

func portOf(t *testing.T, addr string) (string, int32) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, int32(n)
}

func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	var gotHost, gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotHeader = r.Host, r.Header.Get("X-Test")
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "fine")
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/away":
			http.Redirect(w, r, "http://example.invalid/", http.StatusFound)
		default:
			http.Error(w, "broken", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	host, port := portOf(t, srv.Listener.Addr().String())
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: port}}}
	r := &Runner{}
	tests := []struct {
		name   string
		action corev1.HTTPGetAction
		want   Result
		msg    string
	}{
		{name: "200", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(port)}, want: Success},
		{name: "named port", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("web")}, want: Success},
		{name: "redirect followed", action: corev1.HTTPGetAction{Path: "/redirect", Port: intstr.FromInt32(port)}, want: Success},
		{name: "redirect elsewhere is success", action: corev1.HTTPGetAction{Path: "/away", Port: intstr.FromInt32(port)}, want: Success},
		{name: "500", action: corev1.HTTPGetAction{Path: "/bad", Port: intstr.FromInt32(port)}, want: Failure, msg: "HTTP probe failed with statuscode: 500"},
		{name: "unknown port name", action: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("nope")}, want: Failure, msg: `port "nope" not found in the container's ports`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, msg := r.Run(ctx, Handler{HTTPGet: &tc.action}, Target{PodIP: host, Container: c})
			if res != tc.want || (tc.msg != "" && msg != tc.msg) {
				t.Errorf("got %v %q, want %v %q", res, msg, tc.want, tc.msg)
			}
		})
	}
	a := corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt32(port), HTTPHeaders: []corev1.HTTPHeader{{Name: "Host", Value: "svc.example"}, {Name: "X-Test", Value: "yes"}}}
	r.Run(context.Background(), Handler{HTTPGet: &a}, Target{PodIP: host})
	mu.Lock()
	defer mu.Unlock()
	if gotHost != "svc.example" || gotHeader != "yes" {
		t.Errorf("headers: host %q x-test %q", gotHost, gotHeader)
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port := portOf(t, l.Addr().String())
	r := &Runner{}
	res, msg := r.Run(context.Background(), Handler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}}, Target{PodIP: host})
	if res != Success {
		t.Errorf("open port: got %v %q", res, msg)
	}
	l.Close()
	res, msg = r.Run(context.Background(), Handler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}}, Target{PodIP: host})
	if res != Failure || !strings.Contains(msg, "connection refused") {
		t.Errorf("closed port: got %v %q", res, msg)
	}
}

func TestExecProbe(t *testing.T) {
	tests := []struct {
		name string
		code int
		out  string
		err  error
		slow bool
		want Result
		msg  string
	}{
		{name: "exit 0", code: 0, out: "ok\n", want: Success, msg: "ok"},
		{name: "exit 1 with output", code: 1, out: "not ready\n", want: Failure, msg: "not ready"},
		{name: "exit 2 silent", code: 2, want: Failure, msg: `command "check" exited with 2`},
		{name: "exec error", err: errors.New("executable file not found"), want: Failure, msg: "executable file not found"},
		{name: "timeout", slow: true, want: Failure, msg: `command "check" timed out`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Runner{Exec: func(ctx context.Context, id string, cmd []string, out io.Writer) (int, error) {
				if id != "c1" {
					return 0, fmt.Errorf("wrong container %q", id)
				}
				if tc.slow {
					<-ctx.Done()
					return -1, ctx.Err()
				}
				io.WriteString(out, tc.out)
				return tc.code, tc.err
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			res, msg := r.Run(ctx, Handler{Exec: &corev1.ExecAction{Command: []string{"check"}}}, Target{ContainerID: "c1"})
			if res != tc.want || msg != tc.msg {
				t.Errorf("got %v %q, want %v %q", res, msg, tc.want, tc.msg)
			}
		})
	}
}

// TestManager runs a readiness and a liveness worker against a fake exec
// whose answers the test controls, and checks verdicts and callbacks.
func TestManager(t *testing.T) {
	var mu sync.Mutex
	answers := map[string]int{"ready": 1, "live": 0}
	changes := make(chan types.UID, 16)
	var events []string
	r := &Runner{Exec: func(ctx context.Context, id string, cmd []string, out io.Writer) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return answers[cmd[0]], nil
	}}
	m := NewManager(Deps{Runner: r, OnChange: func(uid types.UID) { changes <- uid },
		Event: func(_ *corev1.Pod, k Kind, c, msg string) {
			mu.Lock()
			events = append(events, k.String()+"/"+c)
			mu.Unlock()
		}})
	defer m.Stop()
	fast := func(cmd string, fail int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}},
			PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: fail}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "p1"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", ReadinessProbe: fast("ready", 1), LivenessProbe: fast("live", 1),
	}}}}
	m.Update(pod, "10.0.0.1", "", map[string]Running{"c": {ID: "id1", StartedAt: time.Now()}})
	if res, ok := m.Result("p1", "c", Readiness, "id1"); !ok || res != Failure {
		t.Fatalf("initial readiness: got %v %v, want failure", res, ok)
	}
	if res, _ := m.Result("p1", "c", Liveness, "id1"); res != Success {
		t.Fatalf("initial liveness: got %v, want success", res)
	}
	mu.Lock()
	answers["ready"] = 0
	mu.Unlock()
	waitFor(t, changes, func() bool { res, _ := m.Result("p1", "c", Readiness, "id1"); return res == Success }, "ready")
	mu.Lock()
	answers["live"] = 1
	mu.Unlock()
	waitFor(t, changes, func() bool { res, _ := m.Result("p1", "c", Liveness, "id1"); return res == Failure }, "liveness failure")
	mu.Lock()
	if len(events) == 0 || !strings.HasPrefix(events[len(events)-1], "Liveness/c") {
		t.Errorf("events: %v", events)
	}
	mu.Unlock()
	// A new instance starts over.
	m.Update(pod, "10.0.0.1", "", map[string]Running{"c": {ID: "id2", StartedAt: time.Now(), WasReady: true}})
	if res, _ := m.Result("p1", "c", Liveness, "id2"); res != Success {
		t.Errorf("new instance liveness: got %v, want success", res)
	}
	if res, _ := m.Result("p1", "c", Readiness, "id2"); res != Success {
		t.Errorf("new instance seeded readiness: got %v, want success", res)
	}
	if _, ok := m.Result("p1", "c", Liveness, "id1"); ok {
		t.Errorf("old instance still has a verdict")
	}
	m.Remove("p1")
	if _, ok := m.Result("p1", "c", Readiness, "id2"); ok {
		t.Errorf("removed pod still has a verdict")
	}
}

func waitFor(t *testing.T, changes <-chan types.UID, cond func() bool, what string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-changes:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
