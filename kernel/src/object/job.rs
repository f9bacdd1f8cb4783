//! `Job` (batch/v1): runs pods until a number of them succeed, with Kubernetes' spec, status,
//! defaults and well-known labels.
//!
//! Unless `manualSelector` is true, the API server generates the selector from the Job's uid
//! and labels the template with it and the Job's name, as Kubernetes does, so a Job's pods can
//! never be confused with another object's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::condition::ConditionStatus;
use super::labels::LabelSelector;
use super::meta::ObjectMeta;
use super::omit::is_zero_i32;
use super::pod::PodTemplateSpec;
use super::time::Time;

/// The label (and selector key) naming the uid of the Job that owns a pod.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
/// The pre-1.27 spelling of [`CONTROLLER_UID_LABEL`], still set for tools that read it.
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
/// The label naming the Job that owns a pod.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The pre-1.27 spelling of [`JOB_NAME_LABEL`].
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";
/// The annotation and label carrying an Indexed Job pod's completion index.
pub const JOB_COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// The environment variable an Indexed Job pod's containers read their index from.
pub const JOB_COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// The spec fields an update may not change (a suspended Job's template may change in
/// Kubernetes; flotilla keeps the template fixed too).
pub const JOB_IMMUTABLE_FIELDS: [&str; 7] = [
    "selector",
    "manualSelector",
    "template",
    "completions",
    "completionMode",
    "podFailurePolicy",
    "backoffLimitPerIndex",
];
/// Retries of a Job that does not say (`spec.backoffLimit`).
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;

/// Runs pods to completion.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: JobSpec,
    #[serde(default)]
    pub status: JobStatus,
}

/// How many pods must succeed, how many run at once, and when to give up.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// Pods running at once at most; defaulted to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Successful pods needed; defaulted to 1 when parallelism is unset too. Unset means any
    /// success completes the Job once the others stop (a work queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completions: Option<i32>,
    /// Seconds the Job may be active before it fails with `DeadlineExceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_failure_policy: Option<PodFailurePolicy>,
    /// Failed pods tolerated before the Job fails; defaulted to 6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
    /// Indexed Jobs: failed pods tolerated per index before that index fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit_per_index: Option<i32>,
    /// Indexed Jobs with a per-index limit: failed indexes tolerated before the Job fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failed_indexes: Option<i32>,
    /// Generated from the Job's uid unless `manualSelector` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_selector: Option<bool>,
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// Seconds after the Job finishes at which it is deleted, with its pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Defaulted to `NonIndexed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_mode: Option<CompletionMode>,
    /// While true no pods run (running ones are deleted); defaulted to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// Whether pods are interchangeable or each has an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum CompletionMode {
    /// Complete when `completions` pods have succeeded.
    #[default]
    NonIndexed,
    /// Each index in `0..completions` needs one successful pod.
    Indexed,
}

/// Rules deciding what a failed pod means for its Job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailurePolicy {
    #[serde(default)]
    pub rules: Vec<PodFailurePolicyRule>,
}

/// One rule: the first rule matching a failed pod decides.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailurePolicyRule {
    pub action: PodFailurePolicyAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exit_codes: Option<PodFailurePolicyOnExitCodesRequirement>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_pod_conditions: Vec<PodFailurePolicyOnPodConditionsPattern>,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PodFailurePolicyAction {
    /// Fail the whole Job at once.
    FailJob,
    /// Fail the pod's index (Indexed Jobs with `backoffLimitPerIndex`).
    FailIndex,
    /// Replace the pod without counting it against the backoff limit.
    Ignore,
    /// Count the failure as usual.
    #[default]
    Count,
}

/// Matches a pod by the exit codes of its failed containers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailurePolicyOnExitCodesRequirement {
    /// Only this container's exit code counts; every container's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    pub operator: ExitCodeOperator,
    #[serde(default)]
    pub values: Vec<i32>,
}

/// How exit codes are compared with `values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ExitCodeOperator {
    #[default]
    In,
    NotIn,
}

/// Matches a pod by one of its conditions (`DisruptionTarget`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailurePolicyOnPodConditionsPattern {
    #[serde(default, rename = "type")]
    pub type_: String,
    /// Defaulted to `True`.
    #[serde(default = "condition_true")]
    pub status: ConditionStatus,
}

fn condition_true() -> ConditionStatus {
    ConditionStatus::True
}

/// What the Job controller last observed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<JobCondition>,
    /// When the Job was first (or, after a suspension, last) started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Job completed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Pods running or pending, not terminating.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub active: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub succeeded: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub failed: i32,
    /// Active pods that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<i32>,
    /// Indexed Jobs: the succeeded indexes, as ranges (`1,3-5,7`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completed_indexes: String,
    /// Indexed Jobs with a per-index limit: the failed indexes, as ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_indexes: Option<String>,
}

/// One fact about a Job (`Complete`, `Failed`, `Suspended`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCondition {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub status: ConditionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl JobCondition {
    /// Enough pods succeeded.
    pub const COMPLETE: &str = "Complete";
    /// The Job gave up.
    pub const FAILED: &str = "Failed";
    /// `spec.suspend` holds the Job.
    pub const SUSPENDED: &str = "Suspended";
}

