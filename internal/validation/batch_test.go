package validation

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const jobUID = "8f1c2b7a-0000-4000-8000-000000000001"

// validJob is a job as defaulting and selector generation leave it.
func validJob() *batchv1.Job {
	tmpl := validTemplate()
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	tmpl.Labels = map[string]string{
		batchv1.ControllerUidLabel: jobUID, batchv1.JobNameLabel: "pi",
		"controller-uid": jobUID, "job-name": "pi",
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: jobUID},
		Spec: batchv1.JobSpec{
			Parallelism:          ptr(int32(1)),
			Completions:          ptr(int32(1)),
			BackoffLimit:         ptr(int32(6)),
			CompletionMode:       ptr(batchv1.NonIndexedCompletion),
			Suspend:              ptr(false),
			PodReplacementPolicy: ptr(batchv1.TerminatingOrFailed),
			Selector:             &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: jobUID}},
			Template:             tmpl,
		},
	}
}

func TestValidateJob(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(j *batchv1.Job)
		want   []string
	}{
		{name: "valid", mutate: func(j *batchv1.Job) {}},
		{name: "manual selector", mutate: func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
			j.Spec.Template.Labels = map[string]string{"app": "web"}
		}},
		{name: "indexed", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr(int32(5))
			j.Spec.BackoffLimitPerIndex = ptr(int32(1))
			j.Spec.MaxFailedIndexes = ptr(int32(2))
		}},
		{name: "restart policy Always", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			want: want(required, "spec.template.spec.restartPolicy")},
		{name: "selector not generated", mutate: func(j *batchv1.Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
			j.Spec.Template.Labels["app"] = "web"
		}, want: want(invalid, "spec.selector")},
		{name: "missing generated label", mutate: func(j *batchv1.Job) { delete(j.Spec.Template.Labels, batchv1.JobNameLabel) },
			want: want(required, "spec.template.metadata.labels[batch.kubernetes.io/job-name]")},
		{name: "no uid", mutate: func(j *batchv1.Job) { j.UID = "" }, want: want(required, "metadata.uid")},
		{name: "manual selector missing", mutate: func(j *batchv1.Job) { j.Spec.ManualSelector = ptr(true); j.Spec.Selector = nil },
			want: want(required, "spec.selector")},
		{name: "negative parallelism", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr(int32(-1)) }, want: want(invalid, "spec.parallelism")},
		{name: "negative backoff", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr(int32(-1)) }, want: want(invalid, "spec.backoffLimit")},
		{name: "zero deadline", mutate: func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = ptr(int64(0)) }, want: want(invalid, "spec.activeDeadlineSeconds")},
		{name: "completion mode", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr(batchv1.CompletionMode("Sometimes")) },
			want: want(notSupported, "spec.completionMode")},
		{name: "indexed without completions", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, want: want(required, "spec.completions")},
		{name: "per-index backoff on non-indexed", mutate: func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = ptr(int32(1)) },
			want: want(forbidden, "spec.backoffLimitPerIndex")},
		{name: "pod failure policy needs Never", mutate: func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodReplacementPolicy = ptr(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: "In", Values: []int32{1}},
			}}}
		}, want: want(invalid, "spec.template.spec.restartPolicy")},
		{name: "pod failure policy rules", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{Action: "Explode", OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: "In", Values: []int32{0, 3, 2, 2}}},
				{Action: batchv1.PodFailurePolicyActionIgnore},
				{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: "Maybe"}}},
			}}
		}, want: want(notSupported, "spec.podFailurePolicy.rules[0].action",
			invalid, "spec.podFailurePolicy.rules[0].onExitCodes.values[0]",
			invalid, "spec.podFailurePolicy.rules[0].onExitCodes.values[2]",
			duplicate, "spec.podFailurePolicy.rules[0].onExitCodes.values[3]",
			invalid, "spec.podFailurePolicy.rules[1]",
			notSupported, "spec.podFailurePolicy.rules[2].onPodConditions[0].status")},
		{name: "replacement policy with failure policy", mutate: func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}}
		}, want: want(notSupported, "spec.podReplacementPolicy")},
		{name: "success policy on non-indexed", mutate: func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr(int32(1))}}}
		}, want: want(invalid, "spec.successPolicy")},
		{name: "success policy indexes", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr(int32(5))
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr("3-1")}, {SucceededIndexes: ptr("0,2-4")}}}
		}, want: want(invalid, "spec.successPolicy.rules[0].succeededIndexes")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.mutate(j)
			checkErrs(t, ValidateJob(j), tc.want)
		})
	}
}

