package authz

import (
	"context"
	"errors"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podvisor/podvisor/internal/apiserver/authn"
)

// RuleResolver lists what a user may do in a namespace, for
// SelfSubjectRulesReview (`kubectl auth can-i --list`). Called concurrently.
// incomplete is true when the list cannot be exhaustive (e.g. the node
// authorizer's graph-based grants); err reports rules that could not be
// resolved, the returned ones still hold.
type RuleResolver interface {
	RulesFor(ctx context.Context, u *authn.User, namespace string) (resource []authorizationv1.ResourceRule, nonResource []authorizationv1.NonResourceRule, incomplete bool, err error)
}

// RuleResolvers is the union of rule resolvers: rules are concatenated,
// incomplete if any is, errors joined.
type RuleResolvers []RuleResolver

var _ RuleResolver = RuleResolvers(nil)

// RulesFor implements RuleResolver.RulesFor.
func (rs RuleResolvers) RulesFor(ctx context.Context, u *authn.User, namespace string) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule, bool, error) {
	var (
		res        []authorizationv1.ResourceRule
		nonRes     []authorizationv1.NonResourceRule
		incomplete bool
		errs       []error
	)
	for _, r := range rs {
		a, b, inc, err := r.RulesFor(ctx, u, namespace)
		res = append(res, a...)
		nonRes = append(nonRes, b...)
		incomplete = incomplete || inc
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, nonRes, incomplete, errors.Join(errs...)
}

var (
	sarKind  = schema.GroupKind{Group: authorizationv1.GroupName, Kind: "SubjectAccessReview"}
	ssarKind = schema.GroupKind{Group: authorizationv1.GroupName, Kind: "SelfSubjectAccessReview"}
	lsarKind = schema.GroupKind{Group: authorizationv1.GroupName, Kind: "LocalSubjectAccessReview"}
)

// SubjectAccessReview answers a SubjectAccessReview: it authorizes the
// spec's user and request with az and fills sar.Status (allowed, denied,
// reason, evaluationError). An invalid spec gives a 422 StatusError and
// leaves the status alone.
func SubjectAccessReview(ctx context.Context, az Authorizer, sar *authorizationv1.SubjectAccessReview) error {
	if errs := validateSARSpec(&sar.Spec, true); len(errs) > 0 {
		return apierrors.NewInvalid(sarKind, sar.Name, errs)
	}
	sar.Status = review(ctx, az, attributesFromSpec(specUser(&sar.Spec), sar.Spec.ResourceAttributes, sar.Spec.NonResourceAttributes))
	return nil
}

// LocalSubjectAccessReview answers a LocalSubjectAccessReview posted in
// namespace (the request path's): resource attributes only, in that
// namespace.
func LocalSubjectAccessReview(ctx context.Context, az Authorizer, namespace string, lsar *authorizationv1.LocalSubjectAccessReview) error {
	errs := validateSARSpec(&lsar.Spec, true)
	if lsar.Spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), lsar.Spec.NonResourceAttributes, "disallowed on this kind of request"))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(lsarKind, lsar.Name, errs)
	}
	if namespace == "" {
		return apierrors.NewBadRequest("namespace is required on this type: LocalSubjectAccessReview")
	}
	if lsar.Namespace != "" && lsar.Namespace != namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the request (%s)", lsar.Namespace, namespace))
	}
	if lsar.Spec.ResourceAttributes.Namespace != namespace {
		return apierrors.NewBadRequest(fmt.Sprintf("spec.resourceAttributes.namespace must match namespace: %v", namespace))
	}
	lsar.Status = review(ctx, az, attributesFromSpec(specUser(&lsar.Spec), lsar.Spec.ResourceAttributes, nil))
	return nil
}

// SelfSubjectAccessReview answers a SelfSubjectAccessReview for the
// requesting user (`kubectl auth can-i`).
func SelfSubjectAccessReview(ctx context.Context, az Authorizer, requester *authn.User, ssar *authorizationv1.SelfSubjectAccessReview) error {
	if requester == nil {
		return apierrors.NewBadRequest("no user present on request")
	}
	spec := authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: ssar.Spec.ResourceAttributes, NonResourceAttributes: ssar.Spec.NonResourceAttributes}
	if errs := validateSARSpec(&spec, false); len(errs) > 0 {
		return apierrors.NewInvalid(ssarKind, ssar.Name, errs)
	}
	ssar.Status = review(ctx, az, attributesFromSpec(requester, ssar.Spec.ResourceAttributes, ssar.Spec.NonResourceAttributes))
	return nil
}

