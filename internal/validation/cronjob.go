package validation

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	// The time zone database is compiled in so that timeZone is checked
	// the same way on every host, whatever /usr/share/zoneinfo holds.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxCronJobNameLength leaves room for the 11-character suffix the
// controller appends to name the jobs it creates (52 + 11 = 63).
const maxCronJobNameLength = 52

var (
	supportedConcurrencyPolicies = []batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent,
		batchv1.ReplaceConcurrent}
	// One element of an IANA time zone name.
	timeZonePart = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)
)

// ValidateCronJob checks a cron job on create: a name of at most 52
// characters, a standard cron schedule (five fields or a macro such as
// @hourly; no TZ= prefix, the timeZone field says it), an IANA time zone,
// the concurrency policy, history limits and the job template.
func ValidateCronJob(cj *batchv1.CronJob) field.ErrorList {
	errs := ValidateObjectMeta(&cj.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	if len(cj.Name) > maxCronJobNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
	}
	return append(errs, validateCronJobSpec(&cj.Spec, field.NewPath("spec"))...)
}

func validateCronJobSpec(spec *batchv1.CronJobSpec, sp *field.Path) field.ErrorList {
	errs := validateSchedule(spec.Schedule, sp.Child("schedule"))
	errs = append(errs, validateTimeZone(spec.TimeZone, sp.Child("timeZone"))...)
	errs = append(errs, validateEnum(spec.ConcurrencyPolicy, true, supportedConcurrencyPolicies, sp.Child("concurrencyPolicy"))...)
	errs = append(errs, validateNonnegativePtr(spec.StartingDeadlineSeconds, sp.Child("startingDeadlineSeconds"))...)
	errs = append(errs, validateNonnegativePtr(spec.SuccessfulJobsHistoryLimit, sp.Child("successfulJobsHistoryLimit"))...)
	errs = append(errs, validateNonnegativePtr(spec.FailedJobsHistoryLimit, sp.Child("failedJobsHistoryLimit"))...)
	jp := sp.Child("jobTemplate")
	errs = append(errs, validateTemplateObjectMeta(&spec.JobTemplate.ObjectMeta, jp.Child("metadata"))...)
	js := &spec.JobTemplate.Spec
	errs = append(errs, validateJobSpec(js, jp.Child("spec"))...)
	if js.Selector != nil {
		errs = append(errs, field.Invalid(jp.Child("spec", "selector"), js.Selector, "`selector` will be auto-generated"))
	}
	if js.ManualSelector != nil && *js.ManualSelector {
		errs = append(errs, field.NotSupported(jp.Child("spec", "manualSelector"), *js.ManualSelector, []string{"nil", "false"}))
	}
	return errs
}

// validateSchedule parses a schedule the way the CronJob controller does.
func validateSchedule(schedule string, fldPath *field.Path) field.ErrorList {
	if schedule == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if strings.Contains(schedule, "TZ") {
		return field.ErrorList{field.Invalid(fldPath, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")}
	}
	if _, err := cron.ParseStandard(schedule); err != nil {
		return field.ErrorList{field.Invalid(fldPath, schedule, err.Error())}
	}
	return nil
}

// validateTimeZone checks an IANA time zone name; "Local" is refused, as
// it would mean a different zone on each server.
func validateTimeZone(tz *string, fldPath *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fldPath, *tz, "timeZone must be nil or non-empty string")}
	}
	if strings.EqualFold(*tz, "Local") {
		return field.ErrorList{field.Invalid(fldPath, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !timeZonePart.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, *tz, "unknown time zone "+*tz)}
		}
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		return field.ErrorList{field.Invalid(fldPath, *tz, err.Error())}
	}
	return nil
}

// ValidateCronJobUpdate checks a cron job update.
func ValidateCronJobUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&cj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateCronJobSpec(&cj.Spec, field.NewPath("spec"))...)
}

// ValidateCronJobStatusUpdate checks cronjobs/status.
func ValidateCronJobStatusUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&cj.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	for i, ref := range cj.Status.Active {
		if ref.Name == "" {
			errs = append(errs, field.Required(field.NewPath("status", "active").Index(i).Child("name"), ""))
		}
	}
	return errs
}
