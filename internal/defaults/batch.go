package defaults

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels Kubernetes has put on job pods since before the
// batch.kubernetes.io/ prefix; still added for older selectors and tools.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

// Job defaults a job: completions and parallelism 1 when both are unset
// (parallelism 1 when only it is), a backoff limit of 6 (unlimited with a
// per-index limit), NonIndexed completion, not suspended, pod replacement
// once pods are TerminatingOrFailed (Failed with a pod failure policy),
// pod condition patterns matching status True, the job's labels taken from
// its template when it has none (sharing the template's map), and its pod
// template.
func Job(job *batchv1.Job) {
	jobSpec(&job.Spec)
	if l := job.Spec.Template.Labels; l != nil && len(job.Labels) == 0 {
		// The same map, as in Kubernetes: the labels JobSelector adds to
		// the template then show on the job too.
		job.Labels = l
	}
}

func jobSpec(spec *batchv1.JobSpec) {
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = ptrTo(int32(1))
	}
	if spec.Parallelism == nil {
		spec.Parallelism = ptrTo(int32(1))
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = ptrTo(int32(math.MaxInt32))
		} else {
			spec.BackoffLimit = ptrTo(int32(6))
		}
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = ptrTo(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = ptrTo(false)
	}
	if pfp := spec.PodFailurePolicy; pfp != nil {
		for i := range pfp.Rules {
			for j := range pfp.Rules[i].OnPodConditions {
				if pfp.Rules[i].OnPodConditions[j].Status == "" {
					pfp.Rules[i].OnPodConditions[j].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = ptrTo(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = ptrTo(batchv1.TerminatingOrFailed)
		}
	}
	PodTemplateSpec(&spec.Template)
}

// JobSelector generates a job's selector, unless spec.manualSelector is
// true: the template gets the job-name and controller-uid labels (both
// with and without the batch.kubernetes.io/ prefix; labels the user set
// are kept, and validation rejects wrong ones) and the selector matches
// batch.kubernetes.io/controller-uid, and manualSelector is recorded as
// false; a job without labels then takes its template's (generated ones
// included). It is a create-time step, not a
// default: call it once, after the job's uid is assigned and before
// validation.
//
// Preconditions: job.UID and job.Name are set.
func JobSelector(job *batchv1.Job) {
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	job.Spec.ManualSelector = ptrTo(false)
	tmpl := &job.Spec.Template
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	for _, k := range []string{legacyJobNameLabel, batchv1.JobNameLabel} {
		if _, ok := tmpl.Labels[k]; !ok {
			tmpl.Labels[k] = job.Name
		}
	}
	for _, k := range []string{legacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := tmpl.Labels[k]; !ok {
			tmpl.Labels[k] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
	// A job without labels of its own carries its template's: Kubernetes
	// gets there by defaulting the job again when it reads it back.
	Job(job)
}

// CronJob defaults a cron job: concurrency Allow, not suspended, 3
// successful and 1 failed job kept, and the pod template of its job
// template (the job template's own spec is defaulted when each Job is
// created from it).
func CronJob(cj *batchv1.CronJob) {
	spec := &cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		spec.Suspend = ptrTo(false)
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		spec.SuccessfulJobsHistoryLimit = ptrTo(int32(3))
	}
	if spec.FailedJobsHistoryLimit == nil {
		spec.FailedJobsHistoryLimit = ptrTo(int32(1))
	}
	PodTemplateSpec(&spec.JobTemplate.Spec.Template)
}
