//! The columns of Jobs, as kubectl shows them: the status word, completions and how long the
//! Job ran.

use std::time::SystemTime;

use flotilla_kernel::object::{Job, JobCondition};

use super::super::table;
use super::{Cells, age};

/// NAME STATUS COMPLETIONS DURATION AGE.
pub(super) fn job_cells(job: &Job, now: SystemTime) -> Cells {
    (
        vec![
            job.metadata.name.clone(),
            status(job).to_owned(),
            completions(job),
            duration(job, now),
            age(&job.metadata, now),
        ],
        vec![],
    )
}

/// kubectl's word, finished states first.
fn status(job: &Job) -> &'static str {
    if job.has_condition(JobCondition::COMPLETE) {
        "Complete"
    } else if job.has_condition(JobCondition::FAILED) {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if job.has_condition(JobCondition::SUSPENDED) {
        "Suspended"
    } else {
        "Running"
    }
}

/// `succeeded/completions`; a work queue (no completions) shows `/1`, with its parallelism.
fn completions(job: &Job) -> String {
    let succeeded = job.status.succeeded;
    match (job.spec.completions, job.spec.parallelism) {
        (Some(completions), _) => format!("{succeeded}/{completions}"),
        (None, Some(parallelism)) if parallelism > 1 => {
            format!("{succeeded}/1 of {parallelism}")
        }
        (None, _) => format!("{succeeded}/1"),
    }
}

/// From the start to the completion, or to now while running; empty before the start.
fn duration(job: &Job, now: SystemTime) -> String {
    let Some(start) = job.status.start_time else {
        return String::new();
    };
    let end = job.status.completion_time.map_or(now, |t| t.system_time());
    let seconds = end
        .duration_since(start.system_time())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    table::human_duration(seconds)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{ConditionStatus, ObjectMeta, Time};

    use super::*;

    #[test]
    fn a_job_row_reads_like_kubectl() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let ago = |seconds| Some(Time::from(now - Duration::from_secs(seconds)));
        let mut job = Job {
            metadata: ObjectMeta {
                name: "pi".to_owned(),
                creation_timestamp: ago(300),
                ..ObjectMeta::default()
            },
            ..Job::default()
        };
        job.spec.completions = Some(4);
        job.spec.parallelism = Some(2);
        job.status.succeeded = 1;
        job.status.start_time = ago(90);
        assert_eq!(
            job_cells(&job, now).0,
            ["pi", "Running", "1/4", "90s", "5m"]
        );

        job.status.succeeded = 4;
        job.status.completion_time = ago(30);
        job.status.conditions.push(JobCondition {
            type_: JobCondition::COMPLETE.into(),
            status: ConditionStatus::True,
            ..JobCondition::default()
        });
        assert_eq!(job_cells(&job, now).0[1..4], ["Complete", "4/4", "60s"]);

        job.spec.completions = None;
        job.spec.parallelism = Some(3);
        assert_eq!(completions(&job), "4/1 of 3");
        job.status.start_time = None;
        assert_eq!(duration(&job, now), "");
    }
}
