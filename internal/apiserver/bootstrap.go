package apiserver

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/registry/core/namespaces"
	"github.com/podvisor/podvisor/internal/storage"
)

// systemUser is who the server acts as when it writes its own objects.
var systemUser = &authn.User{Name: "system:apiserver", Groups: []string{"system:masters", "system:authenticated"}}

// SystemNamespaces are created at start.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// bootstrap creates the objects every cluster has: the system namespaces
// and the kubernetes Service with its endpoints.
func (s *Server) bootstrap(ctx context.Context) error {
	for _, name := range SystemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := s.ensure(ctx, "namespaces", ns); err != nil {
			return err
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       s.ipAlloc.First().String(),
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(int32(s.cfg.SecurePort))}},
		},
	}
	if err := s.ensure(ctx, "services", svc); err != nil {
		return err
	}
	return s.reconcileKubernetesEndpoints(ctx)
}

// ensure creates obj in resource if it does not exist.
func (s *Server) ensure(ctx context.Context, resource string, obj runtime.Object) error {
	res := s.byGR[schema.GroupResource{Resource: resource}]
	if res == nil {
		return nil
	}
	res.store.Strategy().Default(obj)
	if _, err := res.store.Create(ctx, obj, rest.CreateOptions{User: systemUser}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s: %w", resource, err)
	}
	return nil
}

// reconcileKubernetesEndpoints points the kubernetes Service's endpoints
// at this server.
func (s *Server) reconcileKubernetesEndpoints(ctx context.Context) error {
	res := s.byGR[schema.GroupResource{Resource: "endpoints"}]
	if res == nil || s.cfg.AdvertiseAddress == nil {
		return nil
	}
	if s.cfg.AdvertiseAddress.IsLoopback() {
		// Pods cannot reach a loopback address (and Endpoints may not
		// hold one): the kubernetes Service gets no endpoints.
		s.log.Info("advertise address is a loopback address: the kubernetes Service has no endpoints", "address", s.cfg.AdvertiseAddress.String())
		return nil
	}
	want := func() *corev1.Endpoints {
		return &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
				Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
			Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: s.cfg.AdvertiseAddress.String()}},
				Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(s.cfg.SecurePort), Protocol: corev1.ProtocolTCP}},
			}},
		}
	}
	_, _, err := res.store.Update(ctx, "default", "kubernetes", func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		ep := want()
		if cur != nil {
			c := cur.(*corev1.Endpoints)
			ep.ObjectMeta = *c.ObjectMeta.DeepCopy()
			ep.Labels = want().Labels
		}
		return ep, nil
	}, rest.UpdateOptions{User: systemUser})
	if err != nil && apierrors.IsNotFound(err) {
		_, err = res.store.Create(ctx, want(), rest.CreateOptions{User: systemUser})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("reconciling the kubernetes endpoints: %w", err)
	}
	return nil
}

// finalizeNamespaces finishes the deletion of terminating namespaces that
// are empty: it removes the "kubernetes" finalizer, after which the
// namespace goes. Emptying a namespace is the namespace controller's job;
// the server only finishes what is already empty.
func (s *Server) finalizeNamespaces(ctx context.Context) {
	t := time.NewTicker(s.cfg.NamespaceFinalizeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		nsRes := s.byGR[schema.GroupResource{Resource: "namespaces"}]
		lr, err := nsRes.store.List(ctx, "", &metav1.ListOptions{ResourceVersion: "0"}, storage.Predicate{})
		if err != nil {
			continue
		}
		for _, e := range lr.Items {
			ns := e.Obj.(*corev1.Namespace)
			if ns.Status.Phase != corev1.NamespaceTerminating || !onlyKubernetesFinalizer(ns) {
				continue
			}
			empty, err := s.namespaceEmpty(ctx, ns.Name)
			if err != nil || !empty {
				continue
			}
			_, _, err = nsRes.store.Update(ctx, "", ns.Name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
				if cur == nil {
					return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, ns.Name)
				}
				n := cur.(*corev1.Namespace).DeepCopy()
				n.Spec.Finalizers = nil
				return n, nil
			}, rest.UpdateOptions{User: systemUser, Subresource: "finalize",
				Prepare: nsRes.store.Strategy().(*namespaces.Strategy).PrepareForFinalize})
			if err != nil && !apierrors.IsNotFound(err) {
				s.log.Info("finalizing namespace", "namespace", ns.Name, "err", err)
			}
		}
	}
}

func onlyKubernetesFinalizer(ns *corev1.Namespace) bool {
	for _, f := range ns.Spec.Finalizers {
		if f != namespaces.FinalizerKubernetes {
			return false
		}
	}
	return true
}

// namespaceEmpty reports whether no namespaced object is left in ns.
func (s *Server) namespaceEmpty(ctx context.Context, ns string) (bool, error) {
	for _, res := range s.resources {
		if res.store == nil || !res.info.Namespaced {
			continue
		}
		lr, err := res.store.List(ctx, ns, &metav1.ListOptions{Limit: 1}, storage.Predicate{})
		if err != nil {
			return false, err
		}
		if len(lr.Items) > 0 {
			return false, nil
		}
	}
	return true, nil
}