// SelfSubjectRulesReview answers a SelfSubjectRulesReview for the requesting
// user (`kubectl auth can-i --list`): the resource and non-resource rules
// that apply to it in spec.namespace.
func SelfSubjectRulesReview(ctx context.Context, rr RuleResolver, requester *authn.User, ssrr *authorizationv1.SelfSubjectRulesReview) error {
	if requester == nil {
		return apierrors.NewBadRequest("no user present on request")
	}
	if ssrr.Spec.Namespace == "" {
		return apierrors.NewBadRequest("no namespace on request")
	}
	res, nonRes, incomplete, err := rr.RulesFor(ctx, requester, ssrr.Spec.Namespace)
	ssrr.Status = authorizationv1.SubjectRulesReviewStatus{
		ResourceRules:    res,
		NonResourceRules: nonRes,
		Incomplete:       incomplete,
	}
	if ssrr.Status.ResourceRules == nil {
		ssrr.Status.ResourceRules = []authorizationv1.ResourceRule{}
	}
	if ssrr.Status.NonResourceRules == nil {
		ssrr.Status.NonResourceRules = []authorizationv1.NonResourceRule{}
	}
	if err != nil {
		ssrr.Status.EvaluationError = err.Error()
	}
	return nil
}

func review(ctx context.Context, az Authorizer, a Attributes) authorizationv1.SubjectAccessReviewStatus {
	d, reason, err := az.Authorize(ctx, a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: d == Allow, Denied: d == Deny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

func validateSARSpec(spec *authorizationv1.SubjectAccessReviewSpec, needUser bool) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	if spec.ResourceAttributes != nil && spec.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), spec.NonResourceAttributes, "cannot be specified in combination with resourceAttributes"))
	}
	if spec.ResourceAttributes == nil && spec.NonResourceAttributes == nil {
		errs = append(errs, field.Invalid(p.Child("resourceAttributes"), spec.NonResourceAttributes, "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	}
	if needUser && spec.User == "" && len(spec.Groups) == 0 {
		errs = append(errs, field.Invalid(p.Child("user"), spec.User, "at least one of user or group must be specified"))
	}
	return errs
}

func specUser(spec *authorizationv1.SubjectAccessReviewSpec) *authn.User {
	u := &authn.User{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if len(spec.Extra) > 0 {
		u.Extra = make(map[string][]string, len(spec.Extra))
		for k, v := range spec.Extra {
			u.Extra[k] = []string(v)
		}
	}
	return u
}

// attributesFromSpec converts review attributes to authorization
// Attributes, as Kubernetes' ResourceAttributesFrom and
// NonResourceAttributesFrom.
func attributesFromSpec(u *authn.User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) Attributes {
	if ra != nil {
		a := Attributes{
			User:            u,
			Verb:            ra.Verb,
			ResourceRequest: true,
			APIGroup:        ra.Group,
			APIVersion:      ra.Version,
			Resource:        ra.Resource,
			Subresource:     ra.Subresource,
			Namespace:       ra.Namespace,
			Name:            ra.Name,
		}
		if fs := ra.FieldSelector; fs != nil {
			if fs.RawSelector != "" {
				if sel, err := fields.ParseSelector(fs.RawSelector); err == nil {
					a.FieldSelector = sel
				}
			} else if len(fs.Requirements) > 0 {
				var sels []fields.Selector
				for _, r := range fs.Requirements {
					// Only exact matches narrow what the node authorizer
					// allows; other operators are ignored.
					if (r.Operator == "In" || r.Operator == "") && len(r.Values) == 1 {
						sels = append(sels, fields.OneTermEqualSelector(r.Key, r.Values[0]))
					}
				}
				if len(sels) > 0 {
					a.FieldSelector = fields.AndSelectors(sels...)
				}
			}
		}
		if ls := ra.LabelSelector; ls != nil {
			// As Kubernetes: a selector that does not parse is ignored,
			// which can only narrow what the request is allowed.
			if ls.RawSelector != "" {
				if sel, err := labels.Parse(ls.RawSelector); err == nil {
					a.LabelSelector = sel
				}
			} else if len(ls.Requirements) > 0 {
				if sel, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchExpressions: ls.Requirements}); err == nil {
					a.LabelSelector = sel
				}
			}
		}
		return a
	}
	return Attributes{User: u, Verb: nra.Verb, Path: nra.Path}
}
