//! Tables for the CronJob controller's plan against Kubernetes' documented behaviour.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    ConcurrencyPolicy, ConditionStatus, CronJob, Job, JobCondition, Kind, ObjectMeta, Time,
};

use super::plan::{Effect, Plan, plan};
use crate::controllers::ownership::controller_reference;

/// 2026-12-07T10:00:00Z, a whole hour.
const T0: u64 = 1_796_637_600;

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + seconds)
}

fn cron_job(edit: impl FnOnce(&mut CronJob)) -> CronJob {
    let mut cron_job = CronJob::default();
    cron_job.metadata.name = "hello".into();
    cron_job.metadata.namespace = "default".into();
    cron_job.metadata.uid = "c1".into();
    cron_job.metadata.creation_timestamp = Some(Time::from(at(0)));
    cron_job.spec.schedule = "*/1 * * * *".into();
    cron_job.spec.successful_jobs_history_limit = Some(3);
    cron_job.spec.failed_jobs_history_limit = Some(1);
    edit(&mut cron_job);
    cron_job
}

/// A Job of `cron_job` started at `start`, finished (`Some(true)` complete, `Some(false)`
/// failed) or still active.
fn job(cron_job: &CronJob, name: &str, start: u64, outcome: Option<bool>) -> Job {
    let mut job = Job {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: "default".into(),
            uid: format!("uid-{name}"),
            owner_references: vec![controller_reference(Kind::CronJob, &cron_job.metadata)],
            creation_timestamp: Some(Time::from(at(start))),
            ..ObjectMeta::default()
        },
        ..Job::default()
    };
    job.status.start_time = Some(Time::from(at(start)));
    if let Some(complete) = outcome {
        let type_ = if complete {
            job.status.completion_time = Some(Time::from(at(start + 5)));
            JobCondition::COMPLETE
        } else {
            JobCondition::FAILED
        };
        job.status.conditions.push(JobCondition {
            type_: type_.into(),
            status: ConditionStatus::True,
            ..JobCondition::default()
        });
    }
    job
}

fn run(cron_job: &CronJob, jobs: &[Job], now: u64) -> Plan {
    let jobs: Vec<&Job> = jobs.iter().collect();
    plan(cron_job, &jobs, at(now))
}

fn created(plan: &Plan) -> Vec<String> {
    plan.effects
        .iter()
        .filter_map(|e| match e {
            Effect::CreateJob(job) => Some(job.metadata.name.clone()),
            _ => None,
        })
        .collect()
}

fn deleted(plan: &Plan) -> Vec<String> {
    plan.effects
        .iter()
        .filter_map(|e| match e {
            Effect::DeleteJob(name) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn minutes(seconds: u64) -> String {
    format!("hello-{}", (T0 + seconds) / 60)
}

#[test]
fn the_most_recent_unmet_time_runs_once() {
    // (last schedule time, now, created, requeue)
    let cases: [(Option<u64>, u64, Option<u64>, u64); 4] = [
        (None, 30, None, 30),
        (None, 60, Some(60), 60),
        (Some(60), 90, None, 30),
        // After a restart three runs were missed: only the latest runs.
        (Some(60), 250, Some(240), 50),
    ];
    for (last, now, want, requeue) in cases {
        let cron_job = cron_job(|c| c.status.last_schedule_time = last.map(|s| Time::from(at(s))));
        let plan = run(&cron_job, &[], now);
        let want: Vec<String> = want.map(minutes).into_iter().collect();
        assert_eq!(created(&plan), want, "last {last:?} now {now}");
        assert_eq!(
            plan.requeue_after,
            Some(Duration::from_secs(requeue)),
            "now {now}"
        );
    }
}

#[test]
fn a_scheduled_job_is_named_annotated_and_recorded() {
    let cron_job = cron_job(|c| c.spec.time_zone = Some("Europe/Berlin".into()));
    let plan = run(&cron_job, &[], 61);
    let Some(Effect::CreateJob(job)) = plan.effects.first() else {
        panic!("no job: {plan:?}");
    };
    assert_eq!(job.metadata.name, minutes(60));
    assert_eq!(
        job.metadata.annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"],
        "2026-12-07T11:01:00+01:00"
    );
    let Some(Effect::UpdateStatus(status)) = plan.effects.last() else {
        panic!("no status: {plan:?}");
    };
    assert_eq!(status.last_schedule_time, Some(Time::from(at(60))));
    assert_eq!(status.active.len(), 1);
    assert_eq!(status.active[0].name, minutes(60));
}

#[test]
fn concurrency_policies_decide_about_active_jobs() {
    // (policy, created, deleted)
    let cases = [
        (ConcurrencyPolicy::Allow, 1, 0),
        (ConcurrencyPolicy::Forbid, 0, 0),
        (ConcurrencyPolicy::Replace, 1, 1),
    ];
    for (policy, want_created, want_deleted) in cases {
        let cron_job = cron_job(|c| {
            c.spec.concurrency_policy = Some(policy);
            c.status.last_schedule_time = Some(Time::from(at(60)));
        });
        let running = job(&cron_job, &minutes(60), 60, None);
        let plan = run(&cron_job, &[running], 125);
        assert_eq!(created(&plan).len(), want_created, "{policy:?}");
        assert_eq!(deleted(&plan).len(), want_deleted, "{policy:?}");
    }
}

#[test]
fn a_run_past_its_starting_deadline_is_skipped() {
    let cron_job = cron_job(|c| {
        c.spec.schedule = "0 * * * *".into();
        c.spec.starting_deadline_seconds = Some(30);
    });
    let plan = run(&cron_job, &[], 3600 + 45);
    assert!(created(&plan).is_empty());
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(3600 - 45)));
    let in_time = run(&cron_job, &[], 3600 + 20);
    assert_eq!(created(&in_time), [minutes(3600)]);
}

#[test]
fn too_many_missed_times_are_reported_and_the_latest_runs() {
    let cron_job = cron_job(|c| c.status.last_schedule_time = Some(Time::from(at(0))));
    let plan = run(&cron_job, &[], 200 * 60 + 10);
    assert_eq!(created(&plan), [minutes(200 * 60)]);
    assert!(plan.warnings[0].starts_with("too many missed start times (> 100)"));
}

#[test]
fn suspended_cron_jobs_start_nothing() {
    let cron_job = cron_job(|c| c.spec.suspend = Some(true));
    let plan = run(&cron_job, &[], 600);
    assert!(created(&plan).is_empty());
    assert_eq!(plan.requeue_after, None);
}

#[test]
fn finished_jobs_beyond_the_history_limits_are_deleted_oldest_first() {
    let cron_job = cron_job(|c| {
        c.spec.successful_jobs_history_limit = Some(1);
        c.spec.failed_jobs_history_limit = Some(0);
        c.status.last_schedule_time = Some(Time::from(at(180)));
    });
    let jobs = [
        job(&cron_job, "a", 60, Some(true)),
        job(&cron_job, "b", 120, Some(true)),
        job(&cron_job, "c", 180, Some(false)),
        job(&cron_job, "d", 170, None),
    ];
    let plan = run(&cron_job, &jobs, 200);
    let mut gone = deleted(&plan);
    gone.sort();
    assert_eq!(gone, ["a", "c"]);
    let Some(Effect::UpdateStatus(status)) = plan.effects.last() else {
        panic!("no status: {plan:?}");
    };
    assert_eq!(status.last_successful_time, Some(Time::from(at(125))));
    let active: Vec<&str> = status.active.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(active, ["d"]);
}
