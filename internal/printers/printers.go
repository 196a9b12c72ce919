// Package printers turns API objects into the metav1.Table that
// `kubectl get` asks for with `Accept: application/json;as=Table`: for every
// type the API server serves, exactly the columns of kube-apiserver's
// printers (names, types, formats, descriptions, priority 1 for the
// `-o wide` ones) and rows whose cells are formatted the same way (pod
// status reasons, "1/2" readiness, "3 (5m ago)" restarts, human ages).
//
// Like kube-apiserver, Table always fills every column, wide ones included;
// kubectl hides priority-1 columns unless asked for -o wide.
//
// The apiserver's strategies and request pipeline import this package; it
// imports only k8s.io libraries.
package printers

import (
	"errors"
	"fmt"
	"time"

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
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// ErrUnsupported is returned (wrapped) by Table for objects it has no
// columns for.
var ErrUnsupported = errors.New("no table columns for this type")

// Table returns obj — one object or a list of any served type — as a
// metav1.Table, with ages computed relative to now.
//
// The table carries every column definition (the caller drops them for
// TableOptions.NoHeaders), one row per object, and the list's
// resourceVersion, continue token and remaining item count (or the
// object's resourceVersion). Row.Object is left empty: the caller fills it
// as the request's includeObject asks. TypeMeta is left empty too: the
// caller sets meta.k8s.io/v1 or v1beta1 Table as requested.
func Table(obj runtime.Object, now time.Time) (*metav1.Table, error) {
	columns, rows, err := generate(obj, now)
	if err != nil {
		return nil, err
	}
	t := &metav1.Table{ColumnDefinitions: columns, Rows: rows}
	if t.Rows == nil {
		t.Rows = []metav1.TableRow{}
	}
	if l, err := meta.ListAccessor(obj); err == nil {
		t.ResourceVersion = l.GetResourceVersion()
		t.Continue = l.GetContinue()
		t.RemainingItemCount = l.GetRemainingItemCount()
	} else if m, err := meta.CommonAccessor(obj); err == nil {
		t.ResourceVersion = m.GetResourceVersion()
	}
	return t, nil
}

// generate dispatches on obj's type: each case names the columns and the
// function making one object's row.
func generate(obj runtime.Object, now time.Time) ([]metav1.TableColumnDefinition, []metav1.TableRow, error) {
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		return podColumns(), one(o, now, podRow), nil
	case *corev1.PodList:
		return podColumns(), each(o.Items, now, podRow), nil
	case *corev1.Node:
		return nodeColumns(), one(o, now, nodeRow), nil
	case *corev1.NodeList:
		return nodeColumns(), each(o.Items, now, nodeRow), nil
	case *corev1.Namespace:
		return namespaceColumns(), one(o, now, namespaceRow), nil
	case *corev1.NamespaceList:
		return namespaceColumns(), each(o.Items, now, namespaceRow), nil
	case *corev1.Service:
		return serviceColumns(), one(o, now, serviceRow), nil
	case *corev1.ServiceList:
		return serviceColumns(), each(o.Items, now, serviceRow), nil
	case *corev1.Endpoints:
		return endpointsColumns(), one(o, now, endpointsRow), nil
	case *corev1.EndpointsList:
		return endpointsColumns(), each(o.Items, now, endpointsRow), nil
	case *corev1.ConfigMap:
		return configMapColumns(), one(o, now, configMapRow), nil
	case *corev1.ConfigMapList:
		return configMapColumns(), each(o.Items, now, configMapRow), nil
	case *corev1.Secret:
		return secretColumns(), one(o, now, secretRow), nil
	case *corev1.SecretList:
		return secretColumns(), each(o.Items, now, secretRow), nil
	case *corev1.ServiceAccount:
		return serviceAccountColumns(), one(o, now, serviceAccountRow), nil
	case *corev1.ServiceAccountList:
		return serviceAccountColumns(), each(o.Items, now, serviceAccountRow), nil
	case *corev1.Event:
		return eventColumns(), one(o, now, eventRow), nil
	case *corev1.EventList:
		return eventColumns(), each(o.Items, now, eventRow), nil
	case *corev1.PersistentVolume:
		return persistentVolumeColumns(), one(o, now, persistentVolumeRow), nil
	case *corev1.PersistentVolumeList:
		return persistentVolumeColumns(), each(o.Items, now, persistentVolumeRow), nil
	case *corev1.PersistentVolumeClaim:
		return persistentVolumeClaimColumns(), one(o, now, persistentVolumeClaimRow), nil
	case *corev1.PersistentVolumeClaimList:
		return persistentVolumeClaimColumns(), each(o.Items, now, persistentVolumeClaimRow), nil
	case *corev1.ResourceQuota:
		return resourceQuotaColumns(), one(o, now, resourceQuotaRow), nil
	case *corev1.ResourceQuotaList:
		return resourceQuotaColumns(), each(o.Items, now, resourceQuotaRow), nil
	case *corev1.LimitRange:
		return defaultColumns(), one(o, now, defaultRow[*corev1.LimitRange]), nil
	case *corev1.LimitRangeList:
		return defaultColumns(), each(o.Items, now, defaultRow[*corev1.LimitRange]), nil
	// apps/v1
	case *appsv1.Deployment:
		return deploymentColumns(), one(o, now, deploymentRow), nil
	case *appsv1.DeploymentList:
		return deploymentColumns(), each(o.Items, now, deploymentRow), nil
	case *appsv1.ReplicaSet:
		return replicaSetColumns(), one(o, now, replicaSetRow), nil
	case *appsv1.ReplicaSetList:
		return replicaSetColumns(), each(o.Items, now, replicaSetRow), nil
	case *appsv1.StatefulSet:
		return statefulSetColumns(), one(o, now, statefulSetRow), nil
	case *appsv1.StatefulSetList:
		return statefulSetColumns(), each(o.Items, now, statefulSetRow), nil
	case *appsv1.DaemonSet:
		return daemonSetColumns(), one(o, now, daemonSetRow), nil
	case *appsv1.DaemonSetList:
		return daemonSetColumns(), each(o.Items, now, daemonSetRow), nil
	case *appsv1.ControllerRevision:
		return controllerRevisionColumns(), one(o, now, controllerRevisionRow), nil
	case *appsv1.ControllerRevisionList:
		return controllerRevisionColumns(), each(o.Items, now, controllerRevisionRow), nil
	// batch/v1
	case *batchv1.Job:
		return jobColumns(), one(o, now, jobRow), nil
	case *batchv1.JobList:
		return jobColumns(), each(o.Items, now, jobRow), nil
	case *batchv1.CronJob:
		return cronJobColumns(), one(o, now, cronJobRow), nil
	case *batchv1.CronJobList:
		return cronJobColumns(), each(o.Items, now, cronJobRow), nil
	// discovery.k8s.io/v1
	case *discoveryv1.EndpointSlice:
		return endpointSliceColumns(), one(o, now, endpointSliceRow), nil
	case *discoveryv1.EndpointSliceList:
		return endpointSliceColumns(), each(o.Items, now, endpointSliceRow), nil
	// coordination.k8s.io/v1
	case *coordinationv1.Lease:
		return leaseColumns(), one(o, now, leaseRow), nil
	case *coordinationv1.LeaseList:
		return leaseColumns(), each(o.Items, now, leaseRow), nil
	// rbac.authorization.k8s.io/v1
	case *rbacv1.Role:
		return defaultColumns(), one(o, now, defaultRow[*rbacv1.Role]), nil
	case *rbacv1.RoleList:
		return defaultColumns(), each(o.Items, now, defaultRow[*rbacv1.Role]), nil
	case *rbacv1.ClusterRole:
		return defaultColumns(), one(o, now, defaultRow[*rbacv1.ClusterRole]), nil
	case *rbacv1.ClusterRoleList:
		return defaultColumns(), each(o.Items, now, defaultRow[*rbacv1.ClusterRole]), nil
	case *rbacv1.RoleBinding:
		return roleBindingColumns("roleBinding"), one(o, now, roleBindingRow), nil
	case *rbacv1.RoleBindingList:
		return roleBindingColumns("roleBinding"), each(o.Items, now, roleBindingRow), nil
	case *rbacv1.ClusterRoleBinding:
		return roleBindingColumns("clusterRoleBinding"), one(o, now, clusterRoleBindingRow), nil
	case *rbacv1.ClusterRoleBindingList:
		return roleBindingColumns("clusterRoleBinding"), each(o.Items, now, clusterRoleBindingRow), nil
	// storage.k8s.io/v1
	case *storagev1.StorageClass:
		return storageClassColumns(), one(o, now, storageClassRow), nil
	case *storagev1.StorageClassList:
		return storageClassColumns(), each(o.Items, now, storageClassRow), nil
	// node.k8s.io/v1
	case *nodev1.RuntimeClass:
		return runtimeClassColumns(), one(o, now, runtimeClassRow), nil
	case *nodev1.RuntimeClassList:
		return runtimeClassColumns(), each(o.Items, now, runtimeClassRow), nil
	// autoscaling
	case *autoscalingv2.HorizontalPodAutoscaler:
		return hpaColumns(), one(o, now, hpaRow), nil
	case *autoscalingv2.HorizontalPodAutoscalerList:
		return hpaColumns(), each(o.Items, now, hpaRow), nil
	case *autoscalingv1.Scale:
		return scaleColumns(), one(o, now, scaleRow), nil
	// policy/v1
	case *policyv1.PodDisruptionBudget:
		return pdbColumns(), one(o, now, pdbRow), nil
	case *policyv1.PodDisruptionBudgetList:
		return pdbColumns(), each(o.Items, now, pdbRow), nil
	// events.k8s.io/v1
	case *eventsv1.Event:
		return eventColumns(), one(o, now, eventsV1Row), nil
	case *eventsv1.EventList:
		return eventColumns(), each(o.Items, now, eventsV1Row), nil
	// meta
	case *metav1.Status:
		return statusColumns(), []metav1.TableRow{statusRow(o)}, nil
	}
	return nil, nil, fmt.Errorf("printing %T as a table: %w", obj, ErrUnsupported)
}

