package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateObjectMeta(t *testing.T) {
	tests := []struct {
		name       string
		meta       metav1.ObjectMeta
		namespaced bool
		want       []string
	}{
		{name: "valid", meta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}, namespaced: true},
		{name: "generated name", meta: metav1.ObjectMeta{Name: "web-x7k2p", GenerateName: "web-", Namespace: "ns"}, namespaced: true},
		{name: "bad generateName", meta: metav1.ObjectMeta{Name: "x", GenerateName: "Web_", Namespace: "ns"}, namespaced: true, want: want(invalid, "metadata.generateName")},
		{name: "no name", meta: metav1.ObjectMeta{Namespace: "ns"}, namespaced: true, want: want(required, "metadata.name")},
		{name: "namespace on cluster-scoped", meta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}, want: want(forbidden, "metadata.namespace")},
		{name: "bad namespace", meta: metav1.ObjectMeta{Name: "a", Namespace: "Ns"}, namespaced: true, want: want(invalid, "metadata.namespace")},
		{name: "bad annotation key", meta: metav1.ObjectMeta{Name: "a", Annotations: map[string]string{"a b": "x"}}, want: want(invalid, "metadata.annotations")},
		{name: "annotations too large", meta: metav1.ObjectMeta{Name: "a", Annotations: map[string]string{"big": strings.Repeat("x", 256*1024)}},
			want: want(tooLong, "metadata.annotations")},
		{name: "owner reference without uid", meta: metav1.ObjectMeta{Name: "a", OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs"}}},
			want: want(required, "metadata.ownerReferences[0].uid")},
		{name: "two controllers", meta: metav1.ObjectMeta{Name: "a", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "A", Name: "a", UID: "1", Controller: ptr(true)}, {APIVersion: "v1", Kind: "B", Name: "b", UID: "2", Controller: ptr(true)}}},
			want: want(invalid, "metadata.ownerReferences")},
		{name: "bad finalizer", meta: metav1.ObjectMeta{Name: "a", Finalizers: []string{"bad finalizer"}}, want: want(invalid, "metadata.finalizers")},
		{name: "negative generation", meta: metav1.ObjectMeta{Name: "a", Generation: -1}, want: want(invalid, "metadata.generation")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, ValidateObjectMeta(&tc.meta, tc.namespaced, NameIsDNSSubdomain, field.NewPath("metadata")), tc.want)
		})
	}
}

func TestValidateObjectMetaUpdate(t *testing.T) {
	now := metav1.NewTime(time.Unix(1700000000, 0))
	old := metav1.ObjectMeta{Name: "a", Namespace: "ns", UID: "u1", ResourceVersion: "5", Generation: 2, CreationTimestamp: now}
	tests := []struct {
		name   string
		mutate func(m *metav1.ObjectMeta)
		want   []string
	}{
		{name: "labels", mutate: func(m *metav1.ObjectMeta) { m.Labels = map[string]string{"a": "b"} }},
		{name: "name", mutate: func(m *metav1.ObjectMeta) { m.Name = "b" }, want: want(invalid, "metadata.name")},
		{name: "namespace", mutate: func(m *metav1.ObjectMeta) { m.Namespace = "other" }, want: want(invalid, "metadata.namespace")},
		{name: "uid", mutate: func(m *metav1.ObjectMeta) { m.UID = "u2" }, want: want(invalid, "metadata.uid")},
		{name: "creationTimestamp", mutate: func(m *metav1.ObjectMeta) { m.CreationTimestamp = metav1.NewTime(now.Add(time.Hour)) },
			want: want(invalid, "metadata.creationTimestamp")},
		{name: "generation decrement", mutate: func(m *metav1.ObjectMeta) { m.Generation = 1 }, want: want(invalid, "metadata.generation")},
		{name: "bad label", mutate: func(m *metav1.ObjectMeta) { m.Labels = map[string]string{"-x": "y"} }, want: want(invalid, "metadata.labels")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := *old.DeepCopy()
			tc.mutate(&m)
			checkErrs(t, ValidateObjectMetaUpdate(&m, &old, field.NewPath("metadata")), tc.want)
		})
	}
	deleting := *old.DeepCopy()
	deleting.DeletionTimestamp = &now
	m := *deleting.DeepCopy()
	m.Finalizers = []string{"example.com/new"}
	checkErrs(t, ValidateObjectMetaUpdate(&m, &deleting, field.NewPath("metadata")), want(forbidden, "metadata.finalizers"))
}

