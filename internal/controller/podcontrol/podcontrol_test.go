package podcontrol

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func template() *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}, Annotations: map[string]string{"k": "v"}, Finalizers: []string{"f"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
}

func TestFromTemplate(t *testing.T) {
	tmpl := template()
	tr := true
	ref := &metav1.OwnerReference{Kind: "ReplicaSet", Name: "rs", UID: "u", Controller: &tr}
	p := FromTemplate(tmpl, "ns", "rs-", ref)
	if p.Namespace != "ns" || p.GenerateName != "rs-" || p.Labels["app"] != "a" || p.Annotations["k"] != "v" ||
		len(p.Finalizers) != 1 || len(p.OwnerReferences) != 1 || p.Spec.Containers[0].Image != "i" {
		t.Errorf("pod = %+v", p)
	}
	p.Labels["app"] = "changed"
	if tmpl.Labels["app"] != "a" {
		t.Error("FromTemplate shares maps with the template")
	}
}

func TestCreateAndDeleteRecordEvents(t *testing.T) {
	client := fake.NewClientset()
	rec := record.NewFakeRecorder(10)
	pc := New(client, rec)
	owner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "owner"}}
	pod := FromTemplate(template(), "ns", "", nil)
	pod.Name = "p1"
	if _, err := pc.CreatePod(context.Background(), pod, owner); err != nil {
		t.Fatal(err)
	}
	if err := pc.DeletePod(context.Background(), "ns", "p1", "", owner); err != nil {
		t.Fatal(err)
	}
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("quota")
	})
	if _, err := pc.CreatePod(context.Background(), pod, owner); err == nil {
		t.Error("create error not returned")
	}
	unlabelled := pod.DeepCopy()
	unlabelled.Labels = nil
	if _, err := pc.CreatePod(context.Background(), unlabelled, owner); err == nil || !strings.Contains(err.Error(), "no labels") {
		t.Errorf("unlabelled pod: %v", err)
	}
	var got []string
	for len(rec.Events) > 0 {
		got = append(got, strings.Fields(<-rec.Events)[1])
	}
	want := "SuccessfulCreate SuccessfulDelete FailedCreate"
	if strings.Join(got, " ") != want {
		t.Errorf("events = %v, want %s", got, want)
	}
}
