package kubeletproxy

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodLocation(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.PodSpec{
			NodeName:       "n1",
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "app"}},
		},
	}
	two := pod.DeepCopy()
	two.Spec.Containers = append(two.Spec.Containers, corev1.Container{Name: "side"})
	annotated := two.DeepCopy()
	annotated.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "side"}
	done := pod.DeepCopy()
	done.Status.Phase = corev1.PodSucceeded
	tests := []struct {
		name        string
		pod         *corev1.Pod
		sub, query  string
		want        string
		wantUpgrade bool
		wantErr     bool
	}{
		{name: "log defaults the only container", pod: pod, sub: "log", query: "follow=true&tailLines=3&pretty=1",
			want: "/containerLogs/ns/web/app?follow=true&tailLines=3"},
		{name: "log of an init container", pod: pod, sub: "log", query: "container=init&previous=true",
			want: "/containerLogs/ns/web/init?previous=true"},
		{name: "log needs a name with two containers", pod: two, sub: "log", wantErr: true},
		{name: "default-container annotation", pod: annotated, sub: "log", want: "/containerLogs/ns/web/side"},
		{name: "unknown container", pod: pod, sub: "log", query: "container=nope", wantErr: true},
		{name: "exec", pod: pod, sub: "exec", query: "command=sh&command=-c&command=echo+hi&stdin=true&stdout=true&stderr=false&tty=true",
			want: "/exec/ns/web/app?command=sh&command=-c&command=echo+hi&input=1&output=1&tty=1", wantUpgrade: true},
		{name: "exec without command", pod: pod, sub: "exec", query: "stdout=true", wantErr: true},
		{name: "exec into a completed pod", pod: done, sub: "exec", query: "command=ls&stdout=true", wantErr: true},
		{name: "attach", pod: two, sub: "attach", query: "container=side&stdin=1&stdout=1",
			want: "/attach/ns/web/side?input=1&output=1", wantUpgrade: true},
		{name: "portforward", pod: pod, sub: "portforward", query: "ports=80", want: "/portForward/ns/web", wantUpgrade: true},
		{name: "unknown subresource", pod: pod, sub: "binding", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			u, up, err := podLocation(tc.pod, tc.sub, q)
			if tc.wantErr {
				if err == nil || apierrors.ReasonForError(err) == "" {
					t.Fatalf("got %v, %v; want a Status error", u, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, u.String()); d != "" {
				t.Errorf("location (-want +got):\n%s", d)
			}
			if up != tc.wantUpgrade {
				t.Errorf("got upgrade %v, want %v", up, tc.wantUpgrade)
			}
		})
	}
}

func TestNodeURL(t *testing.T) {
	c := &Client{cfg: Config{AddressTypes: []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName, corev1.NodeExternalIP}}}
	tests := []struct {
		name    string
		status  corev1.NodeStatus
		want    string
		wantErr bool
	}{
		{name: "internal IP and port", status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.5"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 11250}},
		}, want: "https://10.0.0.5:11250"},
		{name: "hostname, default port", status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}}},
			want: "https://n1:10250"},
		{name: "IPv6", status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "fd00::1"}}},
			want: "https://[fd00::1]:10250"},
		{name: "no address", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := c.nodeURL(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: tc.status})
			if tc.wantErr {
				if !apierrors.IsServiceUnavailable(err) {
					t.Fatalf("got %v, want 503", err)
				}
				return
			}
			if err != nil || u.String() != tc.want {
				t.Errorf("got %v, %v; want %s", u, err, tc.want)
			}
		})
	}
}

func TestProxyRest(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/api/v1/nodes/n1/proxy/stats/summary", "stats/summary"},
		{"/api/v1/nodes/n1/proxy", ""},
		{"/api/v1/nodes/n1/proxy/", ""},
		{"/api/v1/nodes/n1/proxy/metrics/resource", "metrics/resource"},
	}
	for _, tc := range tests {
		if got := proxyRest(tc.path, "n1"); got != tc.want {
			t.Errorf("proxyRest(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
