package validation

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of an event's fields.
const (
	eventNoteMaxLength  = 1024
	eventShortMaxLength = 128
)

var supportedEventTypes = []string{corev1.EventTypeNormal, corev1.EventTypeWarning}

// eventFields is what the two Event types share, by their core/v1 names.
type eventFields struct {
	meta                *metav1.ObjectMeta
	involvedNamespace   string
	eventTime           metav1.MicroTime
	reportingController string
	reportingInstance   string
	action              string
	reason              string
	message             string
	eventType           string
	seriesCount         int32
	seriesLast          *metav1.MicroTime
	hasSeries           bool
}

func coreEventFields(e *corev1.Event) eventFields {
	f := eventFields{
		meta: &e.ObjectMeta, involvedNamespace: e.InvolvedObject.Namespace, eventTime: e.EventTime,
		reportingController: e.ReportingController, reportingInstance: e.ReportingInstance,
		action: e.Action, reason: e.Reason, message: e.Message, eventType: e.Type,
	}
	if e.Series != nil {
		f.hasSeries, f.seriesCount, f.seriesLast = true, e.Series.Count, &e.Series.LastObservedTime
	}
	return f
}

// ValidateEvent checks a core/v1 event on create. Events written the
// legacy way (no eventTime) only need their namespace to agree with the
// involved object's; events written the events.k8s.io way need a
// reporting controller and instance, an action, a reason, a type and a
// note of at most 1 KiB.
func ValidateEvent(e *corev1.Event) field.ErrorList {
	errs := ValidateObjectMeta(&e.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateEventFields(coreEventFields(e), field.NewPath("involvedObject", "namespace"), field.NewPath("message"))...)
}

func validateEventFields(f eventFields, involvedNSPath, notePath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.involvedNamespace != "" && f.involvedNamespace != f.meta.Namespace {
		errs = append(errs, field.Invalid(involvedNSPath, f.involvedNamespace, "does not match event.namespace"))
	}
	if f.eventTime.IsZero() {
		return errs
	}
	if f.reportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
	} else {
		errs = append(errs, validateQualifiedName(f.reportingController, field.NewPath("reportingController"))...)
	}
	for _, c := range []struct {
		name  string
		value string
	}{{"reportingInstance", f.reportingInstance}, {"action", f.action}, {"reason", f.reason}} {
		p := field.NewPath(c.name)
		switch {
		case c.value == "":
			errs = append(errs, field.Required(p, ""))
		case len(c.value) > eventShortMaxLength:
			errs = append(errs, field.TooLong(p, "", eventShortMaxLength))
		}
	}
	errs = append(errs, validateEnum(f.eventType, true, supportedEventTypes, field.NewPath("type"))...)
	if len(f.message) > eventNoteMaxLength {
		errs = append(errs, field.TooLong(notePath, "", eventNoteMaxLength))
	}
	if f.hasSeries {
		if f.seriesCount < 2 {
			errs = append(errs, field.Invalid(field.NewPath("series", "count"), f.seriesCount, "should be at least 2"))
		}
		if f.seriesLast == nil || f.seriesLast.IsZero() {
			errs = append(errs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
		}
	}
	return errs
}

// ValidateEventUpdate checks a core/v1 event update. Events written the
// events.k8s.io way keep who reported what; legacy events may change
// anything but their metadata's fixed fields.
func ValidateEventUpdate(e, old *corev1.Event) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&e.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateEventFields(coreEventFields(e), field.NewPath("involvedObject", "namespace"), field.NewPath("message"))...)
	if old.EventTime.IsZero() {
		return errs
	}
	errs = append(errs, validateImmutable(e.InvolvedObject, old.InvolvedObject, field.NewPath("involvedObject"))...)
	errs = append(errs, validateImmutable(e.Reason, old.Reason, field.NewPath("reason"))...)
	errs = append(errs, validateImmutable(e.Message, old.Message, field.NewPath("message"))...)
	errs = append(errs, validateImmutable(e.Source, old.Source, field.NewPath("source"))...)
	errs = append(errs, validateImmutable(e.FirstTimestamp, old.FirstTimestamp, field.NewPath("firstTimestamp"))...)
	errs = append(errs, validateImmutable(e.LastTimestamp, old.LastTimestamp, field.NewPath("lastTimestamp"))...)
	errs = append(errs, validateImmutable(e.Count, old.Count, field.NewPath("count"))...)
	errs = append(errs, validateImmutable(e.Type, old.Type, field.NewPath("type"))...)
	errs = append(errs, validateImmutable(e.EventTime, old.EventTime, field.NewPath("eventTime"))...)
	errs = append(errs, validateImmutable(e.Action, old.Action, field.NewPath("action"))...)
	errs = append(errs, validateImmutable(e.Related, old.Related, field.NewPath("related"))...)
	errs = append(errs, validateImmutable(e.ReportingController, old.ReportingController, field.NewPath("reportingController"))...)
	errs = append(errs, validateImmutable(e.ReportingInstance, old.ReportingInstance, field.NewPath("reportingInstance"))...)
	return errs
}

func eventsV1Fields(e *eventsv1.Event) eventFields {
	f := eventFields{
		meta: &e.ObjectMeta, involvedNamespace: e.Regarding.Namespace, eventTime: e.EventTime,
		reportingController: e.ReportingController, reportingInstance: e.ReportingInstance,
		action: e.Action, reason: e.Reason, message: e.Note, eventType: e.Type,
	}
	if e.Series != nil {
		f.hasSeries, f.seriesCount, f.seriesLast = true, e.Series.Count, &e.Series.LastObservedTime
	}
	return f
}

// ValidateEventsEvent checks an events.k8s.io/v1 event on create: always
// the strict rules, since that API requires eventTime.
func ValidateEventsEvent(e *eventsv1.Event) field.ErrorList {
	errs := ValidateObjectMeta(&e.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	return append(errs, validateEventFields(eventsV1Fields(e), field.NewPath("regarding", "namespace"), field.NewPath("note"))...)
}

// ValidateEventsEventUpdate checks an events.k8s.io/v1 event update: only
// the series (and metadata) may change.
func ValidateEventsEventUpdate(e, old *eventsv1.Event) field.ErrorList {
	errs := ValidateObjectMetaUpdate(&e.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateEventFields(eventsV1Fields(e), field.NewPath("regarding", "namespace"), field.NewPath("note"))...)
	for _, c := range []struct {
		name     string
		new, old any
	}{
		{"eventTime", e.EventTime, old.EventTime}, {"reportingController", e.ReportingController, old.ReportingController},
		{"reportingInstance", e.ReportingInstance, old.ReportingInstance}, {"action", e.Action, old.Action},
		{"reason", e.Reason, old.Reason}, {"regarding", e.Regarding, old.Regarding}, {"related", e.Related, old.Related},
		{"note", e.Note, old.Note}, {"type", e.Type, old.Type},
	} {
		errs = append(errs, validateImmutable(c.new, c.old, field.NewPath(c.name))...)
	}
	return errs
}
