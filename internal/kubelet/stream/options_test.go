package stream

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

func TestParseLogQuery(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		query   string
		want    logQuery
		wantErr bool
	}{
		{name: "defaults", query: "", want: logQuery{Opts: oci.LogOptions{Tail: -1}}},
		{name: "everything", query: "follow=true&previous=1&timestamps=true&tailLines=10&limitBytes=100&sinceSeconds=60",
			want: logQuery{Previous: true, Opts: oci.LogOptions{Follow: true, Timestamps: true, Tail: 10, LimitBytes: 100, Since: now.Add(-time.Minute)}}},
		{name: "sinceTime", query: "sinceTime=2026-01-01T00:00:00Z", want: logQuery{Opts: oci.LogOptions{Tail: -1, Since: since}}},
		{name: "tail zero", query: "tailLines=0", want: logQuery{Opts: oci.LogOptions{Tail: 0}}},
		{name: "false values", query: "follow=false&previous=0", want: logQuery{Opts: oci.LogOptions{Tail: -1}}},
		{name: "both since", query: "sinceSeconds=1&sinceTime=2026-01-01T00:00:00Z", wantErr: true},
		{name: "negative tail", query: "tailLines=-1", wantErr: true},
		{name: "zero since", query: "sinceSeconds=0", wantErr: true},
		{name: "zero limit", query: "limitBytes=0", wantErr: true},
		{name: "bad bool", query: "follow=maybe", wantErr: true},
		{name: "bad int", query: "tailLines=ten", wantErr: true},
		{name: "bad time", query: "sinceTime=yesterday", wantErr: true},
		{name: "huge since", query: "sinceSeconds=9223372036854775807", want: logQuery{Opts: oci.LogOptions{Tail: -1, Since: now.Add(-time.Duration(int64(1<<62)/int64(time.Second)) * time.Second)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			got, err := parseLogQuery(q, now)
			if tc.wantErr {
				if !apierrors.IsInvalid(err) {
					t.Fatalf("got error %v, want an Invalid status", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("options (-want +got):\n%s", d)
			}
		})
	}
}

func TestParseRCOptions(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		exec    bool
		want    rcOptions
		wantErr bool
	}{
		{name: "kubelet names", query: "command=sh&command=-c&command=true&input=1&output=1&error=1", exec: true,
			want: rcOptions{Stdin: true, Stdout: true, Stderr: true, Command: []string{"sh", "-c", "true"}}},
		{name: "api names", query: "command=ls&stdin=true&stdout=true&stderr=false", exec: true,
			want: rcOptions{Stdin: true, Stdout: true, Command: []string{"ls"}}},
		{name: "tty drops stderr", query: "command=sh&input=1&output=1&error=1&tty=1", exec: true,
			want: rcOptions{Stdin: true, Stdout: true, TTY: true, Command: []string{"sh"}}},
		{name: "attach", query: "output=1", want: rcOptions{Stdout: true}},
		{name: "attach ignores command", query: "output=1&command=x", want: rcOptions{Stdout: true}},
		{name: "exec without command", query: "output=1", exec: true, wantErr: true},
		{name: "exec empty command", query: "output=1&command=", exec: true, wantErr: true},
		{name: "no streams", query: "command=ls", exec: true, wantErr: true},
		{name: "bad flag", query: "command=ls&output=yes", exec: true, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			got, err := parseRCOptions(q, tc.exec)
			if tc.wantErr {
				if !apierrors.IsInvalid(err) {
					t.Fatalf("got error %v, want an Invalid status", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v", err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("options (-want +got):\n%s", d)
			}
		})
	}
}

func TestAttributes(t *testing.T) {
	tests := []struct {
		method, path string
		want         authorizationv1.ResourceAttributes
		fallback     string
	}{
		{"GET", "/stats/summary", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "stats", Name: "n"}, ""},
		{"GET", "/metrics", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "metrics", Name: "n"}, ""},
		{"GET", "/metrics/resource", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "metrics", Name: "n"}, ""},
		{"GET", "/logs/syslog", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "log", Name: "n"}, ""},
		{"GET", "/containerLogs/ns/p/c", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "proxy", Name: "n"}, ""},
		{"GET", "/pods", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "pods", Name: "n"}, "proxy"},
		{"GET", "/healthz", authorizationv1.ResourceAttributes{Verb: "get", Resource: "nodes", Subresource: "healthz", Name: "n"}, "proxy"},
		{"POST", "/exec/ns/p/c", authorizationv1.ResourceAttributes{Verb: "create", Resource: "nodes", Subresource: "proxy", Name: "n"}, ""},
		// A WebSocket upgrade is a GET and still needs create.
		{"GET", "/exec/ns/p/c", authorizationv1.ResourceAttributes{Verb: "create", Resource: "nodes", Subresource: "proxy", Name: "n"}, ""},
		{"GET", "/attach/ns/p/c", authorizationv1.ResourceAttributes{Verb: "create", Resource: "nodes", Subresource: "proxy", Name: "n"}, ""},
		{"GET", "/portForward/ns/p", authorizationv1.ResourceAttributes{Verb: "create", Resource: "nodes", Subresource: "proxy", Name: "n"}, ""},
		{"DELETE", "/statsx", authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes", Subresource: "proxy", Name: "n"}, ""},
		{"PUT", "/other", authorizationv1.ResourceAttributes{Verb: "update", Resource: "nodes", Subresource: "proxy", Name: "n"}, ""},
		{"PATCH", "/other", authorizationv1.ResourceAttributes{Verb: "patch", Resource: "nodes", Subresource: "proxy", Name: "n"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			got, fb := attributes("n", httptest.NewRequest(tc.method, tc.path, nil))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("attributes (-want +got):\n%s", d)
			}
			if fb != tc.fallback {
				t.Errorf("got fallback %q, want %q", fb, tc.fallback)
			}
		})
	}
}

func TestCommandStatus(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		err        error
		wantStatus string
		wantCause  string
	}{
		{name: "success", wantStatus: "Success"},
		{name: "exit 3", code: 3, wantStatus: "Failure", wantCause: "3"},
		{name: "exit 255", code: 255, wantStatus: "Failure", wantCause: "255"},
		{name: "signal-sized code wraps", code: 256 + 7, wantStatus: "Failure", wantCause: "7"},
		{name: "start failure", code: 255, err: oci.ErrExecStart, wantStatus: "Failure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := commandStatus([]string{"x"}, tc.code, tc.err)
			if string(st.Status) != tc.wantStatus {
				t.Errorf("got status %q, want %q", st.Status, tc.wantStatus)
			}
			cause := ""
			if st.Details != nil && len(st.Details.Causes) > 0 {
				cause = st.Details.Causes[0].Message
			}
			if cause != tc.wantCause {
				t.Errorf("got exit code cause %q, want %q", cause, tc.wantCause)
			}
		})
	}
}