func TestValidateNamespace(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes", "example.com/cleanup"}}}
	checkErrs(t, ValidateNamespace(ns), nil)
	bad := ns.DeepCopy()
	bad.Name = "team.a"
	bad.Spec.Finalizers = []corev1.FinalizerName{"cleanup"}
	checkErrs(t, ValidateNamespace(bad), want(invalid, "metadata.name", invalid, "spec.finalizers[0]"))

	ns.ResourceVersion = "1"
	ns.Status.Phase = corev1.NamespaceActive
	st := ns.DeepCopy()
	st.Status.Phase = corev1.NamespaceTerminating
	checkErrs(t, ValidateNamespaceStatusUpdate(st, ns), want(invalid, "status.phase"))
	fin := ns.DeepCopy()
	fin.Spec.Finalizers = nil
	checkErrs(t, ValidateNamespaceFinalizeUpdate(fin, ns), nil)
	checkErrs(t, ValidateNamespaceUpdate(fin, ns), nil)
}

func TestValidateNode(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1.example.com"},
		Spec: corev1.NodeSpec{PodCIDR: "10.42.1.0/24", PodCIDRs: []string{"10.42.1.0/24", "fd00:42:1::/64"},
			Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("2"), "pods": resource.MustParse("110")},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.5"}}},
	}
	checkErrs(t, ValidateNode(node), nil)
	tests := []struct {
		name   string
		mutate func(n *corev1.Node)
		want   []string
	}{
		{name: "two IPv4 CIDRs", mutate: func(n *corev1.Node) { n.Spec.PodCIDRs[1] = "10.43.0.0/24" }, want: want(invalid, "spec.podCIDRs")},
		{name: "bad CIDR", mutate: func(n *corev1.Node) { n.Spec.PodCIDR, n.Spec.PodCIDRs = "", []string{"10.42.1.0/33"} }, want: want(invalid, "spec.podCIDRs[0]")},
		{name: "podCIDR mismatch", mutate: func(n *corev1.Node) { n.Spec.PodCIDR = "10.42.2.0/24" }, want: want(invalid, "spec.podCIDR")},
		{name: "taint without effect", mutate: func(n *corev1.Node) { n.Spec.Taints[0].Effect = "" }, want: want(required, "spec.taints[0].effect")},
		{name: "duplicate taint", mutate: func(n *corev1.Node) { n.Spec.Taints = append(n.Spec.Taints, n.Spec.Taints[0]) }, want: want(duplicate, "spec.taints[1]")},
		{name: "negative capacity", mutate: func(n *corev1.Node) { n.Status.Capacity["cpu"] = resource.MustParse("-1") }, want: want(invalid, "status.capacity[cpu]")},
		{name: "address type", mutate: func(n *corev1.Node) { n.Status.Addresses[0].Type = "Public" }, want: want(notSupported, "status.addresses[0].type")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := node.DeepCopy()
			tc.mutate(n)
			checkErrs(t, ValidateNode(n), tc.want)
		})
	}
	node.ResourceVersion = "1"
	up := node.DeepCopy()
	up.Spec.PodCIDR, up.Spec.PodCIDRs = "10.42.9.0/24", []string{"10.42.9.0/24"}
	up.Spec.Unschedulable = true
	checkErrs(t, ValidateNodeUpdate(up, node), want(forbidden, "spec.podCIDRs"))
	fresh := node.DeepCopy()
	fresh.Spec.PodCIDR, fresh.Spec.PodCIDRs = "", nil
	checkErrs(t, ValidateNodeUpdate(node, fresh), nil)
	st := node.DeepCopy()
	st.Status.Allocatable = corev1.ResourceList{"memory": resource.MustParse("-5")}
	checkErrs(t, ValidateNodeStatusUpdate(st, node), want(invalid, "status.allocatable[memory]"))
}

