package apiserver

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/admission"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/storage"
)

// admissionChain builds the admission plugins, in Kubernetes' order.
func (s *Server) admissionChain() admission.Interface {
	l := lookups{s}
	notReady, unreachable := int64(300), int64(300)
	if v := s.cfg.DefaultNotReadyTolerationSeconds; v != nil {
		notReady = *v
	}
	if v := s.cfg.DefaultUnreachableTolerationSeconds; v != nil {
		unreachable = *v
	}
	return admission.Chain{
		&admission.Lifecycle{Namespaces: l},
		&admission.LimitRanger{Objects: l},
		&admission.ServiceAccount{Objects: l},
		admission.VolumeNodeLabel{},
		&admission.NodeRestriction{Objects: l},
		&admission.Priority{Objects: l},
		&admission.DefaultTolerationSeconds{NotReady: notReady, Unreachable: unreachable},
		&admission.DefaultStorageClass{Objects: l},
		rbacEscalation{s},
		&admission.Quota{Objects: l, Status: l},
	}
}

// lookups gives admission plugins read access to objects through the
// watch caches, as Kubernetes' admission plugins read informers: from the
// cache as it is, with a consistent read only to confirm that something is
// missing (a namespace or account created a moment ago).
type lookups struct{ s *Server }

// GetNamespace implements admission.NamespaceGetter.
func (l lookups) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	o, err := l.Get(ctx, schema.GroupResource{Resource: "namespaces"}, "", name)
	if err != nil {
		return nil, err
	}
	return o.(*corev1.Namespace), nil
}

// Get implements admission.Objects.
func (l lookups) Get(ctx context.Context, gr schema.GroupResource, namespace, name string) (runtime.Object, error) {
	res := l.s.byGR[gr]
	if res == nil || res.store == nil {
		return nil, apierrors.NewNotFound(gr, name)
	}
	key := res.store.Key(namespace, name)
	e, err := res.store.Cache().Get(ctx, key, storage.ReadOptions{})
	if errors.Is(err, storage.ErrNotFound) {
		e, err = res.store.Cache().Get(ctx, key, storage.ReadOptions{Consistent: true})
	}
	if err != nil {
		return nil, res.store.Err(err, name)
	}
	return e.Obj, nil
}

// List implements admission.Objects.
func (l lookups) List(ctx context.Context, gr schema.GroupResource, namespace string, consistent bool) ([]runtime.Object, error) {
	res := l.s.byGR[gr]
	if res == nil || res.store == nil {
		return nil, apierrors.NewNotFound(gr, "")
	}
	opts := &metav1.ListOptions{ResourceVersion: "0"}
	if consistent {
		opts.ResourceVersion = ""
	}
	lr, err := res.store.List(ctx, namespace, opts, storage.Predicate{})
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Object, len(lr.Items))
	for i, e := range lr.Items {
		out[i] = e.Obj
	}
	return out, nil
}

// SetQuotaUsed implements admission.QuotaStatusWriter.
func (l lookups) SetQuotaUsed(ctx context.Context, namespace, name string, used corev1.ResourceList) error {
	res := l.s.byGR[schema.GroupResource{Resource: "resourcequotas"}]
	_, _, err := res.store.Update(ctx, namespace, name, func(_ context.Context, cur runtime.Object) (runtime.Object, error) {
		if cur == nil {
			return nil, apierrors.NewNotFound(res.info.GroupResource(), name)
		}
		q := cur.(*corev1.ResourceQuota).DeepCopy()
		q.Status.Hard = q.Spec.Hard
		q.Status.Used = used
		return q, nil
	}, rest.UpdateOptions{User: systemUser, Subresource: "status"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
