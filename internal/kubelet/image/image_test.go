package image

import (
	"encoding/base64"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
)

func TestNormalizeRef(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "busybox", want: "docker.io/library/busybox:latest"},
		{in: "busybox:1.36", want: "docker.io/library/busybox:1.36"},
		{in: "docker.io/library/busybox", want: "docker.io/library/busybox:latest"},
		{in: "index.docker.io/foo/bar:x", want: "docker.io/foo/bar:x"},
		{in: "127.0.0.1:5000/app:v1", want: "127.0.0.1:5000/app:v1"},
		{in: "quay.io/a/b@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123", want: "quay.io/a/b@sha256:0123456789012345678901234567890123456789012345678901234567890123"},
		{in: "UPPER/case", wantErr: true},
		{in: "", wantErr: true},
		{in: "a:b:c", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeRef(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NormalizeRef(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("NormalizeRef(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestAuthFor(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name     string
		registry string
		configs  []string
		user     string
		pass     string
		anon     bool
		wantErr  bool
	}{
		{name: "no secrets", registry: "r.example", anon: true},
		{name: "dockerconfigjson auth field", registry: "r.example:5000",
			configs: []string{`{"auths":{"r.example:5000":{"auth":"` + b64("alice:s3cret") + `"}}}`}, user: "alice", pass: "s3cret"},
		{name: "username and password", registry: "r.example",
			configs: []string{`{"auths":{"https://r.example/v2/":{"username":"bob","password":"pw"}}}`}, user: "bob", pass: "pw"},
		{name: "legacy dockercfg", registry: "r.example",
			configs: []string{`{"r.example":{"auth":"` + b64("carol:x:y") + `"}}`}, user: "carol", pass: "x:y"},
		{name: "docker hub alias", registry: "index.docker.io",
			configs: []string{`{"auths":{"https://index.docker.io/v1/":{"auth":"` + b64("dave:pw") + `"}}}`}, user: "dave", pass: "pw"},
		{name: "other registry only", registry: "r.example",
			configs: []string{`{"auths":{"other.example":{"auth":"` + b64("e:f") + `"}}}`}, anon: true},
		{name: "second secret matches", registry: "r.example",
			configs: []string{`{"auths":{"other.example":{"auth":"` + b64("e:f") + `"}}}`, `{"auths":{"r.example":{"auth":"` + b64("g:h") + `"}}}`}, user: "g", pass: "h"},
		{name: "not json", registry: "r.example", configs: []string{`nope`}, wantErr: true},
		{name: "bad base64", registry: "r.example", configs: []string{`{"auths":{"r.example":{"auth":"!!!"}}}`}, wantErr: true},
		{name: "no colon", registry: "r.example", configs: []string{`{"auths":{"r.example":{"auth":"` + b64("nocolon") + `"}}}`}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raw [][]byte
			for _, c := range tc.configs {
				raw = append(raw, []byte(c))
			}
			a, err := authFor(tc.registry, raw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if tc.anon {
				if a != authn.Anonymous {
					t.Errorf("got %v, want anonymous", a)
				}
				return
			}
			cfg, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tc.user || cfg.Password != tc.pass {
				t.Errorf("got %q/%q, want %q/%q", cfg.Username, cfg.Password, tc.user, tc.pass)
			}
		})
	}
}
