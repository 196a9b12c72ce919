package validation

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of a Job's spec, as Kubernetes sets them.
const (
	maxPodFailurePolicyRules       = 20
	maxPodFailurePolicyExitCodes   = 255
	maxPodFailurePolicyConditions  = 20
	maxParallelismForIndexedJob    = 100000
	maxCompletionsForPerIndexLimit = 100000
	maxSuccessPolicyRules          = 20
	maxManagedByLength             = 63
)

var (
	supportedCompletionModes   = []batchv1.CompletionMode{batchv1.IndexedCompletion, batchv1.NonIndexedCompletion}
	supportedJobRestarts       = []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	supportedPodFailureActions = []batchv1.PodFailurePolicyAction{batchv1.PodFailurePolicyActionCount,
		batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}
	supportedExitCodeOps       = []batchv1.PodFailurePolicyOnExitCodesOperator{batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}
	supportedConditionStatuses = []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown}
	supportedReplacementPolicy = []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}
)

// ValidateJob checks a job on create. Unless spec.manualSelector is true,
// the selector must be the generated one (see defaults.JobSelector): the
// job's uid under batch.kubernetes.io/controller-uid, on the selector and
// the template.
func ValidateJob(job *batchv1.Job) field.ErrorList {
	errs := ValidateObjectMeta(&job.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validateGeneratedSelector(job)...)
	return append(errs, validateJobSpecWithSelector(&job.Spec, field.NewPath("spec"))...)
}

func validateGeneratedSelector(job *batchv1.Job) field.ErrorList {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return nil
	}
	var errs field.ErrorList
	if job.UID == "" {
		return field.ErrorList{field.Required(field.NewPath("metadata", "uid"), "")}
	}
	tmplLabels := field.NewPath("spec", "template", "metadata", "labels")
	for key, want := range map[string]string{batchv1.ControllerUidLabel: string(job.UID), batchv1.JobNameLabel: job.Name} {
		if got, ok := job.Spec.Template.Labels[key]; !ok {
			errs = append(errs, field.Required(tmplLabels.Key(key), fmt.Sprintf("must be '%s'", want)))
		} else if got != want {
			errs = append(errs, field.Invalid(tmplLabels.Key(key), got, fmt.Sprintf("must be '%s'", want)))
		}
	}
	if job.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
		if err == nil && !sel.Matches(labels.Set{batchv1.ControllerUidLabel: string(job.UID)}) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), job.Spec.Selector, "`selector` not auto-generated"))
		}
	}
	return errs
}

