package volume

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// readVolume returns what a container sees in dir: visible names
// resolved through their symlinks.
func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	dir, _ = filepath.EvalSymlinks(dir)
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if strings.HasPrefix(rel, "..") {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.IsDir() {
			if info.Mode()&os.ModeSymlink != 0 {
				sub := readVolume(t, p)
				for k, v := range sub {
					out[filepath.Join(rel, k)] = v
				}
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[rel] = string(b) + "|" + st.Mode().Perm().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	steps := []struct {
		name    string
		payload map[string]File
		changed bool
		want    map[string]string
	}{
		{
			name:    "first write",
			payload: map[string]File{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}},
			changed: true,
			want:    map[string]string{"a": "1|-rw-r--r--", "sub/b": "2|-rw-------"},
		},
		{
			name:    "same content",
			payload: map[string]File{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}},
			changed: false,
			want:    map[string]string{"a": "1|-rw-r--r--", "sub/b": "2|-rw-------"},
		},
		{
			name:    "update and remove",
			payload: map[string]File{"a": {Data: []byte("one"), Mode: 0o644}, "c": {Data: []byte("3"), Mode: 0o400}},
			changed: true,
			want:    map[string]string{"a": "one|-rw-r--r--", "c": "3|-r--------"},
		},
		{
			name:    "mode change",
			payload: map[string]File{"a": {Data: []byte("one"), Mode: 0o640}, "c": {Data: []byte("3"), Mode: 0o400}},
			changed: true,
			want:    map[string]string{"a": "one|-rw-r-----", "c": "3|-r--------"},
		},
		{
			name:    "empty",
			payload: map[string]File{},
			changed: true,
			want:    map[string]string{},
		},
	}
	for _, s := range steps {
		changed, err := WriteAtomic(dir, s.payload, -1)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if changed != s.changed {
			t.Errorf("%s: changed %v, want %v", s.name, changed, s.changed)
		}
		if diff := cmp.Diff(s.want, readVolume(t, dir)); diff != "" {
			t.Errorf("%s: content (-want +got):\n%s", s.name, diff)
		}
		ents, _ := os.ReadDir(dir)
		hidden := 0
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "..data_") {
				hidden++
			}
		}
		if hidden != 1 {
			t.Errorf("%s: %d payload dirs left, want 1", s.name, hidden)
		}
	}
}

func TestWriteAtomicRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"/abs", "../x", "a/../../x", "..data", "a//b", ""} {
		if _, err := WriteAtomic(t.TempDir(), map[string]File{p: {Data: []byte("x"), Mode: 0o644}}, -1); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
}

func TestItemsPayload(t *testing.T) {
	data := keyed{"a": []byte("A"), "b": []byte("B")}
	m := int32(0o600)
	def := int32(0o444)
	tests := []struct {
		name     string
		items    []corev1.KeyToPath
		optional bool
		want     map[string]File
		err      string
	}{
		{name: "all keys", want: map[string]File{"a": {Data: []byte("A"), Mode: 0o444}, "b": {Data: []byte("B"), Mode: 0o444}}},
		{name: "items with mode", items: []corev1.KeyToPath{{Key: "a", Path: "dir/x", Mode: &m}}, want: map[string]File{"dir/x": {Data: []byte("A"), Mode: 0o600}}},
		{name: "missing key", items: []corev1.KeyToPath{{Key: "z", Path: "z"}}, err: "configmap references non-existent config key: z"},
		{name: "missing key optional", items: []corev1.KeyToPath{{Key: "z", Path: "z"}}, optional: true, want: map[string]File{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := itemsPayload("configmap", data, tc.items, &def, tc.optional)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDownwardAPI(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u-1",
			Labels: map[string]string{"b": "2", "a": `q"x`}, Annotations: map[string]string{"k": "v"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
		}}}},
	}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	fields := []struct{ path, want string }{
		{"metadata.name", "web"},
		{"metadata.namespace", "ns"},
		{"metadata.uid", "u-1"},
		{"metadata.labels", "a=\"q\\\"x\"\nb=\"2\""},
		{"metadata.annotations", `k="v"`},
		{"metadata.labels['b']", "2"},
		{"metadata.annotations['k']", "v"},
	}
	for _, f := range fields {
		got, err := FieldRef(pod, f.path)
		if err != nil || got != f.want {
			t.Errorf("%s: got %q %v, want %q", f.path, got, err, f.want)
		}
	}
	if _, err := FieldRef(pod, "spec.nodeName"); err == nil {
		t.Errorf("spec.nodeName accepted in a volume")
	}
	res := []struct {
		ref  corev1.ResourceFieldSelector
		want string
	}{
		{corev1.ResourceFieldSelector{Resource: "requests.cpu"}, "1"},
		{corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}, "250"},
		{corev1.ResourceFieldSelector{Resource: "limits.cpu"}, "2"},
		{corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}, "128"},
		{corev1.ResourceFieldSelector{Resource: "requests.memory"}, "67108864"},
		{corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory"}, "134217728"},
	}
	for _, r := range res {
		got, err := ResourceFieldRef(pod, "c", &r.ref, alloc)
		if err != nil || got != r.want {
			t.Errorf("%s/%s: got %q %v, want %q", r.ref.Resource, r.ref.Divisor.String(), got, err, r.want)
		}
	}
	if _, err := ResourceFieldRef(pod, "nope", &corev1.ResourceFieldSelector{Resource: "limits.cpu"}, alloc); err == nil {
		t.Errorf("unknown container accepted")
	}
}

