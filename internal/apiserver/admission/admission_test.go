package admission_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/admission"
	"github.com/podvisor/podvisor/internal/registry"
)

// fakeObjects serves objects from memory, by resource.
type fakeObjects map[schema.GroupResource][]runtime.Object

func (f fakeObjects) Get(_ context.Context, gr schema.GroupResource, ns, name string) (runtime.Object, error) {
	for _, o := range f[gr] {
		m := o.(metav1.Object)
		if m.GetNamespace() == ns && m.GetName() == name {
			return o, nil
		}
	}
	return nil, apierrors.NewNotFound(gr, name)
}

func (f fakeObjects) List(_ context.Context, gr schema.GroupResource, ns string, _ bool) ([]runtime.Object, error) {
	var out []runtime.Object
	for _, o := range f[gr] {
		if o.(metav1.Object).GetNamespace() == ns {
			out = append(out, o)
		}
	}
	return out, nil
}

func (f fakeObjects) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	o, err := f.Get(ctx, schema.GroupResource{Resource: "namespaces"}, "", name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Namespace), nil
}

type quotaWrites map[string]corev1.ResourceList

func (w quotaWrites) SetQuotaUsed(_ context.Context, ns, name string, used corev1.ResourceList) error {
	w[ns+"/"+name] = used
	return nil
}

var (
	podsInfo = registry.Info{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true}
	cmInfo   = registry.Info{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true}
	podsGR   = schema.GroupResource{Resource: "pods"}
)

func q(s string) resource.Quantity { return resource.MustParse(s) }

func newPod(name string, req, lim corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}}}}
}

