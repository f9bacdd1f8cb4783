//! `describe job` and `describe cronjob`, as kubectl shows them: a Job's counts and limits,
//! when it started and finished, its pods by state (and, for Indexed Jobs, the completed and
//! failed indexes), the pod template and the conditions; a CronJob's schedule, policies,
//! template, last schedule time and active Jobs.

use flotilla_kernel::object::{CompletionMode, CronJob, Job, Pod, PodPhase};

use super::super::{label_text, table, wire_word};
use super::layout::Layout;
use super::{conditions, meta, workload};

/// The view of `job` and of the pods it controls.
pub fn view(job: &Job, pods: &[Pod]) -> String {
    let mut layout = Layout::default();
    let (spec, status) = (&job.spec, &job.status);
    meta::identity(&mut layout, &job.metadata, true);
    if let Some(selector) = &spec.selector {
        layout.field(0, "Selector", label_text::selector(selector));
    }
    meta::controller(&mut layout, &job.metadata);
    let unset = |value: Option<String>| value.unwrap_or_else(|| "<unset>".to_owned());
    layout.field(
        0,
        "Parallelism",
        unset(spec.parallelism.map(|n| n.to_string())),
    );
    layout.field(
        0,
        "Completions",
        unset(spec.completions.map(|n| n.to_string())),
    );
    layout.field(0, "Completion Mode", wire_word::of(&job.completion_mode()));
    layout.field(0, "Suspend", job.is_suspended().to_string());
    layout.field(
        0,
        "Backoff Limit",
        unset(spec.backoff_limit.map(|n| n.to_string())),
    );
    if let Some(limit) = spec.backoff_limit_per_index {
        layout.field(0, "Backoff Limit Per Index", limit.to_string());
    }
    if let Some(ttl) = spec.ttl_seconds_after_finished {
        layout.field(0, "TTL Seconds After Finished", ttl.to_string());
    }
    layout.field(0, "Start Time", meta::timestamp(status.start_time.as_ref()));
    if let (Some(start), Some(end)) = (status.start_time, status.completion_time) {
        layout.field(0, "Completed At", end.to_string());
        let seconds = end
            .system_time()
            .duration_since(start.system_time())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        layout.field(0, "Duration", table::human_duration(seconds));
    }
    if let Some(deadline) = spec.active_deadline_seconds {
        layout.field(0, "Active Deadline Seconds", format!("{deadline}s"));
    }
    let failed = pods
        .iter()
        .filter(|p| p.status.phase == PodPhase::Failed)
        .count();
    layout.field(
        0,
        "Pods Statuses",
        format!(
            "{} Active ({} Ready) / {} Succeeded / {} Failed",
            status.active,
            status.ready.unwrap_or_default(),
            status.succeeded,
            status.failed.max(i32::try_from(failed).unwrap_or(i32::MAX)),
        ),
    );
    if job.completion_mode() == CompletionMode::Indexed {
        let or_none = |text: &str| {
            if text.is_empty() {
                "<none>".to_owned()
            } else {
                text.to_owned()
            }
        };
        layout.field(0, "Completed Indexes", or_none(&status.completed_indexes));
        if let Some(failed) = &status.failed_indexes {
            layout.field(0, "Failed Indexes", or_none(failed));
        }
    }
    workload::template(&mut layout, &spec.template);
    conditions::table(
        &mut layout,
        status.conditions.iter().map(|condition| conditions::Row {
            type_: &condition.type_,
            status: condition.status,
            reason: &condition.reason,
            message: &condition.message,
        }),
    );
    layout.render()
}

/// The view of `cron_job`.
pub fn cron_job_view(cron_job: &CronJob) -> String {
    let mut layout = Layout::default();
    let (spec, status) = (&cron_job.spec, &cron_job.status);
    meta::identity(&mut layout, &cron_job.metadata, true);
    let unset = |value: Option<String>| value.unwrap_or_else(|| "<unset>".to_owned());
    layout.field(0, "Schedule", spec.schedule.as_str());
    layout.field(0, "Time Zone", unset(spec.time_zone.clone()));
    layout.field(
        0,
        "Concurrency Policy",
        wire_word::of(&cron_job.concurrency_policy()),
    );
    layout.field(0, "Suspend", cron_job.is_suspended().to_string());
    layout.field(
        0,
        "Successful Job History Limit",
        unset(spec.successful_jobs_history_limit.map(|n| n.to_string())),
    );
    layout.field(
        0,
        "Failed Job History Limit",
        unset(spec.failed_jobs_history_limit.map(|n| n.to_string())),
    );
    layout.field(
        0,
        "Starting Deadline Seconds",
        unset(spec.starting_deadline_seconds.map(|s| format!("{s}s"))),
    );
    let job = &spec.job_template.spec;
    layout.field(
        0,
        "Parallelism",
        unset(job.parallelism.map(|n| n.to_string())),
    );
    layout.field(
        0,
        "Completions",
        unset(job.completions.map(|n| n.to_string())),
    );
    workload::template(&mut layout, &job.template);
    layout.field(
        0,
        "Last Schedule Time",
        meta::timestamp(status.last_schedule_time.as_ref()),
    );
    let active: Vec<&str> = status.active.iter().map(|r| r.name.as_str()).collect();
    layout.field(
        0,
        "Active Jobs",
        if active.is_empty() {
            "<none>".to_owned()
        } else {
            active.join(", ")
        },
    );
    layout.render()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::Time;

    use super::*;

    #[test]
    fn an_indexed_job_shows_its_counts_and_indexes() {
        let mut job = Job::default();
        job.metadata.name = "pi".into();
        job.spec.parallelism = Some(2);
        job.spec.completions = Some(4);
        job.spec.completion_mode = Some(CompletionMode::Indexed);
        job.spec.backoff_limit = Some(6);
        job.status.start_time = Some("2026-12-07T10:00:00Z".parse::<Time>().unwrap());
        job.status.completion_time = Some("2026-12-07T10:01:30Z".parse::<Time>().unwrap());
        job.status.succeeded = 4;
        job.status.completed_indexes = "0-3".into();
        let text = view(&job, &[]);
        for part in [
            "Parallelism:        2\n",
            "Completions:        4\n",
            "Completion Mode:    Indexed\n",
            "Duration:           90s\n",
            "Pods Statuses:      0 Active (0 Ready) / 4 Succeeded / 0 Failed\n",
            "Completed Indexes:  0-3\n",
        ] {
            assert!(text.contains(part), "{part:?} missing from:\n{text}");
        }
    }

    #[test]
    fn a_cron_job_shows_its_schedule_and_active_jobs() {
        let mut cron_job = CronJob::default();
        cron_job.metadata.name = "hello".into();
        cron_job.spec.schedule = "*/1 * * * *".into();
        cron_job
            .status
            .active
            .push(flotilla_kernel::object::ObjectReference {
                name: "hello-29943965".into(),
                ..Default::default()
            });
        let text = cron_job_view(&cron_job);
        for part in [
            "Schedule:                      */1 * * * *\n",
            "Concurrency Policy:            Allow\n",
            "Active Jobs:         hello-29943965\n",
        ] {
            assert!(text.contains(part), "{part:?} missing from:\n{text}");
        }
    }
}