func TestHostPathTypes(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	sock := filepath.Join(base, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	typ := func(s corev1.HostPathType) *corev1.HostPathType { return &s }
	tests := []struct {
		name    string
		path    string
		typ     *corev1.HostPathType
		wantErr bool
		check   func() bool
	}{
		{name: "unset, missing is fine", path: filepath.Join(base, "nothing")},
		{name: "DirectoryOrCreate creates", path: filepath.Join(base, "new/dir"), typ: typ(corev1.HostPathDirectoryOrCreate),
			check: func() bool { st, err := os.Stat(filepath.Join(base, "new/dir")); return err == nil && st.IsDir() }},
		{name: "DirectoryOrCreate on a file", path: file, typ: typ(corev1.HostPathDirectoryOrCreate), wantErr: true},
		{name: "Directory exists", path: base, typ: typ(corev1.HostPathDirectory)},
		{name: "Directory missing", path: filepath.Join(base, "missing"), typ: typ(corev1.HostPathDirectory), wantErr: true},
		{name: "FileOrCreate creates", path: filepath.Join(base, "newfile"), typ: typ(corev1.HostPathFileOrCreate),
			check: func() bool {
				st, err := os.Stat(filepath.Join(base, "newfile"))
				return err == nil && st.Mode().IsRegular()
			}},
		{name: "File exists", path: file, typ: typ(corev1.HostPathFile)},
		{name: "File is a dir", path: base, typ: typ(corev1.HostPathFile), wantErr: true},
		{name: "Socket", path: sock, typ: typ(corev1.HostPathSocket)},
		{name: "Socket is a file", path: file, typ: typ(corev1.HostPathSocket), wantErr: true},
		{name: "CharDevice", path: "/dev/null", typ: typ(corev1.HostPathCharDev)},
		{name: "BlockDevice is not /dev/null", path: "/dev/null", typ: typ(corev1.HostPathBlockDev), wantErr: true},
		{name: "relative", path: "rel/path", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hostPath(tc.path, tc.typ)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check() {
				t.Errorf("not created")
			}
		})
	}
}

func TestSubPath(t *testing.T) {
	base := t.TempDir()
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(base, "escape"))
	os.MkdirAll(filepath.Join(base, "in/deep"), 0o755)
	os.WriteFile(filepath.Join(base, "in/file"), []byte("x"), 0o644)
	root, _ := filepath.EvalSymlinks(base)
	tests := []struct {
		sub     string
		want    string
		wantErr bool
	}{
		{sub: "in/deep", want: filepath.Join(root, "in/deep")},
		{sub: "in/file", want: filepath.Join(root, "in/file")},
		{sub: "new/dirs", want: filepath.Join(root, "new/dirs")},
		{sub: "escape", wantErr: true},
		{sub: "escape/x", wantErr: true},
		{sub: "../x", wantErr: true},
		{sub: "/abs", wantErr: true},
	}
	for _, tc := range tests {
		got, err := SubPath(base, tc.sub)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("SubPath(%q): got %q %v, want %q (error %v)", tc.sub, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Errorf("a directory was created outside the volume")
	}
}