func TestLifecycle(t *testing.T) {
	objs := fakeObjects{schema.GroupResource{Resource: "namespaces"}: {
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ok"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dying"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	}}
	l := &admission.Lifecycle{Namespaces: objs}
	nsInfo := registry.Info{Version: "v1", Resource: "namespaces", Kind: "Namespace"}
	tests := []struct {
		name string
		a    admission.Attributes
		want func(error) bool
	}{
		{"create in active namespace", admission.Attributes{Operation: admission.Create, Resource: cmInfo, Namespace: "ok"}, func(err error) bool { return err == nil }},
		{"create in missing namespace", admission.Attributes{Operation: admission.Create, Resource: cmInfo, Namespace: "nope"}, apierrors.IsNotFound},
		{"create in terminating namespace", admission.Attributes{Operation: admission.Create, Resource: cmInfo, Namespace: "dying"}, apierrors.IsForbidden},
		{"update in terminating namespace", admission.Attributes{Operation: admission.Update, Resource: cmInfo, Namespace: "dying"}, func(err error) bool { return err == nil }},
		{"delete kube-system", admission.Attributes{Operation: admission.Delete, Resource: nsInfo, Name: "kube-system"}, apierrors.IsForbidden},
		{"delete another namespace", admission.Attributes{Operation: admission.Delete, Resource: nsInfo, Name: "ok"}, func(err error) bool { return err == nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := l.Validate(context.Background(), &tc.a); !tc.want(err) {
				t.Errorf("got %v", err)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": q("2"), "requests.cpu": q("1")}}}
	existing := newPod("old", corev1.ResourceList{corev1.ResourceCPU: q("600m")}, nil)
	done := newPod("done", corev1.ResourceList{corev1.ResourceCPU: q("900m")}, nil)
	done.Status.Phase = corev1.PodSucceeded
	objs := fakeObjects{
		schema.GroupResource{Resource: "resourcequotas"}: {quota},
		podsGR: {existing, done},
	}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		wantErr string
		wantCPU string
	}{
		{"fits", newPod("a", corev1.ResourceList{corev1.ResourceCPU: q("400m")}, nil), "", "1"},
		{"over cpu", newPod("b", corev1.ResourceList{corev1.ResourceCPU: q("500m")}, nil), "exceeded quota: q, requested: pods=1,requests.cpu=500m, used: pods=1,requests.cpu=600m, limited: pods=2,requests.cpu=1", ""},
		{"no cpu request", newPod("c", nil, nil), "failed quota: q: must specify requests.cpu for: c", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := quotaWrites{}
			p := &admission.Quota{Objects: objs, Status: w}
			err := p.Validate(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: podsInfo, Namespace: "ns", Name: tc.pod.Name, Object: tc.pod})
			if tc.wantErr != "" {
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want 403 containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			used := w["ns/q"]
			if c := used["requests.cpu"]; c.String() != tc.wantCPU {
				t.Errorf("status.used requests.cpu = %s, want %s", c.String(), tc.wantCPU)
			}
		})
	}
}

func TestLimitRanger(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:                 corev1.LimitTypeContainer,
		Default:              corev1.ResourceList{corev1.ResourceMemory: q("256Mi")},
		DefaultRequest:       corev1.ResourceList{corev1.ResourceMemory: q("128Mi")},
		Min:                  corev1.ResourceList{corev1.ResourceMemory: q("64Mi")},
		Max:                  corev1.ResourceList{corev1.ResourceMemory: q("1Gi")},
		MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceMemory: q("4")},
	}}}}
	p := &admission.LimitRanger{Objects: fakeObjects{schema.GroupResource{Resource: "limitranges"}: {lr}}}
	tests := []struct {
		name     string
		req, lim corev1.ResourceList
		wantErr  string
		wantReq  string
		wantLim  string
	}{
		{"defaults filled", nil, nil, "", "128Mi", "256Mi"},
		{"explicit kept", corev1.ResourceList{corev1.ResourceMemory: q("100Mi")}, corev1.ResourceList{corev1.ResourceMemory: q("200Mi")}, "", "100Mi", "200Mi"},
		{"below min", corev1.ResourceList{corev1.ResourceMemory: q("32Mi")}, corev1.ResourceList{corev1.ResourceMemory: q("64Mi")}, "minimum memory usage per Container is 64Mi, but request is 32Mi", "", ""},
		{"above max", nil, corev1.ResourceList{corev1.ResourceMemory: q("2Gi")}, "maximum memory usage per Container is 1Gi, but limit is 2Gi", "", ""},
		{"ratio", corev1.ResourceList{corev1.ResourceMemory: q("100Mi")}, corev1.ResourceList{corev1.ResourceMemory: q("800Mi")}, "max limit to request ratio", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := newPod("p", tc.req, tc.lim)
			a := &admission.Attributes{Operation: admission.Create, Resource: podsInfo, Namespace: "ns", Name: "p", Object: pod}
			if err := p.Mutate(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			err := p.Validate(context.Background(), a)
			if tc.wantErr != "" {
				if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want 403 containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := pod.Spec.Containers[0].Resources
			if r.Requests.Memory().String() != tc.wantReq || r.Limits.Memory().String() != tc.wantLim {
				t.Errorf("resources %v / %v, want %s / %s", r.Requests, r.Limits, tc.wantReq, tc.wantLim)
			}
		})
	}
}

func TestServiceAccount(t *testing.T) {
	no := false
	objs := fakeObjects{schema.GroupResource{Resource: "serviceaccounts"}: {
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet", Namespace: "ns"}, AutomountServiceAccountToken: &no},
	}}
	p := &admission.ServiceAccount{Objects: objs}
	tests := []struct {
		name, sa, wantSA string
		wantVolume       bool
	}{
		{"default account with token", "", "default", true},
		{"account opting out", "quiet", "quiet", false},
		{"account not (yet) created", "ghost", "ghost", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := newPod("p", nil, nil)
			pod.Spec.ServiceAccountName = tc.sa
			if err := p.Mutate(context.Background(), &admission.Attributes{Operation: admission.Create, Resource: podsInfo, Namespace: "ns", Object: pod}); err != nil {
				t.Fatal(err)
			}
			hasVol := len(pod.Spec.Volumes) == 1 && pod.Spec.Volumes[0].Projected != nil && len(pod.Spec.Containers[0].VolumeMounts) == 1
			if pod.Spec.ServiceAccountName != tc.wantSA || hasVol != tc.wantVolume {
				t.Errorf("account %q volume %v, want %q %v", pod.Spec.ServiceAccountName, hasVol, tc.wantSA, tc.wantVolume)
			}
		})
	}
}