func TestValidateConfigMap(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
		Data: map[string]string{"app.conf": "x=1", ".hidden": "y"}, BinaryData: map[string][]byte{"logo.png": {1, 2}}}
	checkErrs(t, ValidateConfigMap(cm), nil)
	tests := []struct {
		name   string
		mutate func(c *corev1.ConfigMap)
		want   []string
	}{
		{name: "bad key", mutate: func(c *corev1.ConfigMap) { c.Data["a/b"] = "x" }, want: want(invalid, "data[a/b]")},
		{name: "dot dot key", mutate: func(c *corev1.ConfigMap) { c.Data[".."] = "x" }, want: want(invalid, "data[..]")},
		{name: "key in both", mutate: func(c *corev1.ConfigMap) { c.BinaryData["app.conf"] = []byte("x") }, want: want(invalid, "data[app.conf]")},
		{name: "too large", mutate: func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", MaxConfigSize) }, want: want(tooLong, "[]")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cm.DeepCopy()
			tc.mutate(c)
			checkErrs(t, ValidateConfigMap(c), tc.want)
		})
	}
	cm.ResourceVersion = "1"
	cm.Immutable = ptr(true)
	up := cm.DeepCopy()
	up.Data["app.conf"] = "x=2"
	up.Immutable = ptr(false)
	checkErrs(t, ValidateConfigMapUpdate(up, cm), want(forbidden, "data", forbidden, "immutable"))
	up = cm.DeepCopy()
	up.Labels = map[string]string{"a": "b"}
	checkErrs(t, ValidateConfigMapUpdate(up, cm), nil)
}

func TestValidateSecret(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "s", Namespace: "default"}
	tests := []struct {
		name   string
		secret corev1.Secret
		want   []string
	}{
		{name: "opaque", secret: corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("x")}}},
		{name: "tls", secret: corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}}},
		{name: "tls without key", secret: corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil}},
			want: want(required, "data[tls.key]")},
		{name: "docker config json", secret: corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)}}},
		{name: "docker config json not json", secret: corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{".dockerconfigjson": []byte(`{`)}},
			want: want(invalid, "data[.dockerconfigjson]")},
		{name: "basic auth empty", secret: corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeBasicAuth},
			want: want(required, "data[username]", required, "data[password]")},
		{name: "ssh", secret: corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeSSHAuth}, want: want(required, "data[ssh-privatekey]")},
		{name: "service account token", secret: corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeServiceAccountToken},
			want: want(required, "metadata.annotations[kubernetes.io/service-account.name]")},
		{name: "bad key", secret: corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{"a b": nil}}, want: want(invalid, "data[a b]")},
		{name: "too large", secret: corev1.Secret{ObjectMeta: meta, Data: map[string][]byte{"big": make([]byte, MaxConfigSize+1)}}, want: want(tooLong, "data")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, ValidateSecret(&tc.secret), tc.want)
		})
	}
	old := &corev1.Secret{ObjectMeta: meta, Type: corev1.SecretTypeOpaque}
	old.ResourceVersion = "1"
	up := old.DeepCopy()
	up.Type = corev1.SecretTypeBasicAuth
	up.Data = map[string][]byte{"username": []byte("u")}
	checkErrs(t, ValidateSecretUpdate(up, old), want(invalid, "type"))
}

func TestValidateServiceAccount(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "ci"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}
	checkErrs(t, ValidateServiceAccount(sa), nil)
	sa.Name = "Builder"
	checkErrs(t, ValidateServiceAccount(sa), want(invalid, "metadata.name"))
}

func TestValidateEndpoints(t *testing.T) {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.42.0.5", NodeName: ptr("node-1")}},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}, {Name: "https", Port: 8443, Protocol: corev1.ProtocolTCP}},
	}}}
	checkErrs(t, ValidateEndpoints(ep), nil)
	bad := ep.DeepCopy()
	bad.Subsets[0].Addresses[0].IP = "127.0.0.1"
	bad.Subsets[0].Ports[1].Name = ""
	bad.Subsets[0].Ports[0].Protocol = ""
	bad.Subsets = append(bad.Subsets, corev1.EndpointSubset{})
	checkErrs(t, ValidateEndpoints(bad), want(invalid, "subsets[0].addresses[0].ip", required, "subsets[0].ports[1].name",
		required, "subsets[0].ports[0].protocol", required, "subsets[1]"))
	ep.ResourceVersion = "1"
	checkErrs(t, ValidateEndpointsUpdate(ep, ep.DeepCopy()), nil)
}

