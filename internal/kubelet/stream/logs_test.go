package stream

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

func TestContainerLogs(t *testing.T) {
	pods := execPods()
	rt := execRuntime()
	gotOpts := make(chan oci.LogOptions, 4)
	rt.logs = func(ctx context.Context, id string, opts oci.LogOptions, w io.Writer) error {
		gotOpts <- opts
		switch id {
		case "c1":
			io.WriteString(w, "current\n")
		case "prev":
			io.WriteString(w, "crashed\n")
		default:
			return oci.ErrNotFound
		}
		return nil
	}
	ts := startTestServer(t, Config{}, Deps{Pods: pods, Runtime: rt})
	c := httpClient(t, ts.restConfig(t, DefaultAPIServerClient))
	tests := []struct {
		name     string
		path     string
		wantCode int
		wantBody string
		wantOpts *oci.LogOptions
	}{
		{name: "current", path: "/containerLogs/ns/web/app?tailLines=5&timestamps=true", wantCode: 200, wantBody: "current\n",
			wantOpts: &oci.LogOptions{Tail: 5, Timestamps: true}},
		{name: "previous", path: "/containerLogs/ns/web/app?previous=true&tailLines=1", wantCode: 200, wantBody: "crashed\n",
			wantOpts: &oci.LogOptions{Tail: 1}},
		{name: "not started", path: "/containerLogs/ns/web/waiting", wantCode: 400},
		{name: "removed from the runtime", path: "/containerLogs/ns/web/old", wantCode: 404},
		{name: "no previous", path: "/containerLogs/ns/web/plain?previous=true", wantCode: 400},
		{name: "unknown pod", path: "/containerLogs/ns/nope/app", wantCode: 404},
		{name: "unknown container", path: "/containerLogs/ns/web/nope", wantCode: 404},
		{name: "bad options", path: "/containerLogs/ns/web/app?tailLines=-3", wantCode: 422},
		{name: "exec path is not logs", path: "/containerLogs/ns/web", wantCode: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Get(ts.url + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("got %d (%s), want %d", resp.StatusCode, body, tc.wantCode)
			}
			if tc.wantCode == 200 && string(body) != tc.wantBody {
				t.Errorf("got body %q, want %q", body, tc.wantBody)
			}
			if tc.wantOpts != nil {
				if d := cmp.Diff(*tc.wantOpts, <-gotOpts); d != "" {
					t.Errorf("runtime log options (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestContainerLogsFollowFlushes(t *testing.T) {
	rt := execRuntime()
	release := make(chan struct{})
	rt.logs = func(ctx context.Context, id string, opts oci.LogOptions, w io.Writer) error {
		io.WriteString(w, "first\n")
		select {
		case <-release:
		case <-ctx.Done():
		}
		io.WriteString(w, "second\n")
		return nil
	}
	ts := startTestServer(t, Config{}, Deps{Pods: execPods(), Runtime: rt})
	resp, err := httpClient(t, ts.restConfig(t, DefaultAPIServerClient)).Get(ts.url + "/containerLogs/ns/web/app?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	// The first line arrives while the runtime is still following.
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("got %q, %v before the log ended, want %q", line, err, "first\n")
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "second\n" {
		t.Errorf("got %q after, want %q", rest, "second\n")
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("got %d", resp.StatusCode)
	}
}
