package framework

import (
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// PodInfo is a pod with what the scheduler derives from it computed once:
// its requests and its parsed pod (anti-)affinity terms. A PodInfo is
// immutable once built; a changed pod gets a new PodInfo.
type PodInfo struct {
	Pod *v1.Pod
	// Res are the pod's effective requests (see ComputePodRequests).
	Res PodRequests
	// RequiredAffinityTerms and RequiredAntiAffinityTerms are the pod's
	// requiredDuringSchedulingIgnoredDuringExecution pod (anti-)affinity.
	RequiredAffinityTerms     []AffinityTerm
	RequiredAntiAffinityTerms []AffinityTerm
	// PreferredAffinityTerms and PreferredAntiAffinityTerms are the
	// preferredDuringScheduling... terms with their weights.
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	// ParseErr is set when a term's selector could not be parsed (the API
	// validates them, so this means a bug or a bypassed validation); the
	// unparseable terms are left out.
	ParseErr error
}

// AffinityTerm is a parsed PodAffinityTerm: which pods it selects
// (namespaces and label selector) and over which topology key.
type AffinityTerm struct {
	// Namespaces are the namespaces named explicitly (or the owning pod's
	// namespace when neither namespaces nor a namespace selector is set).
	// Change them with SetNamespaces.
	Namespaces sets.Set[string]
	// NamespaceSelector selects further namespaces by their labels; nil
	// selects none.
	NamespaceSelector labels.Selector
	// Selector selects the pods.
	Selector    LabelMatcher
	TopologyKey string
	// only is the one namespace the term selects, when it selects exactly
	// one and no namespace selector: Matches then compares strings instead
	// of looking a set up (it runs for every pod of the cluster).
	only string
}

// SetNamespaces replaces the term's namespaces and namespace selector.
func (t *AffinityTerm) SetNamespaces(names sets.Set[string], selector labels.Selector) {
	t.Namespaces, t.NamespaceSelector, t.only = names, selector, ""
	if selector == nil && len(names) == 1 {
		for n := range names {
			t.only = n
		}
	}
}

// WeightedAffinityTerm is a preferred term with its weight (1-100).
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

// Matches reports whether pod (whose namespace has labels nsLabels) is
// selected by the term.
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if t.only != "" {
		if pod.Namespace != t.only {
			return false
		}
	} else if !t.Namespaces.Has(pod.Namespace) && (t.NamespaceSelector == nil || !t.NamespaceSelector.Matches(nsLabels)) {
		return false
	}
	return t.Selector.Matches(pod.Labels)
}

// NewPodInfo parses pod.
func NewPodInfo(pod *v1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod, Res: ComputePodRequests(pod)}
	a := pod.Spec.Affinity
	if a == nil {
		return pi
	}
	var errs []error
	if pa := a.PodAffinity; pa != nil {
		pi.RequiredAffinityTerms = parseTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
		pi.PreferredAffinityTerms = parseWeighted(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		pi.RequiredAntiAffinityTerms = parseTerms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, &errs)
		pi.PreferredAntiAffinityTerms = parseWeighted(pod, pa.PreferredDuringSchedulingIgnoredDuringExecution, &errs)
	}
	pi.ParseErr = errors.Join(errs...)
	return pi
}

// HasAffinity reports whether the pod has any pod affinity or
// anti-affinity term, required or preferred.
func (pi *PodInfo) HasAffinity() bool {
	return len(pi.RequiredAffinityTerms)+len(pi.RequiredAntiAffinityTerms)+
		len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0
}

func parseTerms(pod *v1.Pod, terms []v1.PodAffinityTerm, errs *[]error) []AffinityTerm {
	if len(terms) == 0 {
		return nil
	}
	out := make([]AffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := NewAffinityTerm(pod, &terms[i])
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		out = append(out, t)
	}
	return out
}

func parseWeighted(pod *v1.Pod, terms []v1.WeightedPodAffinityTerm, errs *[]error) []WeightedAffinityTerm {
	if len(terms) == 0 {
		return nil
	}
	out := make([]WeightedAffinityTerm, 0, len(terms))
	for i := range terms {
		t, err := NewAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: t, Weight: terms[i].Weight})
	}
	return out
}

// NewAffinityTerm parses one term of pod. matchLabelKeys and
// mismatchLabelKeys are folded into the selector using pod's own label
// values (key in/notin {value}), as Kubernetes does.
func NewAffinityTerm(pod *v1.Pod, t *v1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := NewLabelMatcher(t.LabelSelector)
	if err != nil {
		return AffinityTerm{}, fmt.Errorf("parsing pod affinity label selector: %w", err)
	}
	for _, k := range t.MatchLabelKeys {
		if v, ok := pod.Labels[k]; ok {
			sel.AddIn(k, v)
		}
	}
	for _, k := range t.MismatchLabelKeys {
		if v, ok := pod.Labels[k]; ok {
			sel.AddNotIn(k, v)
		}
	}
	term := AffinityTerm{Selector: sel, TopologyKey: t.TopologyKey}
	names := sets.New(t.Namespaces...)
	var nsSel labels.Selector
	if t.NamespaceSelector != nil {
		ns, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil {
			return AffinityTerm{}, fmt.Errorf("parsing pod affinity namespace selector: %w", err)
		}
		nsSel = ns
	} else if len(t.Namespaces) == 0 {
		names.Insert(pod.Namespace)
	}
	term.SetNamespaces(names, nsSel)
	return term, nil
}

// QueuedPodInfo is a pod waiting in (or popped from) the scheduling queue.
type QueuedPodInfo struct {
	*PodInfo
	// Timestamp is when the pod was last added to the queue; QueueSort
	// orders equal priorities by it.
	Timestamp time.Time
	// InitialAttemptTimestamp is when the pod was first popped.
	InitialAttemptTimestamp time.Time
	// Attempts counts scheduling attempts; the back-off doubles with each.
	Attempts int
	// UnschedulablePlugins are the plugins that rejected the pod in its
	// last attempt; only cluster events those plugins registered for move
	// it back to the active queue.
	UnschedulablePlugins sets.Set[string]
}

// Key returns the pod's namespace/name.
func (q *QueuedPodInfo) Key() string { return PodKey(q.Pod) }

// PodKey returns namespace/name.
func PodKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

// PodPriority returns spec.priority, 0 when unset (set by admission from
// the pod's priorityClassName).
func PodPriority(pod *v1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	return 0
}