impl Job {
    /// Whether the condition of this type is `True`.
    pub fn has_condition(&self, type_: &str) -> bool {
        self.status
            .conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == ConditionStatus::True)
    }

    /// Whether the Job has completed or failed for good.
    pub fn is_finished(&self) -> bool {
        self.has_condition(JobCondition::COMPLETE) || self.has_condition(JobCondition::FAILED)
    }

    /// The completion mode, `NonIndexed` when unset.
    pub fn completion_mode(&self) -> CompletionMode {
        self.spec.completion_mode.unwrap_or_default()
    }

    pub fn is_suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }

    /// Whether the API server generates the selector (`manualSelector` is not true).
    pub fn generates_selector(&self) -> bool {
        self.spec.manual_selector != Some(true)
    }

    /// The labels a generated selector puts on the template: the uid and name, each under
    /// its current and legacy key.
    pub fn generated_labels(&self) -> BTreeMap<String, String> {
        let uid = &self.metadata.uid;
        let name = &self.metadata.name;
        [
            (LEGACY_CONTROLLER_UID_LABEL, uid),
            (CONTROLLER_UID_LABEL, uid),
            (LEGACY_JOB_NAME_LABEL, name),
            (JOB_NAME_LABEL, name),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.clone()))
        .collect()
    }
}

/// Kubernetes' defaults: parallelism 1, completions 1 when neither is given, backoff limit 6
/// (unlimited with a per-index limit, which bounds retries instead), NonIndexed, not
/// suspended; and the generated selector once the uid is set.
pub(super) fn default_job(job: &mut Job) {
    let spec = &mut job.spec;
    if spec.completions.is_none() && spec.parallelism.is_none() {
        spec.completions = Some(1);
    }
    spec.parallelism.get_or_insert(1);
    let backoff_limit = if spec.backoff_limit_per_index.is_some() {
        i32::MAX
    } else {
        DEFAULT_BACKOFF_LIMIT
    };
    spec.backoff_limit.get_or_insert(backoff_limit);
    spec.completion_mode.get_or_insert_default();
    spec.suspend.get_or_insert(false);
    if job.generates_selector() && !job.metadata.uid.is_empty() {
        generate_selector(job);
    }
}

/// Labels the template with the Job's uid and name (keeping labels the user set, which
/// validation then checks) and selects the uid.
fn generate_selector(job: &mut Job) {
    let generated = job.generated_labels();
    let labels = &mut job.spec.template.metadata.labels;
    for (key, value) in generated {
        labels.entry(key).or_insert(value);
    }
    let uid = job.metadata.uid.clone();
    job.spec
        .selector
        .get_or_insert_with(LabelSelector::default)
        .match_labels
        .entry(CONTROLLER_UID_LABEL.to_owned())
        .or_insert(uid);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(uid: &str) -> Job {
        let mut job = Job::default();
        job.metadata.name = "pi".into();
        job.metadata.uid = uid.into();
        job
    }

    /// (completions, parallelism, backoffLimitPerIndex) in; (completions, parallelism,
    /// backoffLimit) out.
    type Case = (
        Option<i32>,
        Option<i32>,
        Option<i32>,
        (Option<i32>, i32, i32),
    );

    #[test]
    fn defaults_follow_kubernetes() {
        let cases: [Case; 4] = [
            (None, None, None, (Some(1), 1, 6)),
            (Some(4), None, None, (Some(4), 1, 6)),
            (None, Some(3), None, (None, 3, 6)),
            (Some(4), Some(2), Some(1), (Some(4), 2, i32::MAX)),
        ];
        for (completions, parallelism, per_index, want) in cases {
            let mut job = job("");
            job.spec.completions = completions;
            job.spec.parallelism = parallelism;
            job.spec.backoff_limit_per_index = per_index;
            default_job(&mut job);
            let got = (
                job.spec.completions,
                job.spec.parallelism.unwrap_or_default(),
                job.spec.backoff_limit.unwrap_or_default(),
            );
            assert_eq!(got, want, "{completions:?} {parallelism:?} {per_index:?}");
            assert_eq!(job.spec.completion_mode, Some(CompletionMode::NonIndexed));
            assert_eq!(job.spec.suspend, Some(false));
        }
    }

    #[test]
    fn the_selector_is_generated_from_the_uid_unless_manual() {
        let mut generated = job("u1");
        default_job(&mut generated);
        let selector = generated.spec.selector.as_ref().unwrap();
        assert_eq!(selector.match_labels[CONTROLLER_UID_LABEL], "u1");
        let labels = &generated.spec.template.metadata.labels;
        assert_eq!(labels[CONTROLLER_UID_LABEL], "u1");
        assert_eq!(labels[LEGACY_CONTROLLER_UID_LABEL], "u1");
        assert_eq!(labels[JOB_NAME_LABEL], "pi");
        assert_eq!(labels[LEGACY_JOB_NAME_LABEL], "pi");
        let again = {
            let mut again = generated.clone();
            default_job(&mut again);
            again
        };
        assert_eq!(again, generated, "defaulting is idempotent");

        let mut manual = job("u1");
        manual.spec.manual_selector = Some(true);
        default_job(&mut manual);
        assert!(manual.spec.selector.is_none());
        assert!(manual.spec.template.metadata.labels.is_empty());
    }

    #[test]
    fn round_trips_with_kubernetes_names() {
        let json = r#"{"spec":{"completionMode":"Indexed","backoffLimitPerIndex":1,
            "podFailurePolicy":{"rules":[{"action":"FailJob","onExitCodes":{"operator":"In","values":[42]}}]},
            "ttlSecondsAfterFinished":100},
            "status":{"completedIndexes":"0-2","failedIndexes":"3","ready":1}}"#;
        let job: Job = serde_json::from_str(json).unwrap();
        assert_eq!(job.completion_mode(), CompletionMode::Indexed);
        let rule = &job.spec.pod_failure_policy.as_ref().unwrap().rules[0];
        assert_eq!(rule.action, PodFailurePolicyAction::FailJob);
        assert_eq!(rule.on_exit_codes.as_ref().unwrap().values, [42]);
        assert_eq!(job.status.completed_indexes, "0-2");
        let back: Job = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(back, job);
    }
}
