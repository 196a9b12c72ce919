package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	// Quota names without a domain; "count/<resource>.<group>" and
	// "requests.<extended>" style names carry a "/".
	standardQuotaResources = sets.New[corev1.ResourceName](
		corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage,
		corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory, corev1.ResourceRequestsStorage,
		corev1.ResourceRequestsEphemeralStorage, corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
		corev1.ResourceLimitsEphemeralStorage, corev1.ResourcePods, corev1.ResourceQuotas, corev1.ResourceServices,
		corev1.ResourceReplicationControllers, corev1.ResourceSecrets, corev1.ResourcePersistentVolumeClaims,
		corev1.ResourceConfigMaps, corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers,
		corev1.ResourceStorage)
	supportedQuotaScopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeBestEffort,
		corev1.ResourceQuotaScopeCrossNamespacePodAffinity, corev1.ResourceQuotaScopeNotBestEffort,
		corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopePriorityClass,
		corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeVolumeAttributesClass}
	supportedLimitTypes = []corev1.LimitType{corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim,
		corev1.LimitTypePod}
)

// validateQuotaResourceName checks a key of spec.hard.
func validateQuotaResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := validateQualifiedName(string(name), fldPath)
	if len(errs) > 0 {
		return errs
	}
	s := string(name)
	if !strings.Contains(s, "/") && !standardQuotaResources.Has(name) &&
		!strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) && !strings.HasPrefix(s, corev1.ResourceRequestsHugePagesPrefix) {
		return field.ErrorList{field.Invalid(fldPath, name, "must be a standard resource for quota")}
	}
	return nil
}

// ValidateResourceQuota checks a quota on create: resource names, amounts,
// scopes that do not contradict each other, and scope selectors.
func ValidateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	errs := ValidateObjectMeta(&q.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateResourceQuotaSpec(&q.Spec, field.NewPath("spec"))...)
}

