package apiserver

import (
	"net/http/httptest"
	"testing"
)

func TestStreamingUpgrade(t *testing.T) {
	tests := []struct {
		name, method, path, upgrade string
		want                        bool
	}{
		{"websocket exec", "GET", "/api/v1/namespaces/ns/pods/p/exec?command=ls", "websocket", true},
		{"websocket attach", "GET", "/api/v1/namespaces/ns/pods/p/attach", "websocket", true},
		{"tunnelled port-forward", "GET", "/api/v1/namespaces/ns/pods/p/portforward", "websocket", true},
		{"SPDY exec is a POST (create already)", "POST", "/api/v1/namespaces/ns/pods/p/exec?command=ls", "SPDY/3.1", false},
		{"plain GET of exec", "GET", "/api/v1/namespaces/ns/pods/p/exec?command=ls", "", false},
		{"logs", "GET", "/api/v1/namespaces/ns/pods/p/log", "websocket", false},
		{"other group", "GET", "/apis/example.com/v1/namespaces/ns/pods/p/exec", "websocket", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.upgrade != "" {
				r.Header.Set("Connection", "Upgrade")
				r.Header.Set("Upgrade", tc.upgrade)
			}
			if got := streamingUpgrade(parseRequestInfo(r), r); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