// one makes the single row of one object.
func one[T any](obj *T, now time.Time, row func(*T, time.Time) metav1.TableRow) []metav1.TableRow {
	return []metav1.TableRow{row(obj, now)}
}

// each makes one row per list item.
func each[T any](items []T, now time.Time, row func(*T, time.Time) metav1.TableRow) []metav1.TableRow {
	rows := make([]metav1.TableRow, 0, len(items))
	for i := range items {
		rows = append(rows, row(&items[i], now))
	}
	return rows
}

// cells makes a row of the given cells.
func cells(c ...interface{}) metav1.TableRow { return metav1.TableRow{Cells: c} }

// metaDoc describes an ObjectMeta field.
func metaDoc(field string) string { return metav1.ObjectMeta{}.SwaggerDoc()[field] }

func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metaDoc("name")}
}

func ageColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metaDoc("creationTimestamp")}
}

func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide marks a column as shown only by `kubectl get -o wide`.
func wide(c metav1.TableColumnDefinition) metav1.TableColumnDefinition {
	c.Priority = 1
	return c
}

func containersColumn() metav1.TableColumnDefinition {
	return wide(column("Containers", "string", "Names of each container in the template."))
}

func imagesColumn() metav1.TableColumnDefinition {
	return wide(column("Images", "string", "Images referenced by each container in the template."))
}

// age is how long ago t was, as kubectl shows ages ("5m", "3d4h"), or
// "<unknown>" for a zero time.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// defaultColumns are the columns kube-apiserver shows for types without a
// printer of their own (Role, ClusterRole, LimitRange).
func defaultColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("Created At", "date", metaDoc("creationTimestamp")),
	}
}

func defaultRow[T metav1.Object](obj T, _ time.Time) metav1.TableRow {
	return cells(obj.GetName(), obj.GetCreationTimestamp().UTC().Format(time.RFC3339))
}

func statusColumns() []metav1.TableColumnDefinition {
	doc := metav1.Status{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		column("Status", "string", doc["status"]),
		column("Reason", "string", doc["reason"]),
		column("Message", "string", doc["Message"]),
	}
}

func statusRow(s *metav1.Status) metav1.TableRow {
	return cells(s.Status, string(s.Reason), s.Message)
}