func TestConfigMapVolume(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"}, Data: map[string]string{"k": "v1"}}
	cs := fake.NewClientset(cm)
	m, err := New(Config{PodsDir: t.TempDir()}, Deps{Client: cs})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "opt", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "none"}, Optional: &yes}}},
		{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}}}
	ctx := context.Background()
	vols, err := m.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if got := readVolume(t, vols["c"].HostPath); got["k"] != "v1|-rw-r--r--" {
		t.Errorf("configmap volume: %v", got)
	}
	if got := readVolume(t, vols["d"].HostPath); got["name"] != "p|-rw-r--r--" {
		t.Errorf("downward volume: %v", got)
	}
	if !vols["c"].ReadOnly || vols["e"].ReadOnly {
		t.Errorf("read-only flags: %+v", vols)
	}
	cm.Data["k"] = "v2"
	cs.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{})
	if _, err := m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := readVolume(t, vols["c"].HostPath); got["k"] != "v2|-rw-r--r--" {
		t.Errorf("configmap volume after update: %v", got)
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "bad", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}}}})
	_, err = m.Setup(ctx, pod)
	if err == nil || err.Error() != `MountVolume.SetUp failed for volume "bad" : configmap "missing" not found` {
		t.Errorf("missing configmap: %v", err)
	}
	if err := m.Teardown("u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.PodDir("u1")); !os.IsNotExist(err) {
		t.Errorf("pod dir left after teardown: %v", err)
	}
}

func TestClaimResolution(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pv-data")
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns", UID: "c1"},
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirOrCreate}},
		ClaimRef:               &corev1.ObjectReference{Name: "data", Namespace: "ns", UID: "c1"}}}
	unbound := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "pending", Namespace: "ns"}}
	m, _ := New(Config{PodsDir: t.TempDir()}, Deps{Client: fake.NewClientset(pvc, pv, unbound)})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}}
	got, err := m.setupClaim(context.Background(), pod, &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.HostPath != dir || !got.ReadOnly {
		t.Errorf("got %+v", got)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Errorf("local-path directory not created: %v", err)
	}
	for name, want := range map[string]string{"pending": `persistentvolumeclaim "pending" is not bound`, "nope": `persistentvolumeclaim "nope" not found`} {
		_, err := m.setupClaim(context.Background(), pod, &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name})
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
}

func TestServiceAccountTokenRefresh(t *testing.T) {
	cs := fake.NewClientset()
	issued := 0
	cs.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		issued++
		req := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest)
		if req.Spec.BoundObjectRef == nil || req.Spec.BoundObjectRef.UID != "u1" {
			t.Errorf("token not bound to the pod: %+v", req.Spec.BoundObjectRef)
		}
		out := req.DeepCopy()
		out.Status.Token = "tok" + string(rune('0'+issued))
		return true, out, nil
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, _ := New(Config{PodsDir: t.TempDir()}, Deps{Client: cs, Now: func() time.Time { return now }})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"}, Spec: corev1.PodSpec{ServiceAccountName: "sa"}}
	exp := int64(3600)
	proj := &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &exp, Path: "token"}
	ctx := context.Background()
	tok, err := m.serviceAccountToken(ctx, pod, proj)
	if err != nil || tok != "tok1" {
		t.Fatalf("first token: %q %v", tok, err)
	}
	now = now.Add(47 * time.Minute)
	if tok, _ := m.serviceAccountToken(ctx, pod, proj); tok != "tok1" {
		t.Errorf("at 78%% of its life: got %q, want the cached tok1", tok)
	}
	if next := m.NextTokenRefresh("u1"); !next.Equal(time.Date(2026, 1, 1, 0, 48, 0, 0, time.UTC)) {
		t.Errorf("next refresh at %v, want 00:48", next)
	}
	now = now.Add(2 * time.Minute)
	if tok, _ := m.serviceAccountToken(ctx, pod, proj); tok != "tok2" {
		t.Errorf("past 80%% of its life: got %q, want a new token", tok)
	}
}
