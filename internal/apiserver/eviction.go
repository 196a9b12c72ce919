package apiserver

import (
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/storage"
)

// serveEviction evicts a pod (pods/eviction), unless a
// PodDisruptionBudget covering it would be violated: then 429.
//
// The budget's allowance is computed here from the pods it selects (ready
// and not being deleted), since the disruption controller that would keep
// status.disruptionsAllowed current is not part of the API server.
func (s *Server) serveEviction(w http.ResponseWriter, r *http.Request, ri *requestInfo, res *resource) {
	if ri.Verb != "create" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/eviction"}, ri.Verb))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ev := &policyv1.Eviction{}
	if err := codec.DecodeInto(r.Header.Get("Content-Type"), body, ev); err != nil {
		s.writeError(w, r, err)
		return
	}
	if ev.APIVersion != "" && ev.APIVersion != "policy/v1" && ev.APIVersion != "policy/v1beta1" || ev.Kind != "" && ev.Kind != "Eviction" {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the body is a %s %s, not a policy/v1 Eviction", ev.APIVersion, ev.Kind)))
		return
	}
	if ev.Name != "" && ev.Name != ri.Name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("name in URL does not match name in Eviction object: %s != %s", ri.Name, ev.Name)))
		return
	}
	ctx := r.Context()
	e, err := res.store.Get(ctx, ri.Namespace, ri.Name, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := e.Obj.(*corev1.Pod)
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if !terminal && pod.DeletionTimestamp == nil {
		if err := s.checkDisruptionBudgets(r, pod); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if _, _, err := res.store.Delete(ctx, ri.Namespace, ri.Name, opts, false, userFrom(ctx)); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeSuccess(w, http.StatusCreated)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (s *Server) checkDisruptionBudgets(r *http.Request, pod *corev1.Pod) error {
	pdbRes := s.byGR[schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}]
	podRes := s.byGR[schema.GroupResource{Resource: "pods"}]
	if pdbRes == nil {
		return nil
	}
	ctx := r.Context()
	lr, err := pdbRes.store.List(ctx, pod.Namespace, &metav1.ListOptions{}, storage.Predicate{})
	if err != nil {
		return err
	}
	var budgets []*policyv1.PodDisruptionBudget
	for _, e := range lr.Items {
		pdb := e.Obj.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(pod.Labels)) {
			budgets = append(budgets, pdb)
		}
	}
	if len(budgets) == 0 {
		return nil
	}
	if len(budgets) > 1 {
		return apierrors.NewInternalError(fmt.Errorf("this pod has more than one PodDisruptionBudget, which the eviction subresource does not support"))
	}
	pdb := budgets[0]
	if !podReady(pod) {
		// An unhealthy pod does not count towards the budget.
		return nil
	}
	sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	pods, err := podRes.store.List(ctx, pod.Namespace, &metav1.ListOptions{}, storage.Predicate{Label: sel})
	if err != nil {
		return err
	}
	expected, healthy := 0, 0
	for _, e := range pods.Items {
		p := e.Obj.(*corev1.Pod)
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		expected++
		if p.DeletionTimestamp == nil && podReady(p) {
			healthy++
		}
	}
	desired := 0
	switch {
	case pdb.Spec.MinAvailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, expected, true)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		desired = n
	case pdb.Spec.MaxUnavailable != nil:
		n, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, expected, true)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		desired = expected - n
	}
	if healthy-desired > 0 {
		return nil
	}
	err2 := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	err2.ErrStatus.Details.Causes = append(err2.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    policyv1.DisruptionBudgetCause,
		Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, desired, healthy),
	})
	return err2
}
