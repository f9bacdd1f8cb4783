//! `CronJob` (batch/v1): creates a Job from its template at each time of a cron schedule, with
//! Kubernetes' spec, status and defaults, and the Job such a time (or an operator's
//! `create job --from=cronjob/NAME`) makes.

use serde::{Deserialize, Serialize};

use super::endpoint_slice::ObjectReference;
use super::job::JobSpec;
use super::kind::Kind;
use super::meta::{ObjectMeta, OwnerReference};
use super::time::Time;

/// Successful Jobs a CronJob keeps when it does not say.
pub const DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT: i32 = 3;
/// Failed Jobs a CronJob keeps when it does not say.
pub const DEFAULT_FAILED_JOBS_HISTORY_LIMIT: i32 = 1;
/// The annotation on a scheduled Job: the time it was scheduled for, in the CronJob's zone.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// The annotation `create job --from=cronjob/NAME` puts on the Job it makes.
pub const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";
/// The longest CronJob name: its Jobs add `-` and up to ten digits of minutes.
pub const MAX_CRON_JOB_NAME_LENGTH: usize = 52;

/// Runs a Job on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJob {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: CronJobSpec,
    #[serde(default)]
    pub status: CronJobStatus,
}

/// When to run, what, and how runs may overlap.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobSpec {
    /// Standard cron (`*/5 * * * *`, `@hourly`).
    #[serde(default)]
    pub schedule: String,
    /// The IANA time zone the schedule is read in; UTC when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// A run that cannot start within this many seconds of its time is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
    /// Defaulted to `Allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// While true no new Job is started; defaulted to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    #[serde(default)]
    pub job_template: JobTemplateSpec,
    /// Defaulted to 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_jobs_history_limit: Option<i32>,
    /// Defaulted to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_jobs_history_limit: Option<i32>,
}

/// Whether a run may start while an earlier one is still active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ConcurrencyPolicy {
    /// Runs may overlap.
    #[default]
    Allow,
    /// A run due while another is active waits for it.
    Forbid,
    /// A run due while another is active replaces it.
    Replace,
}

/// The metadata and spec of the Jobs a CronJob creates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplateSpec {
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Boxed: a CronJob would otherwise be the largest `Object` by far.
    #[serde(default)]
    pub spec: Box<JobSpec>,
}

/// What the CronJob controller last observed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobStatus {
    /// The Jobs still running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ObjectReference>,
    /// The time the last Job was scheduled for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When a Job last completed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
}

impl CronJob {
    pub fn is_suspended(&self) -> bool {
        self.spec.suspend == Some(true)
    }

    pub fn concurrency_policy(&self) -> ConcurrencyPolicy {
        self.spec.concurrency_policy.unwrap_or_default()
    }
}

/// Kubernetes' defaults: `Allow`, not suspended, history limits 3 and 1.
pub(super) fn default_cron_job(cron_job: &mut CronJob) {
    let spec = &mut cron_job.spec;
    spec.concurrency_policy.get_or_insert_default();
    spec.suspend.get_or_insert(false);
    spec.successful_jobs_history_limit
        .get_or_insert(DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT);
    spec.failed_jobs_history_limit
        .get_or_insert(DEFAULT_FAILED_JOBS_HISTORY_LIMIT);
}

/// The name of the Job scheduled for `scheduled`: `<cronjob>-<minutes since the epoch>`.
pub fn scheduled_job_name(cron_job: &str, scheduled: Time) -> String {
    let minutes = scheduled
        .system_time()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 60);
    format!("{cron_job}-{minutes}")
}

/// A Job named `name` from the CronJob's template, controlled by the CronJob, with extra
/// `annotations` (the scheduled time, or the manual instantiation).
pub fn job_from_template(
    cron_job: &CronJob,
    name: &str,
    annotations: impl IntoIterator<Item = (String, String)>,
) -> super::job::Job {
    let template = &cron_job.spec.job_template;
    let mut metadata = ObjectMeta {
        name: name.to_owned(),
        namespace: cron_job.metadata.namespace.clone(),
        labels: template.metadata.labels.clone(),
        annotations: template.metadata.annotations.clone(),
        owner_references: vec![OwnerReference {
            api_version: Kind::CronJob.api_version().to_owned(),
            kind: Kind::CronJob.as_str().to_owned(),
            name: cron_job.metadata.name.clone(),
            uid: cron_job.metadata.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }],
        ..ObjectMeta::default()
    };
    metadata.annotations.extend(annotations);
    super::job::Job {
        api_version: Kind::Job.api_version().to_owned(),
        kind: Kind::Job.as_str().to_owned(),
        metadata,
        spec: JobSpec::clone(&template.spec),
        status: super::job::JobStatus::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_names_follow_kubernetes() {
        let mut cron_job = CronJob::default();
        default_cron_job(&mut cron_job);
        assert_eq!(
            cron_job.spec.concurrency_policy,
            Some(ConcurrencyPolicy::Allow)
        );
        assert_eq!(cron_job.spec.successful_jobs_history_limit, Some(3));
        assert_eq!(cron_job.spec.failed_jobs_history_limit, Some(1));
        assert_eq!(cron_job.spec.suspend, Some(false));
        let at: Time = "2026-12-07T10:05:00Z".parse().unwrap();
        assert_eq!(scheduled_job_name("hello", at), "hello-29943965");
    }

    #[test]
    fn a_job_from_the_template_is_controlled_by_the_cron_job() {
        let mut cron_job = CronJob::default();
        cron_job.metadata.name = "hello".into();
        cron_job.metadata.namespace = "default".into();
        cron_job.metadata.uid = "c1".into();
        cron_job
            .spec
            .job_template
            .metadata
            .labels
            .insert("app".into(), "hello".into());
        cron_job.spec.job_template.spec.parallelism = Some(2);
        let job = job_from_template(
            &cron_job,
            "hello-1",
            [(INSTANTIATE_ANNOTATION.to_owned(), "manual".to_owned())],
        );
        assert_eq!(job.metadata.name, "hello-1");
        assert_eq!(job.metadata.labels["app"], "hello");
        assert_eq!(job.metadata.annotations[INSTANTIATE_ANNOTATION], "manual");
        let owner = job.metadata.controller_ref().unwrap();
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("CronJob", "c1"));
        assert_eq!(job.spec.parallelism, Some(2));
    }
}
