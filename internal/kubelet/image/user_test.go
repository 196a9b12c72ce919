package image

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1001::/home/app:/bin/sh\nbroken:x:zz:1::/:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "group"), []byte("root:x:0:\nappgrp:x:1001:\nwheel:x:10:app,other\ndocker:x:999:app\n"), 0o644)
	tests := []struct {
		spec    string
		want    User
		wantErr bool
	}{
		{spec: "", want: User{}},
		{spec: "root", want: User{}},
		{spec: "app", want: User{UID: 1000, GID: 1001, AdditionalGIDs: []uint32{10, 999}}},
		{spec: "1000", want: User{UID: 1000, GID: 1001, AdditionalGIDs: []uint32{10, 999}}},
		{spec: "4242", want: User{UID: 4242}},
		{spec: "4242:7", want: User{UID: 4242, GID: 7}},
		{spec: "app:wheel", want: User{UID: 1000, GID: 10, AdditionalGIDs: []uint32{999}}},
		{spec: "nobody", wantErr: true},
		{spec: "app:nogroup", wantErr: true},
		{spec: "broken", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ResolveUser(root, tc.spec)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("user (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestResolveUserStaysInRoot(t *testing.T) {
	// The image's /etc/passwd is a symlink climbing out of the rootfs to
	// a file that names "daemon": the lookup must resolve it inside the
	// rootfs, where it does not exist.
	outer := t.TempDir()
	os.WriteFile(filepath.Join(outer, "hostpasswd"), []byte("daemon:x:1:1::/:/bin/sh\n"), 0o644)
	root := filepath.Join(outer, "root")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink("../../hostpasswd", filepath.Join(root, "etc", "passwd"))
	if _, err := ResolveUser(root, "root"); err != nil {
		t.Fatalf("root with no passwd: %v", err)
	}
	if u, err := ResolveUser(root, "daemon"); err == nil {
		t.Errorf("resolved %+v from a file outside the rootfs", u)
	}
}