// validateJobSpecWithSelector checks the spec of a job (not a template):
// the selector is required and matches the template.
func validateJobSpecWithSelector(spec *batchv1.JobSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	p := sp.Child("selector")
	if spec.Selector == nil {
		errs = append(errs, field.Required(p, ""))
	} else {
		errs = append(errs, validateLabelSelector(spec.Selector, p)...)
		if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil {
			if sel.Empty() {
				errs = append(errs, field.Invalid(p, spec.Selector, "empty selector is invalid for job"))
			} else if !sel.Matches(labels.Set(spec.Template.Labels)) {
				errs = append(errs, field.Invalid(sp.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
			}
		}
	}
	return append(errs, validateJobSpec(spec, sp)...)
}

// validateJobSpec checks what jobs and job templates share.
func validateJobSpec(spec *batchv1.JobSpec, sp *field.Path) field.ErrorList {
	errs := validateNonnegativePtr(spec.Parallelism, sp.Child("parallelism"))
	errs = append(errs, validateNonnegativePtr(spec.Completions, sp.Child("completions"))...)
	errs = append(errs, validateNonnegativePtr(spec.BackoffLimit, sp.Child("backoffLimit"))...)
	errs = append(errs, validateNonnegativePtr(spec.TTLSecondsAfterFinished, sp.Child("ttlSecondsAfterFinished"))...)
	if ads := spec.ActiveDeadlineSeconds; ads != nil {
		errs = append(errs, validatePositive(*ads, sp.Child("activeDeadlineSeconds"))...)
	}
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if spec.CompletionMode != nil {
		errs = append(errs, validateEnum(*spec.CompletionMode, true, supportedCompletionModes, sp.Child("completionMode"))...)
	}
	if indexed {
		if spec.Completions == nil {
			errs = append(errs, field.Required(sp.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
		}
		if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
			errs = append(errs, field.Invalid(sp.Child("parallelism"), *spec.Parallelism, fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, batchv1.IndexedCompletion)))
		}
	}
	if spec.BackoffLimitPerIndex != nil {
		errs = append(errs, validateNonnegative(int64(*spec.BackoffLimitPerIndex), sp.Child("backoffLimitPerIndex"))...)
		if !indexed {
			errs = append(errs, field.Forbidden(sp.Child("backoffLimitPerIndex"), "requires indexed completion mode"))
		}
		if spec.Completions != nil && *spec.Completions > maxCompletionsForPerIndexLimit {
			errs = append(errs, field.Invalid(sp.Child("completions"), *spec.Completions, fmt.Sprintf("must be less than or equal to %d when backoffLimitPerIndex is specified", maxCompletionsForPerIndexLimit)))
		}
	}
	if spec.MaxFailedIndexes != nil {
		p := sp.Child("maxFailedIndexes")
		errs = append(errs, validateNonnegative(int64(*spec.MaxFailedIndexes), p)...)
		if spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Required(sp.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
		if spec.Completions != nil && *spec.MaxFailedIndexes > *spec.Completions {
			errs = append(errs, field.Invalid(p, *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
	}
	if spec.PodReplacementPolicy != nil {
		p := sp.Child("podReplacementPolicy")
		errs = append(errs, validateEnum(*spec.PodReplacementPolicy, true, supportedReplacementPolicy, p)...)
		if spec.PodFailurePolicy != nil && *spec.PodReplacementPolicy != batchv1.Failed {
			errs = append(errs, field.NotSupported(p, *spec.PodReplacementPolicy, []string{string(batchv1.Failed)}))
		}
	}
	if spec.ManagedBy != nil {
		p := sp.Child("managedBy")
		if len(*spec.ManagedBy) > maxManagedByLength {
			errs = append(errs, field.TooLong(p, "", maxManagedByLength))
		} else {
			errs = append(errs, validateQualifiedName(*spec.ManagedBy, p)...)
		}
	}
	errs = append(errs, ValidatePodTemplateSpec(&spec.Template, sp.Child("template"))...)
	rp := sp.Child("template", "spec", "restartPolicy")
	if r := spec.Template.Spec.RestartPolicy; r != "" && !slices.Contains(supportedJobRestarts, r) {
		errs = append(errs, field.Required(rp, fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	}
	if spec.PodFailurePolicy != nil {
		if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			errs = append(errs, field.Invalid(rp, spec.Template.Spec.RestartPolicy, fmt.Sprintf("only %q is supported when podFailurePolicy is specified", corev1.RestartPolicyNever)))
		}
		errs = append(errs, validatePodFailurePolicy(spec, sp.Child("podFailurePolicy"))...)
	}
	if spec.SuccessPolicy != nil {
		errs = append(errs, validateSuccessPolicy(spec, indexed, sp.Child("successPolicy"))...)
	}
	return errs
}

func validatePodFailurePolicy(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := spec.PodFailurePolicy.Rules
	rulesPath := fldPath.Child("rules")
	if len(rules) > maxPodFailurePolicyRules {
		return field.ErrorList{field.TooMany(rulesPath, len(rules), maxPodFailurePolicyRules)}
	}
	containers := map[string]bool{}
	for _, c := range spec.Template.Spec.Containers {
		containers[c.Name] = true
	}
	for _, c := range spec.Template.Spec.InitContainers {
		containers[c.Name] = true
	}
	for i, r := range rules {
		p := rulesPath.Index(i)
		errs = append(errs, validateEnum(r.Action, true, supportedPodFailureActions, p.Child("action"))...)
		if r.Action == batchv1.PodFailurePolicyActionFailIndex && spec.BackoffLimitPerIndex == nil {
			errs = append(errs, field.Forbidden(p.Child("action"), "requires the backoffLimitPerIndex to be set"))
		}
		switch {
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(p, "", "specifying one of OnExitCodes and OnPodConditions is required"))
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(p, "", "specifying both OnExitCodes and OnPodConditions is not supported"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := p.Child("onExitCodes")
			if ec.ContainerName != nil && !containers[*ec.ContainerName] {
				errs = append(errs, field.Invalid(ep.Child("containerName"), *ec.ContainerName, "must be one of the container or initContainer names in the pod template"))
			}
			errs = append(errs, validateEnum(ec.Operator, true, supportedExitCodeOps, ep.Child("operator"))...)
			vp := ep.Child("values")
			switch {
			case len(ec.Values) == 0:
				errs = append(errs, field.Invalid(vp, ec.Values, "at least one value is required"))
			case len(ec.Values) > maxPodFailurePolicyExitCodes:
				errs = append(errs, field.TooMany(vp, len(ec.Values), maxPodFailurePolicyExitCodes))
			}
			for j, v := range ec.Values {
				if ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && v == 0 {
					errs = append(errs, field.Invalid(vp.Index(j), v, "must not be 0 for the In operator"))
				}
				if j > 0 && ec.Values[j-1] == v {
					errs = append(errs, field.Duplicate(vp.Index(j), v))
				} else if j > 0 && ec.Values[j-1] > v {
					errs = append(errs, field.Invalid(vp.Index(j), v, "must be ordered"))
				}
			}
		}
		cp := p.Child("onPodConditions")
		if len(r.OnPodConditions) > maxPodFailurePolicyConditions {
			errs = append(errs, field.TooMany(cp, len(r.OnPodConditions), maxPodFailurePolicyConditions))
		}
		for j, c := range r.OnPodConditions {
			pp := cp.Index(j)
			if c.Type == "" {
				errs = append(errs, field.Required(pp.Child("type"), ""))
			} else {
				errs = append(errs, validateQualifiedName(string(c.Type), pp.Child("type"))...)
			}
			errs = append(errs, validateEnum(c.Status, false, supportedConditionStatuses, pp.Child("status"))...)
		}
	}
	return errs
}

func validateSuccessPolicy(spec *batchv1.JobSpec, indexed bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !indexed {
		errs = append(errs, field.Invalid(fldPath, spec.SuccessPolicy, "requires indexed completion mode"))
	}
	rp := fldPath.Child("rules")
	switch n := len(spec.SuccessPolicy.Rules); {
	case n == 0:
		errs = append(errs, field.Required(rp, "at least one rules must be specified when the successPolicy is specified"))
	case n > maxSuccessPolicyRules:
		errs = append(errs, field.TooMany(rp, n, maxSuccessPolicyRules))
	}
	for i, r := range spec.SuccessPolicy.Rules {
		p := rp.Index(i)
		if r.SucceededIndexes == nil && r.SucceededCount == nil {
			errs = append(errs, field.Required(p, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		if r.SucceededIndexes != nil {
			if err := checkIndexes(*r.SucceededIndexes, spec.Completions); err != nil {
				errs = append(errs, field.Invalid(p.Child("succeededIndexes"), *r.SucceededIndexes, err.Error()))
			}
		}
		if r.SucceededCount != nil {
			cp := p.Child("succeededCount")
			errs = append(errs, validateNonnegative(int64(*r.SucceededCount), cp)...)
			if spec.Completions != nil && *r.SucceededCount > *spec.Completions {
				errs = append(errs, field.Invalid(cp, *r.SucceededCount, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", *spec.Completions)))
			}
		}
	}
	return errs
}

// checkIndexes parses an index set such as "1,3-5,7": ascending,
// non-overlapping intervals below completions.
func checkIndexes(s string, completions *int32) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	last := int64(-1)
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.ParseInt(lo, 10, 32)
		if err != nil {
			return fmt.Errorf("cannot convert string to integer for index: %q", lo)
		}
		end := first
		if isRange {
			if end, err = strconv.ParseInt(hi, 10, 32); err != nil {
				return fmt.Errorf("cannot convert string to integer for index: %q", hi)
			}
			if end <= first {
				return fmt.Errorf("non-increasing order, previous: %d, current: %d", first, end)
			}
		}
		if first <= last {
			return fmt.Errorf("overlapping intervals or non-increasing order, previous: %d, current: %d", last, first)
		}
		if completions != nil && end >= int64(*completions) {
			return fmt.Errorf("too large: %d", end)
		}
		last = end
	}
	return nil
}

// ValidateJobUpdate checks a job update. Fixed: selector, completion
// mode, pod failure and success policies, per-index backoff, managedBy,
// and completions except for elastic indexed jobs (completions and
// parallelism changed together). The template is fixed too, except that a
// suspended job that never started may change its scheduling directives
// (node selector, affinity, tolerations, scheduling gates, labels and
// annotations).
func ValidateJobUpdate(job, old *batchv1.Job) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&job.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	sp := field.NewPath("spec")
	errs = append(errs, validateJobSpecWithSelector(&job.Spec, sp)...)
	errs = append(errs, validateImmutable(job.Spec.Selector, old.Spec.Selector, sp.Child("selector"))...)
	errs = append(errs, validateImmutable(job.Spec.CompletionMode, old.Spec.CompletionMode, sp.Child("completionMode"))...)
	errs = append(errs, validateImmutable(job.Spec.PodFailurePolicy, old.Spec.PodFailurePolicy, sp.Child("podFailurePolicy"))...)
	errs = append(errs, validateImmutable(job.Spec.SuccessPolicy, old.Spec.SuccessPolicy, sp.Child("successPolicy"))...)
	errs = append(errs, validateImmutable(job.Spec.BackoffLimitPerIndex, old.Spec.BackoffLimitPerIndex, sp.Child("backoffLimitPerIndex"))...)
	errs = append(errs, validateImmutable(job.Spec.ManagedBy, old.Spec.ManagedBy, sp.Child("managedBy"))...)

	elastic := old.Spec.CompletionMode != nil && *old.Spec.CompletionMode == batchv1.IndexedCompletion &&
		job.Spec.Completions != nil && job.Spec.Parallelism != nil && *job.Spec.Completions == *job.Spec.Parallelism &&
		old.Spec.Completions != nil && old.Spec.Parallelism != nil && *old.Spec.Completions == *old.Spec.Parallelism
	if !elastic {
		errs = append(errs, validateImmutable(job.Spec.Completions, old.Spec.Completions, sp.Child("completions"))...)
	}

	tmpl := old.Spec.Template.DeepCopy()
	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	if suspended && old.Status.StartTime == nil {
		tmpl.Labels = job.Spec.Template.Labels
		tmpl.Annotations = job.Spec.Template.Annotations
		tmpl.Spec.NodeSelector = job.Spec.Template.Spec.NodeSelector
		tmpl.Spec.Affinity = job.Spec.Template.Spec.Affinity
		tmpl.Spec.Tolerations = job.Spec.Template.Spec.Tolerations
		tmpl.Spec.SchedulingGates = job.Spec.Template.Spec.SchedulingGates
	}
	if !equality.Semantic.DeepEqual(tmpl, &job.Spec.Template) {
		errs = append(errs, field.Invalid(sp.Child("template"), "", fieldImmutableErrMsg))
	}
	return errs
}

// ValidateJobStatusUpdate checks jobs/status: counts are non-negative, and
// a job that finished (Complete or Failed) stays finished.
func ValidateJobStatusUpdate(job, old *batchv1.Job) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&job.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	st := &job.Status
	p := field.NewPath("status")
	errs = append(errs, validateNonnegative(int64(st.Active), p.Child("active"))...)
	errs = append(errs, validateNonnegative(int64(st.Succeeded), p.Child("succeeded"))...)
	errs = append(errs, validateNonnegative(int64(st.Failed), p.Child("failed"))...)
	errs = append(errs, validateNonnegativePtr(st.Ready, p.Child("ready"))...)
	errs = append(errs, validateNonnegativePtr(st.Terminating, p.Child("terminating"))...)
	indexed := job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
	for _, c := range []struct {
		name string
		v    *string
	}{{"completedIndexes", &st.CompletedIndexes}, {"failedIndexes", st.FailedIndexes}} {
		if c.v == nil || *c.v == "" {
			continue
		}
		if !indexed {
			errs = append(errs, field.Invalid(p.Child(c.name), *c.v, "cannot set non-empty "+c.name+" when non-indexed completion mode"))
		} else if err := checkIndexes(*c.v, job.Spec.Completions); err != nil {
			errs = append(errs, field.Invalid(p.Child(c.name), *c.v, err.Error()))
		}
	}
	if finished(old.Status.Conditions) && !finished(st.Conditions) {
		errs = append(errs, field.Invalid(p.Child("conditions"), field.OmitValueType{}, "cannot remove the Complete or Failed condition of a finished job"))
	}
	if uc := st.UncountedTerminatedPods; uc != nil {
		seen := map[string]bool{}
		for _, part := range []struct {
			name string
			uids []string
		}{{"succeeded", uidStrings(uc.Succeeded)}, {"failed", uidStrings(uc.Failed)}} {
			for i, uid := range part.uids {
				up := p.Child("uncountedTerminatedPods", part.name).Index(i)
				if uid == "" {
					errs = append(errs, field.Invalid(up, uid, "must not be empty"))
				} else if seen[uid] {
					errs = append(errs, field.Duplicate(up, uid))
				}
				seen[uid] = true
			}
		}
	}
	return errs
}

func uidStrings[T ~string](uids []T) []string {
	out := make([]string, len(uids))
	for i, u := range uids {
		out[i] = string(u)
	}
	return out
}

func finished(conds []batchv1.JobCondition) bool {
	return slices.ContainsFunc(conds, func(c batchv1.JobCondition) bool {
		return (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue
	})
}