func validateResourceQuotaSpec(spec *corev1.ResourceQuotaSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range spec.Hard {
		p := sp.Child("hard").Key(string(name))
		errs = append(errs, validateQuotaResourceName(name, p)...)
		errs = append(errs, validateQuantityNonnegative(q, p)...)
	}
	scopes := sets.New[corev1.ResourceQuotaScope]()
	for i, s := range spec.Scopes {
		errs = append(errs, validateEnum(s, true, supportedQuotaScopes, sp.Child("scopes").Index(i))...)
		scopes.Insert(s)
	}
	if sel := spec.ScopeSelector; sel != nil {
		for i, req := range sel.MatchExpressions {
			p := sp.Child("scopeSelector", "matchExpressions").Index(i)
			errs = append(errs, validateEnum(req.ScopeName, true, supportedQuotaScopes, p.Child("scopeName"))...)
			scopes.Insert(req.ScopeName)
			switch req.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if req.ScopeName != corev1.ResourceQuotaScopePriorityClass && req.ScopeName != corev1.ResourceQuotaScopeVolumeAttributesClass {
					errs = append(errs, field.Invalid(p.Child("operator"), req.Operator, "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
				}
				if len(req.Values) == 0 {
					errs = append(errs, field.Required(p.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(req.Values) != 0 {
					errs = append(errs, field.Invalid(p.Child("values"), req.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				errs = append(errs, field.Invalid(p.Child("operator"), req.Operator, "not a valid selector operator"))
			}
		}
	}
	for _, pair := range [][2]corev1.ResourceQuotaScope{
		{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating},
		{corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort},
	} {
		if scopes.Has(pair[0]) && scopes.Has(pair[1]) {
			errs = append(errs, field.Invalid(sp.Child("scopes"), spec.Scopes, fmt.Sprintf("conflicting scopes %s and %s", pair[0], pair[1])))
		}
	}
	return errs
}

// ValidateResourceQuotaUpdate checks a quota update.
func ValidateResourceQuotaUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateResourceQuotaSpec(&q.Spec, field.NewPath("spec"))...)
	errs = append(errs, validateImmutable(q.Spec.Scopes, old.Spec.Scopes, field.NewPath("spec", "scopes"))...)
	return errs
}

// ValidateResourceQuotaStatusUpdate checks resourcequotas/status: hard
// and used amounts.
func ValidateResourceQuotaStatusUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	for _, part := range []struct {
		name string
		list corev1.ResourceList
	}{{"hard", q.Status.Hard}, {"used", q.Status.Used}} {
		for name, v := range part.list {
			p := field.NewPath("status", part.name).Key(string(name))
			errs = append(errs, validateQuotaResourceName(name, p)...)
			errs = append(errs, validateQuantityNonnegative(v, p)...)
		}
	}
	return errs
}

// ValidateLimitRange checks a limit range on create: one item per type,
// and for each resource min <= default request <= default <= max, with a
// limit/request ratio of at least 1 and at most max/min.
func ValidateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	errs := ValidateObjectMeta(&lr.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateLimitRangeSpec(&lr.Spec, field.NewPath("spec", "limits"))...)
}

func validateLimitRangeSpec(spec *corev1.LimitRangeSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	var types duplicates[corev1.LimitType]
	for i := range spec.Limits {
		item := &spec.Limits[i]
		p := fldPath.Index(i)
		errs = append(errs, validateEnum(item.Type, true, supportedLimitTypes, p.Child("type"))...)
		if types.add(item.Type) {
			errs = append(errs, field.Duplicate(p.Child("type"), item.Type))
		}
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := item.Min[corev1.ResourceStorage]
			_, hasMax := item.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				errs = append(errs, field.Required(p.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		for _, part := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", item.Max}, {"min", item.Min}, {"default", item.Default}, {"defaultRequest", item.DefaultRequest}, {"maxLimitRequestRatio", item.MaxLimitRequestRatio}} {
			for name, q := range part.list {
				kp := p.Child(part.name).Key(string(name))
				errs = append(errs, validateQualifiedName(string(name), kp)...)
				errs = append(errs, validateQuantityNonnegative(q, kp)...)
			}
		}
		errs = append(errs, validateLimitRangeItemOrder(item, p)...)
	}
	return errs
}

// validateLimitRangeItemOrder checks min <= defaultRequest <= default <=
// max and the ratio bounds of one item.
func validateLimitRangeItemOrder(item *corev1.LimitRangeItem, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[corev1.ResourceName]()
	for _, l := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
		for n := range l {
			names.Insert(n)
		}
	}
	for _, n := range sets.List(names) {
		key := string(n)
		mn, hasMin := item.Min[n]
		mx, hasMax := item.Max[n]
		def, hasDef := item.Default[n]
		req, hasReq := item.DefaultRequest[n]
		ratio, hasRatio := item.MaxLimitRequestRatio[n]
		if hasMin && hasMax && mn.Cmp(mx) > 0 {
			errs = append(errs, field.Invalid(p.Child("min").Key(key), mn.String(), fmt.Sprintf("min value %s is greater than max value %s", mn.String(), mx.String())))
		}
		if hasReq && hasMin && mn.Cmp(req) > 0 {
			errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), req.String(), fmt.Sprintf("min value %s is greater than default request value %s", mn.String(), req.String())))
		}
		if hasReq && hasMax && req.Cmp(mx) > 0 {
			errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), req.String(), fmt.Sprintf("default request value %s is greater than max value %s", req.String(), mx.String())))
		}
		if hasReq && hasDef && req.Cmp(def) > 0 {
			errs = append(errs, field.Invalid(p.Child("defaultRequest").Key(key), req.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", req.String(), def.String())))
		}
		if hasDef && hasMin && mn.Cmp(def) > 0 {
			errs = append(errs, field.Invalid(p.Child("default").Key(key), def.String(), fmt.Sprintf("min value %s is greater than default value %s", mn.String(), def.String())))
		}
		if hasDef && hasMax && def.Cmp(mx) > 0 {
			errs = append(errs, field.Invalid(p.Child("default").Key(key), def.String(), fmt.Sprintf("default value %s is greater than max value %s", def.String(), mx.String())))
		}
		if hasRatio {
			rp := p.Child("maxLimitRequestRatio").Key(key)
			if ratio.Cmp(resource.MustParse("1")) < 0 {
				errs = append(errs, field.Invalid(rp, ratio.String(), fmt.Sprintf("ratio %s is less than 1", ratio.String())))
			}
			if hasMin && hasMax && mn.Sign() > 0 {
				maxRatio := float64(mx.MilliValue()) / float64(mn.MilliValue())
				if float64(ratio.MilliValue())/1000 > maxRatio {
					errs = append(errs, field.Invalid(rp, ratio.String(), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), maxRatio)))
				}
			}
		}
	}
	return errs
}

// ValidateLimitRangeUpdate checks a limit range update.
func ValidateLimitRangeUpdate(lr, old *corev1.LimitRange) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&lr.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateLimitRangeSpec(&lr.Spec, field.NewPath("spec", "limits"))...)
}
