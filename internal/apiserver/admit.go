package apiserver

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/admission"
)

// admissionChain builds the admission plugins, in Kubernetes' order.
func (s *Server) admissionChain() admission.Interface {
	return admission.Chain{
		&admission.Lifecycle{Namespaces: lookups{s}},
		rbacEscalation{s},
	}
}

// lookups gives admission plugins read access to objects through the
// watch caches (consistent reads).
type lookups struct{ s *Server }

// GetNamespace implements admission.NamespaceGetter.
func (l lookups) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	res := l.s.byGR[schema.GroupResource{Resource: "namespaces"}]
	e, err := res.store.Get(ctx, "", name, "")
	if err != nil {
		return nil, err
	}
	return e.Obj.(*corev1.Namespace), nil
}