func TestValidateEndpointSlice(t *testing.T) {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "default"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}, NodeName: ptr("node-1")}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}},
	}
	checkErrs(t, ValidateEndpointSlice(es), nil)
	tests := []struct {
		name   string
		mutate func(e *discoveryv1.EndpointSlice)
		want   []string
	}{
		{name: "address type", mutate: func(e *discoveryv1.EndpointSlice) { e.AddressType = "IPv5" }, want: want(notSupported, "addressType")},
		{name: "IPv6 in IPv4 slice", mutate: func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses[0] = "fd00::5" }, want: want(invalid, "endpoints[0].addresses[0]")},
		{name: "no address", mutate: func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = nil }, want: want(required, "endpoints[0].addresses")},
		{name: "duplicate port name", mutate: func(e *discoveryv1.EndpointSlice) { e.Ports = append(e.Ports, e.Ports[0]) }, want: want(duplicate, "ports[1].name")},
		{name: "protocol missing", mutate: func(e *discoveryv1.EndpointSlice) { e.Ports[0].Protocol = nil }, want: want(required, "ports[0].protocol")},
		{name: "fqdn", mutate: func(e *discoveryv1.EndpointSlice) {
			e.AddressType = discoveryv1.AddressTypeFQDN
			e.Endpoints[0].Addresses[0] = "Not A Name"
		}, want: want(invalid, "endpoints[0].addresses[0]")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := es.DeepCopy()
			tc.mutate(e)
			checkErrs(t, ValidateEndpointSlice(e), tc.want)
		})
	}
	es.ResourceVersion = "1"
	up := es.DeepCopy()
	up.AddressType = discoveryv1.AddressTypeIPv6
	up.Endpoints[0].Addresses[0] = "fd00::5"
	checkErrs(t, ValidateEndpointSliceUpdate(up, es), want(invalid, "addressType"))
}

func TestValidateEvents(t *testing.T) {
	legacy := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.17a", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}, Reason: "Started", Type: corev1.EventTypeNormal}
	checkErrs(t, ValidateEvent(legacy), nil)
	other := legacy.DeepCopy()
	other.InvolvedObject.Namespace = "kube-system"
	checkErrs(t, ValidateEvent(other), want(invalid, "involvedObject.namespace"))

	modern := legacy.DeepCopy()
	modern.EventTime = metav1.NewMicroTime(time.Unix(1700000000, 0))
	checkErrs(t, ValidateEvent(modern), want(required, "reportingController", required, "reportingInstance", required, "action"))
	modern.ReportingController, modern.ReportingInstance, modern.Action = "kubelet", "kubelet-node-1", "Start"
	checkErrs(t, ValidateEvent(modern), nil)
	modern.ResourceVersion = "1"
	up := modern.DeepCopy()
	up.Reason = "Killed"
	checkErrs(t, ValidateEventUpdate(up, modern), want(invalid, "reason"))

	ev := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.17b", Namespace: "default"}, EventTime: metav1.NewMicroTime(time.Unix(1700000000, 0)),
		ReportingController: "example.com/ctl", ReportingInstance: "ctl-1", Action: "Scale", Reason: "Scaled", Type: corev1.EventTypeWarning,
		Regarding: corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web"}, Note: "scaled"}
	checkErrs(t, ValidateEventsEvent(ev), nil)
	bad := ev.DeepCopy()
	bad.Type = "Info"
	bad.Note = strings.Repeat("x", 1025)
	bad.Series = &eventsv1.EventSeries{Count: 1}
	checkErrs(t, ValidateEventsEvent(bad), want(notSupported, "type", tooLong, "note", invalid, "series.count", required, "series.lastObservedTime"))
	ev.ResourceVersion = "1"
	up2 := ev.DeepCopy()
	up2.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Unix(1700000100, 0))}
	checkErrs(t, ValidateEventsEventUpdate(up2, ev), nil)
	up2.Action = "Other"
	checkErrs(t, ValidateEventsEventUpdate(up2, ev), want(invalid, "action"))
}

func TestValidateEviction(t *testing.T) {
	checkErrs(t, ValidateEviction(&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"}}), nil)
	checkErrs(t, ValidateEviction(&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: "default"},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(-2))}}),
		want(required, "metadata.name", invalid, "deleteOptions.gracePeriodSeconds"))
}
