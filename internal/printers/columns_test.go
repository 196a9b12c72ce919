package printers

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestColumnsMatchKubernetes compares each type's columns with those of
// kube-apiserver's printers (pkg/printers/internalversion), written out by
// hand as "Name type [format] [wide]".
func TestColumnsMatchKubernetes(t *testing.T) {
	defaultCols := []string{"Name string name", "Created At date"}
	tests := []struct {
		obj, list runtime.Object
		want      []string
	}{
		{&corev1.Pod{}, &corev1.PodList{}, []string{"Name string name", "Ready string", "Status string", "Restarts string", "Age string",
			"IP string wide", "Node string wide", "Nominated Node string wide", "Readiness Gates string wide"}},
		{&corev1.Node{}, &corev1.NodeList{}, []string{"Name string name", "Status string", "Roles string", "Age string", "Version string",
			"Internal-IP string wide", "External-IP string wide", "OS-Image string wide", "Kernel-Version string wide", "Container-Runtime string wide"}},
		{&corev1.Namespace{}, &corev1.NamespaceList{}, []string{"Name string name", "Status string", "Age string"}},
		{&corev1.Service{}, &corev1.ServiceList{}, []string{"Name string name", "Type string", "Cluster-IP string", "External-IP string",
			"Port(s) string", "Age string", "Selector string wide"}},
		{&corev1.Endpoints{}, &corev1.EndpointsList{}, []string{"Name string name", "Endpoints string", "Age string"}},
		{&corev1.ConfigMap{}, &corev1.ConfigMapList{}, []string{"Name string name", "Data string", "Age string"}},
		{&corev1.Secret{}, &corev1.SecretList{}, []string{"Name string name", "Type string", "Data string", "Age string"}},
		{&corev1.ServiceAccount{}, &corev1.ServiceAccountList{}, []string{"Name string name", "Secrets string", "Age string"}},
		{&corev1.Event{}, &corev1.EventList{}, []string{"Last Seen string", "Type string", "Reason string", "Object string",
			"Subobject string wide", "Source string wide", "Message string", "First Seen string wide", "Count string wide", "Name string name wide"}},
		{&eventsv1.Event{}, &eventsv1.EventList{}, []string{"Last Seen string", "Type string", "Reason string", "Object string",
			"Subobject string wide", "Source string wide", "Message string", "First Seen string wide", "Count string wide", "Name string name wide"}},
		{&corev1.PersistentVolume{}, &corev1.PersistentVolumeList{}, []string{"Name string name", "Capacity string", "Access Modes string",
			"Reclaim Policy string", "Status string", "Claim string", "StorageClass string", "VolumeAttributesClass string", "Reason string",
			"Age string", "VolumeMode string wide"}},
		{&corev1.PersistentVolumeClaim{}, &corev1.PersistentVolumeClaimList{}, []string{"Name string name", "Status string", "Volume string",
			"Capacity string", "Access Modes string", "StorageClass string", "VolumeAttributesClass string", "Age string", "VolumeMode string wide"}},
		{&corev1.ResourceQuota{}, &corev1.ResourceQuotaList{}, []string{"Name string name", "Request string", "Limit string", "Age string"}},
		{&corev1.LimitRange{}, &corev1.LimitRangeList{}, defaultCols},
		{&appsv1.Deployment{}, &appsv1.DeploymentList{}, []string{"Name string name", "Ready string", "Up-to-date string", "Available string",
			"Age string", "Containers string wide", "Images string wide", "Selector string wide"}},
		{&appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{}, []string{"Name string name", "Desired integer", "Current integer", "Ready integer",
			"Age string", "Containers string wide", "Images string wide", "Selector string wide"}},
		{&appsv1.StatefulSet{}, &appsv1.StatefulSetList{}, []string{"Name string name", "Ready string", "Age string",
			"Containers string wide", "Images string wide"}},
		{&appsv1.DaemonSet{}, &appsv1.DaemonSetList{}, []string{"Name string name", "Desired integer", "Current integer", "Ready integer",
			"Up-to-date integer", "Available integer", "Node Selector string", "Age string", "Containers string wide", "Images string wide", "Selector string wide"}},
		{&appsv1.ControllerRevision{}, &appsv1.ControllerRevisionList{}, []string{"Name string name", "Controller string", "Revision string", "Age string"}},
		{&batchv1.Job{}, &batchv1.JobList{}, []string{"Name string name", "Status string", "Completions string", "Duration string", "Age string",
			"Containers string wide", "Images string wide", "Selector string wide"}},
		{&batchv1.CronJob{}, &batchv1.CronJobList{}, []string{"Name string name", "Schedule string", "Timezone string", "Suspend boolean",
			"Active integer", "Last Schedule string", "Age string", "Containers string wide", "Images string wide", "Selector string wide"}},
		{&discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{}, []string{"Name string name", "AddressType string", "Ports string",
			"Endpoints string", "Age string"}},
		{&coordinationv1.Lease{}, &coordinationv1.LeaseList{}, []string{"Name string name", "Holder string", "Age string"}},
		{&rbacv1.Role{}, &rbacv1.RoleList{}, defaultCols},
		{&rbacv1.ClusterRole{}, &rbacv1.ClusterRoleList{}, defaultCols},
		{&rbacv1.RoleBinding{}, &rbacv1.RoleBindingList{}, []string{"Name string name", "Role string", "Age string",
			"Users string wide", "Groups string wide", "ServiceAccounts string wide"}},
		{&rbacv1.ClusterRoleBinding{}, &rbacv1.ClusterRoleBindingList{}, []string{"Name string name", "Role string", "Age string",
			"Users string wide", "Groups string wide", "ServiceAccounts string wide"}},
		{&storagev1.StorageClass{}, &storagev1.StorageClassList{}, []string{"Name string name", "Provisioner string", "ReclaimPolicy string",
			"VolumeBindingMode string", "AllowVolumeExpansion string", "Age string"}},
		{&nodev1.RuntimeClass{}, &nodev1.RuntimeClassList{}, []string{"Name string name", "Handler string", "Age string"}},
		{&autoscalingv2.HorizontalPodAutoscaler{}, &autoscalingv2.HorizontalPodAutoscalerList{}, []string{"Name string name", "Reference string",
			"Targets string", "MinPods string", "MaxPods string", "Replicas string", "Age string"}},
		{&policyv1.PodDisruptionBudget{}, &policyv1.PodDisruptionBudgetList{}, []string{"Name string name", "Min Available string",
			"Max Unavailable string", "Allowed Disruptions integer", "Age string"}},
		{&autoscalingv1.Scale{}, nil, []string{"Name string", "Desired integer", "Available integer", "Age string"}},
		{&metav1.Status{}, nil, []string{"Status string", "Reason string", "Message string"}},
	}
	for _, tc := range tests {
		for _, obj := range []runtime.Object{tc.obj, tc.list} {
			if obj == nil {
				continue
			}
			t.Run(fmt.Sprintf("%T", obj), func(t *testing.T) {
				table, err := Table(obj, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range table.ColumnDefinitions {
					s := c.Name + " " + c.Type
					if c.Format != "" {
						s += " " + c.Format
					}
					if c.Priority == 1 {
						s += " wide"
					}
					got = append(got, s)
					// Kubernetes looks these two up under keys that do
					// not exist, so they have no description there either.
					noDoc := (c.Name == "Handler" || (c.Name == "Message" && fmt.Sprintf("%T", obj) == "*v1.Status"))
					if c.Description == "" && !noDoc {
						t.Errorf("column %s has no description", c.Name)
					}
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("columns (-kubernetes +ours):\n%s", diff)
				}
				for i, r := range table.Rows {
					if len(r.Cells) != len(table.ColumnDefinitions) {
						t.Errorf("row %d has %d cells for %d columns", i, len(r.Cells), len(table.ColumnDefinitions))
					}
				}
			})
		}
	}
}

// TestDescriptionsFromSwaggerDocs spot-checks that column descriptions are
// the API docs Kubernetes uses.
func TestDescriptionsFromSwaggerDocs(t *testing.T) {
	table, err := Table(&corev1.Pod{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Name": metav1.ObjectMeta{}.SwaggerDoc()["name"],
		"Age":  metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"],
		"IP":   corev1.PodStatus{}.SwaggerDoc()["podIP"],
		"Node": corev1.PodSpec{}.SwaggerDoc()["nodeName"],
	}
	for _, c := range table.ColumnDefinitions {
		if w, ok := want[c.Name]; ok && c.Description != w {
			t.Errorf("column %s description %q, want %q", c.Name, c.Description, w)
		}
	}
}