func TestValidateJobUpdate(t *testing.T) {
	base := func() *batchv1.Job { j := validJob(); j.ResourceVersion = "3"; return j }
	tests := []struct {
		name   string
		old    func(j *batchv1.Job)
		mutate func(j *batchv1.Job)
		want   []string
	}{
		{name: "parallelism and suspend change", mutate: func(j *batchv1.Job) { j.Spec.Parallelism = ptr(int32(3)); j.Spec.Suspend = ptr(true) }},
		{name: "template change", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "busybox:2" }, want: want(invalid, "spec.template")},
		{name: "completions change", mutate: func(j *batchv1.Job) { j.Spec.Completions = ptr(int32(2)) }, want: want(invalid, "spec.completions")},
		{name: "elastic indexed job", old: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptr(int32(3)), ptr(int32(3))
		}, mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptr(int32(5)), ptr(int32(5))
		}},
		{name: "scheduling directives of a suspended job", old: func(j *batchv1.Job) { j.Spec.Suspend = ptr(true) }, mutate: func(j *batchv1.Job) {
			j.Spec.Suspend = ptr(true)
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
			j.Spec.Template.Annotations = map[string]string{"x": "y"}
		}},
		{name: "selector change", mutate: func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["x"] = "y"
		}, want: want(invalid, "spec.selector", invalid, "spec.template.metadata.labels")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			if tc.old != nil {
				tc.old(old)
			}
			j := base()
			tc.mutate(j)
			checkErrs(t, ValidateJobUpdate(j, old), tc.want)
		})
	}
}

func TestValidateJobStatusUpdate(t *testing.T) {
	old := validJob()
	old.ResourceVersion = "2"
	old.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	j := old.DeepCopy()
	j.Status.Succeeded = 1
	checkErrs(t, ValidateJobStatusUpdate(j, old), nil)
	j.Status = batchv1.JobStatus{Active: -1, CompletedIndexes: "1", UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a"}, Failed: []types.UID{"a"}}}
	checkErrs(t, ValidateJobStatusUpdate(j, old), want(invalid, "status.active", invalid, "status.completedIndexes",
		invalid, "status.conditions", duplicate, "status.uncountedTerminatedPods.failed[0]"))
}

func validCronJob() *batchv1.CronJob {
	tmpl := validTemplate()
	tmpl.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "*/5 * * * *",
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    ptr(false),
			SuccessfulJobsHistoryLimit: ptr(int32(3)),
			FailedJobsHistoryLimit:     ptr(int32(1)),
			JobTemplate:                batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}},
		},
	}
}

func TestValidateCronJob(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *batchv1.CronJob)
		want   []string
	}{
		{name: "valid", mutate: func(c *batchv1.CronJob) {}},
		{name: "hourly macro", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "@hourly" }},
		{name: "named fields", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "0 9 * JAN-MAR MON-FRI" }},
		{name: "time zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("Europe/Paris") }},
		{name: "bad schedule", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "every minute" }, want: want(invalid, "spec.schedule")},
		{name: "six fields", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "0 * * * * *" }, want: want(invalid, "spec.schedule")},
		{name: "out of range", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }, want: want(invalid, "spec.schedule")},
		{name: "unknown macro", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "@fortnightly" }, want: want(invalid, "spec.schedule")},
		{name: "missing schedule", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "" }, want: want(required, "spec.schedule")},
		{name: "TZ in schedule", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 * * * *" }, want: want(invalid, "spec.schedule")},
		{name: "unknown time zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("Mars/Olympus") }, want: want(invalid, "spec.timeZone")},
		{name: "Local time zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("Local") }, want: want(invalid, "spec.timeZone")},
		{name: "empty time zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr("") }, want: want(invalid, "spec.timeZone")},
		{name: "name too long", mutate: func(c *batchv1.CronJob) { c.Name = "a-very-long-cronjob-name-that-goes-on-and-on-and-on-x" },
			want: want(invalid, "metadata.name")},
		{name: "concurrency policy", mutate: func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }, want: want(notSupported, "spec.concurrencyPolicy")},
		{name: "negative history", mutate: func(c *batchv1.CronJob) { c.Spec.FailedJobsHistoryLimit = ptr(int32(-1)) }, want: want(invalid, "spec.failedJobsHistoryLimit")},
		{name: "template selector", mutate: func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		}, want: want(invalid, "spec.jobTemplate.spec.selector")},
		{name: "template restart policy", mutate: func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, want: want(required, "spec.jobTemplate.spec.template.spec.restartPolicy")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validCronJob()
			tc.mutate(c)
			checkErrs(t, ValidateCronJob(c), tc.want)
		})
	}
	old := validCronJob()
	old.ResourceVersion = "1"
	up := old.DeepCopy()
	up.Spec.Schedule = "@daily"
	checkErrs(t, ValidateCronJobUpdate(up, old), nil)
}
