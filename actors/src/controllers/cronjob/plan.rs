//! The pure reconcile step of the CronJob controller, after Kubernetes' `syncCronJob`: from
//! a CronJob, the Jobs it controls and the time, the Jobs to create and delete, the status to
//! write and when to look again.
//!
//! The run due is the most recent scheduled time since the last one (or the CronJob's
//! creation) that has not run: after a control-plane restart only the latest missed time
//! runs, as in Kubernetes, and more than 100 missed times are reported. A run that would
//! start later than `startingDeadlineSeconds` after its time is skipped; `Forbid` holds a run
//! while a Job is active (it starts once the Job finishes, if still in time), `Replace`
//! deletes the active Jobs first. Finished Jobs beyond the history limits are deleted, oldest
//! first.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    ConcurrencyPolicy, CronJob, CronJobStatus, CronSchedule, Job, JobCondition, Kind,
    ObjectReference, SCHEDULED_TIMESTAMP_ANNOTATION, Time, job_from_template, scheduled_job_name,
};

/// Missed times beyond which Kubernetes warns about clock skew or a missing deadline.
const MAX_MISSED: usize = 100;

/// One change the CronJob controller makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    CreateJob(Box<Job>),
    /// Delete the Job of this name (its pods follow).
    DeleteJob(String),
    UpdateStatus(Box<CronJobStatus>),
}

/// What one reconcile of a CronJob does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub effects: Vec<Effect>,
    /// Look again after this long: the next scheduled time.
    pub requeue_after: Option<Duration>,
    /// What an operator should hear of (Kubernetes records these as events).
    pub warnings: Vec<String>,
}

/// Plans one step of `cron_job`, given the Jobs it controls, at `now`.
pub fn plan(cron_job: &CronJob, jobs: &[&Job], now: SystemTime) -> Plan {
    let mut plan = Plan::default();
    if cron_job.metadata.deletion_timestamp.is_some() {
        return plan;
    }
    let mut status = cron_job.status.clone();
    let (mut active, finished): (Vec<&Job>, Vec<&Job>) =
        jobs.iter().copied().partition(|job| !job.is_finished());
    active.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    for job in &finished {
        if job.has_condition(JobCondition::COMPLETE)
            && let Some(completed) = job.status.completion_time
            && status
                .last_successful_time
                .is_none_or(|last| last < completed)
        {
            status.last_successful_time = Some(completed);
        }
    }
    plan.effects.extend(history_cleanup(cron_job, &finished));

    let schedule = CronSchedule::parse(&cron_job.spec.schedule, cron_job.spec.time_zone.as_deref());
    let schedule = match schedule {
        Ok(schedule) => Some(schedule),
        Err(error) => {
            plan.warnings.push(format!("unparseable schedule: {error}"));
            None
        }
    };
    if let Some(schedule) = &schedule
        && !cron_job.is_suspended()
    {
        let due = due_run(cron_job, schedule, now, &mut plan.warnings);
        if let Some(scheduled) = due {
            let policy = cron_job.concurrency_policy();
            // Forbid: not recorded as scheduled, so it runs when the active Job finishes, if
            // still within the starting deadline.
            if policy != ConcurrencyPolicy::Forbid || active.is_empty() {
                if policy == ConcurrencyPolicy::Replace {
                    for job in active.drain(..) {
                        plan.effects
                            .push(Effect::DeleteJob(job.metadata.name.clone()));
                    }
                }
                let job = scheduled_job(cron_job, schedule, scheduled);
                plan.effects.push(Effect::CreateJob(Box::new(job)));
                status.last_schedule_time = Some(Time::from(scheduled));
            }
        }
        plan.requeue_after = schedule
            .next_after(now)
            .map(|next| next.duration_since(now).unwrap_or_default());
    }
    let mut references: Vec<ObjectReference> = active.iter().map(|job| reference(job)).collect();
    for effect in &plan.effects {
        if let Effect::CreateJob(job) = effect {
            references.push(reference(job));
        }
    }
    status.active = references;
    if status != cron_job.status {
        plan.effects.push(Effect::UpdateStatus(Box::new(status)));
    }
    plan
}

/// The most recent scheduled time not yet run, if one is due by `now`. With a starting
/// deadline only the times within it count, so a run that would start too late is skipped.
fn due_run(
    cron_job: &CronJob,
    schedule: &CronSchedule,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Option<SystemTime> {
    let mut earliest = cron_job
        .status
        .last_schedule_time
        .or(cron_job.metadata.creation_timestamp)
        .map_or(now, |t| t.system_time());
    if let Some(deadline) = cron_job.spec.starting_deadline_seconds
        && let Ok(seconds) = u64::try_from(deadline)
        && let Some(window_start) = now.checked_sub(Duration::from_secs(seconds))
    {
        earliest = earliest.max(window_start);
    }
    let first = schedule.next_after(earliest).filter(|t| *t <= now)?;
    let mut missed = 1;
    let mut cursor = first;
    while missed <= MAX_MISSED {
        match schedule.next_after(cursor) {
            Some(next) if next <= now => {
                missed += 1;
                cursor = next;
            }
            _ => break,
        }
    }
    if missed > MAX_MISSED {
        warnings.push(format!(
            "too many missed start times (> {MAX_MISSED}). Set or decrease \
             .spec.startingDeadlineSeconds or check clock skew"
        ));
        cursor = schedule.last_at_or_before(now).unwrap_or(cursor);
    }
    Some(cursor)
}

/// The Job for the run scheduled at `scheduled`.
fn scheduled_job(cron_job: &CronJob, schedule: &CronSchedule, scheduled: SystemTime) -> Job {
    let name = scheduled_job_name(&cron_job.metadata.name, Time::from(scheduled));
    let annotation = (
        SCHEDULED_TIMESTAMP_ANNOTATION.to_owned(),
        schedule.local_text(scheduled),
    );
    job_from_template(cron_job, &name, [annotation])
}

/// Finished Jobs beyond the history limits, oldest first, as Kubernetes orders them (by
/// start time, then creation).
fn history_cleanup(cron_job: &CronJob, finished: &[&Job]) -> Vec<Effect> {
    let (succeeded, failed): (Vec<&Job>, Vec<&Job>) = finished
        .iter()
        .copied()
        .partition(|job| job.has_condition(JobCondition::COMPLETE));
    let spec = &cron_job.spec;
    [
        (succeeded, spec.successful_jobs_history_limit),
        (failed, spec.failed_jobs_history_limit),
    ]
    .into_iter()
    .flat_map(|(mut jobs, limit)| {
        let keep = limit
            .and_then(|l| usize::try_from(l).ok())
            .unwrap_or(usize::MAX);
        jobs.sort_by_key(|job| (job.status.start_time, job.metadata.creation_timestamp));
        let extra = jobs.len().saturating_sub(keep);
        jobs.into_iter()
            .take(extra)
            .filter(|job| job.metadata.deletion_timestamp.is_none())
            .map(|job| Effect::DeleteJob(job.metadata.name.clone()))
            .collect::<Vec<_>>()
    })
    .collect()
}

fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        kind: Kind::Job.as_str().to_owned(),
        namespace: job.metadata.namespace.clone(),
        name: job.metadata.name.clone(),
        uid: job.metadata.uid.clone(),
    }
}
