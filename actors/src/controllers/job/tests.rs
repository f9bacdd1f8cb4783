//! Tables for the Job controller's plan against Kubernetes' documented behaviour.

use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    CompletionMode, ConditionStatus, Container, ContainerState, ContainerStateTerminated,
    ContainerStatus, ExitCodeOperator, JOB_COMPLETION_INDEX, Job, JobCondition, JobStatus, Kind,
    ObjectMeta, Pod, PodCondition, PodFailurePolicy, PodFailurePolicyAction,
    PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule, PodPhase, RestartPolicy, Time,
};

use super::plan::{Effect, Plan, plan};
use crate::controllers::ownership::controller_reference;

const T0: u64 = 1_800_000_000;

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + seconds)
}

fn job(edit: impl FnOnce(&mut Job)) -> Job {
    let mut job = Job::default();
    job.metadata.name = "pi".into();
    job.metadata.namespace = "default".into();
    job.metadata.uid = "u1".into();
    job.spec.parallelism = Some(1);
    job.spec.completions = Some(1);
    job.spec.backoff_limit = Some(6);
    job.spec.template.spec.restart_policy = RestartPolicy::Never;
    job.spec.template.spec.containers.push(Container {
        name: "main".into(),
        image: "perl:5".into(),
        ..Container::default()
    });
    job.status.start_time = Some(Time::from(at(0)));
    edit(&mut job);
    job
}

fn indexed(completions: i32, parallelism: i32) -> impl FnOnce(&mut Job) {
    move |job| {
        job.spec.completion_mode = Some(CompletionMode::Indexed);
        job.spec.completions = Some(completions);
        job.spec.parallelism = Some(parallelism);
    }
}

/// A pod of `job` named `name`, in `phase`, with `index` and, once finished at `finished`
/// seconds, the exit code.
fn pod(
    job: &Job,
    name: &str,
    phase: PodPhase,
    index: Option<i32>,
    exit: Option<(i32, u64)>,
) -> Pod {
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: "default".into(),
            owner_references: vec![controller_reference(Kind::Job, &job.metadata)],
            creation_timestamp: Some(Time::from(at(0))),
            ..ObjectMeta::default()
        },
        ..Pod::default()
    };
    if let Some(index) = index {
        pod.metadata
            .annotations
            .insert(JOB_COMPLETION_INDEX.into(), index.to_string());
    }
    pod.status.phase = phase;
    if let Some((code, finished)) = exit {
        pod.status.container_statuses.push(ContainerStatus {
            name: "main".into(),
            state: ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    finished_at: Some(Time::from(at(finished))),
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            },
            ..ContainerStatus::default()
        });
    }
    pod
}

fn running(job: &Job, name: &str, index: Option<i32>) -> Pod {
    pod(job, name, PodPhase::Running, index, None)
}

fn succeeded(job: &Job, name: &str, index: Option<i32>) -> Pod {
    pod(job, name, PodPhase::Succeeded, index, Some((0, 5)))
}

fn failed(job: &Job, name: &str, index: Option<i32>, code: i32, when: u64) -> Pod {
    pod(job, name, PodPhase::Failed, index, Some((code, when)))
}

fn run(job: &Job, pods: &[Pod], now: u64) -> Plan {
    let pods: Vec<&Pod> = pods.iter().collect();
    plan(job, &pods, at(now))
}

/// The completion indexes of the pods the plan creates (`-1` for NonIndexed ones).
fn created(plan: &Plan) -> Vec<i32> {
    plan.effects
        .iter()
        .filter_map(|e| match e {
            Effect::CreatePod(pod) => Some(
                pod.metadata
                    .annotations
                    .get(JOB_COMPLETION_INDEX)
                    .map_or(-1, |i| i.parse().unwrap_or(-2)),
            ),
            _ => None,
        })
        .collect()
}

fn deleted(plan: &Plan) -> Vec<String> {
    plan.effects
        .iter()
        .filter_map(|e| match e {
            Effect::DeletePod(name) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn status(plan: &Plan) -> Option<&JobStatus> {
    plan.effects.iter().find_map(|e| match e {
        Effect::UpdateStatus(status) => Some(status.as_ref()),
        _ => None,
    })
}

/// The condition of `type_` that is True in the planned status, as (reason, message).
fn condition(plan: &Plan, type_: &str) -> Option<(String, String)> {
    status(plan)?
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == ConditionStatus::True)
        .map(|c| (c.reason.clone(), c.message.clone()))
}

fn failure_reason(plan: &Plan) -> Option<String> {
    condition(plan, JobCondition::FAILED).map(|(reason, _)| reason)
}

#[test]
fn non_indexed_jobs_run_parallelism_pods_until_completions_succeed() {
    // (completions, parallelism, running, succeeded, created, complete)
    let cases: [(Option<i32>, i32, usize, usize, usize, bool); 7] = [
        (Some(1), 1, 0, 0, 1, false),
        (Some(5), 2, 0, 0, 2, false),
        (Some(5), 2, 1, 0, 1, false),
        (Some(5), 3, 0, 4, 1, false),
        (Some(3), 2, 0, 3, 0, true),
        // A work queue: no completions; the first success stops new pods.
        (None, 3, 0, 0, 3, false),
        (None, 3, 0, 1, 0, true),
    ];
    for (completions, parallelism, active, done, want_created, want_complete) in cases {
        let job = job(|j| {
            j.spec.completions = completions;
            j.spec.parallelism = Some(parallelism);
        });
        let mut pods: Vec<Pod> = (0..active)
            .map(|i| running(&job, &format!("r{i}"), None))
            .collect();
        pods.extend((0..done).map(|i| succeeded(&job, &format!("s{i}"), None)));
        let plan = run(&job, &pods, 10);
        let case = format!("{completions:?}/{parallelism} with {active} running, {done} done");
        assert_eq!(created(&plan).len(), want_created, "{case}");
        assert_eq!(
            condition(&plan, JobCondition::COMPLETE).is_some(),
            want_complete,
            "{case}"
        );
    }
}

#[test]
fn a_completed_job_records_its_completion_and_counts() {
    let job = job(|j| j.spec.completions = Some(2));
    let pods = [succeeded(&job, "a", None), succeeded(&job, "b", None)];
    let plan = run(&job, &pods, 10);
    let status = status(&plan).unwrap();
    assert_eq!(status.succeeded, 2);
    assert_eq!(status.active, 0);
    assert_eq!(status.completion_time, Some(Time::from(at(10))));
    assert_eq!(
        condition(&plan, JobCondition::COMPLETE),
        Some((
            "CompletionsReached".into(),
            "Reached expected number of succeeded pods".into()
        ))
    );
}

#[test]
fn extra_active_pods_are_deleted_unscheduled_first() {
    let job = job(|j| {
        j.spec.completions = Some(5);
        j.spec.parallelism = Some(1);
    });
    let mut scheduled = running(&job, "scheduled", None);
    scheduled.spec.node_name = "n1".into();
    let pods = [scheduled, running(&job, "pending", None)];
    assert_eq!(deleted(&run(&job, &pods, 10)), ["pending"]);
}

/// (completions, parallelism, running indexes, succeeded indexes, created indexes)
type IndexCase = (i32, i32, &'static [i32], &'static [i32], &'static [i32]);

#[test]
fn indexed_jobs_run_one_pod_per_pending_index_lowest_first() {
    let cases: [IndexCase; 5] = [
        (4, 2, &[], &[], &[0, 1]),
        (4, 2, &[0], &[], &[1]),
        (4, 2, &[], &[0, 1], &[2, 3]),
        (4, 2, &[3], &[0, 1], &[2]),
        (4, 4, &[], &[1, 3], &[0, 2]),
    ];
    for (completions, parallelism, active, done, want) in cases {
        let job = job(indexed(completions, parallelism));
        let mut pods: Vec<Pod> = active
            .iter()
            .map(|i| running(&job, &format!("r{i}"), Some(*i)))
            .collect();
        pods.extend(
            done.iter()
                .map(|i| succeeded(&job, &format!("s{i}"), Some(*i))),
        );
        let plan = run(&job, &pods, 10);
        assert_eq!(created(&plan), want, "{active:?} running, {done:?} done");
        let status = status(&plan).unwrap();
        assert_eq!(status.active, count(active.len() + want.len()));
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap()
}

#[test]
fn an_indexed_job_completes_when_every_index_succeeded() {
    let job = job(indexed(4, 2));
    let pods: Vec<Pod> = [0, 1, 3]
        .iter()
        .map(|i| succeeded(&job, &format!("s{i}"), Some(*i)))
        .collect();
    let plan = run(&job, &pods, 10);
    assert_eq!(status(&plan).unwrap().completed_indexes, "0-1,3");
    assert!(condition(&plan, JobCondition::COMPLETE).is_none());
    let mut pods = pods;
    pods.push(succeeded(&job, "s2", Some(2)));
    let plan = run(&job, &pods, 10);
    let status = status(&plan).unwrap();
    assert_eq!(
        (status.completed_indexes.as_str(), status.succeeded),
        ("0-3", 4)
    );
    assert!(condition(&plan, JobCondition::COMPLETE).is_some());
}

#[test]
fn duplicate_and_finished_index_pods_are_deleted() {
    let job = job(indexed(3, 3));
    let mut older = running(&job, "older", Some(0));
    older.spec.node_name = "n1".into();
    let pods = [
        older,
        running(&job, "newer", Some(0)),
        succeeded(&job, "done", Some(1)),
        running(&job, "late", Some(1)),
        running(&job, "stray", None),
    ];
    let plan = run(&job, &pods, 10);
    let mut gone = deleted(&plan);
    gone.sort();
    assert_eq!(gone, ["late", "newer", "stray"]);
    assert_eq!(created(&plan), [2]);
}

#[test]
fn failures_are_replaced_after_an_exponential_backoff() {
    // (failure times, now, created, requeue)
    let cases: [(&[u64], u64, usize, Option<u64>); 4] = [
        (&[100], 105, 0, Some(5)),
        (&[100], 110, 1, None),
        (&[100, 200], 215, 0, Some(5)),
        (&[100, 200], 220, 1, None),
    ];
    for (failures, now, want_created, want_requeue) in cases {
        let job = job(|j| j.spec.completions = Some(1));
        let pods: Vec<Pod> = failures
            .iter()
            .enumerate()
            .map(|(i, t)| failed(&job, &format!("f{i}"), None, 1, *t))
            .collect();
        let plan = run(&job, &pods, now);
        assert_eq!(created(&plan).len(), want_created, "{failures:?} at {now}");
        assert_eq!(
            plan.requeue_after,
            want_requeue.map(Duration::from_secs),
            "{failures:?} at {now}"
        );
    }
}

#[test]
fn the_job_fails_past_its_backoff_limit() {
    // (backoffLimit, failures, fails)
    let cases = [
        (0, 0, false),
        (0, 1, true),
        (2, 2, false),
        (2, 3, true),
        (6, 7, true),
    ];
    for (limit, failures, fails) in cases {
        let job = job(|j| j.spec.backoff_limit = Some(limit));
        let mut pods: Vec<Pod> = (0..failures)
            .map(|i| failed(&job, &format!("f{i}"), None, 1, 100))
            .collect();
        pods.push(running(&job, "r", None));
        let plan = run(&job, &pods, 1000);
        let want = fails.then(|| "BackoffLimitExceeded".to_owned());
        assert_eq!(
            failure_reason(&plan),
            want,
            "limit {limit}, {failures} failures"
        );
        assert_eq!(
            deleted(&plan).len(),
            usize::from(fails),
            "the running pod goes"
        );
    }
    let job = job(|j| j.spec.backoff_limit = Some(0));
    let plan = run(&job, &[failed(&job, "f", None, 1, 100)], 1000);
    assert_eq!(
        condition(&plan, JobCondition::FAILED).unwrap().1,
        "Job has reached the specified backoff limit"
    );
}

#[test]
fn on_failure_restarts_count_against_the_backoff_limit() {
    let job = job(|j| {
        j.spec.backoff_limit = Some(2);
        j.spec.template.spec.restart_policy = RestartPolicy::OnFailure;
    });
    for (restarts, fails) in [(1, false), (2, true)] {
        let mut pod = running(&job, "r", None);
        pod.status.container_statuses.push(ContainerStatus {
            name: "main".into(),
            restart_count: restarts,
            ..ContainerStatus::default()
        });
        let reason = failure_reason(&run(&job, &[pod], 10));
        assert_eq!(reason.is_some(), fails, "{restarts} restarts");
    }
}

#[test]
fn the_active_deadline_fails_the_job_and_is_waited_for() {
    let job = job(|j| j.spec.active_deadline_seconds = Some(60));
    let pods = [running(&job, "r", None)];
    let before = run(&job, &pods, 30);
    assert_eq!(failure_reason(&before), None);
    assert_eq!(before.requeue_after, Some(Duration::from_secs(30)));
    let after = run(&job, &pods, 60);
    assert_eq!(
        condition(&after, JobCondition::FAILED),
        Some((
            "DeadlineExceeded".into(),
            "Job was active longer than specified deadline".into()
        ))
    );
    assert_eq!(deleted(&after), ["r"]);
}

fn exit_code_rule(action: PodFailurePolicyAction, code: i32) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action,
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: None,
            operator: ExitCodeOperator::In,
            values: vec![code],
        }),
        on_pod_conditions: Vec::new(),
    }
}

#[test]
fn the_pod_failure_policy_fails_ignores_or_counts() {
    let policy = PodFailurePolicy {
        rules: vec![
            exit_code_rule(PodFailurePolicyAction::FailJob, 42),
            exit_code_rule(PodFailurePolicyAction::Ignore, 7),
        ],
    };
    // (exit code, failure reason, counted failures)
    let cases = [
        (42, Some("PodFailurePolicy"), 1),
        (7, None, 0),
        (1, Some("BackoffLimitExceeded"), 1),
    ];
    for (code, reason, counted) in cases {
        let job = job(|j| {
            j.spec.backoff_limit = Some(0);
            j.spec.pod_failure_policy = Some(policy.clone());
        });
        let plan = run(&job, &[failed(&job, "f", None, code, 100)], 1000);
        assert_eq!(failure_reason(&plan).as_deref(), reason, "exit {code}");
        assert_eq!(status(&plan).unwrap().failed, counted, "exit {code}");
    }
    let job = job(|j| j.spec.pod_failure_policy = Some(policy.clone()));
    let plan = run(&job, &[failed(&job, "f", None, 42, 100)], 1000);
    assert_eq!(
        condition(&plan, JobCondition::FAILED).unwrap().1,
        "Container main for pod default/f failed with exit code 42 matching FailJob rule at index 0"
    );
    let ignored = run(&job, &[failed(&job, "f", None, 7, 999)], 1000);
    assert_eq!(
        created(&ignored).len(),
        1,
        "an ignored failure is replaced at once"
    );
}

#[test]
fn a_per_index_backoff_limit_fails_indexes_not_the_job() {
    let job = job(|j| {
        indexed(3, 3)(j);
        j.spec.backoff_limit_per_index = Some(1);
        j.spec.backoff_limit = Some(i32::MAX);
    });
    let pods = [
        failed(&job, "a", Some(0), 1, 100),
        failed(&job, "b", Some(0), 1, 200),
        running(&job, "c", Some(1)),
        succeeded(&job, "d", Some(2)),
    ];
    let plan = run(&job, &pods, 1000);
    let status = status(&plan).unwrap();
    assert_eq!(status.failed_indexes.as_deref(), Some("0"));
    assert_eq!(status.completed_indexes, "2");
    assert_eq!(failure_reason(&plan), None);
    assert!(
        created(&plan).is_empty(),
        "index 0 failed, 1 runs, 2 is done"
    );

    let mut pods = pods;
    pods[2] = succeeded(&job, "c", Some(1));
    let plan = run(&job, &pods, 1000);
    assert_eq!(failure_reason(&plan).as_deref(), Some("FailedIndexes"));

    let capped = {
        let mut capped = job.clone();
        capped.spec.max_failed_indexes = Some(0);
        capped
    };
    let plan = run(&capped, &pods[..2], 1000);
    assert_eq!(
        failure_reason(&plan).as_deref(),
        Some("MaxFailedIndexesExceeded")
    );
}

#[test]
fn a_fail_index_rule_fails_the_index_at_once() {
    let job = job(|j| {
        indexed(2, 2)(j);
        j.spec.backoff_limit_per_index = Some(3);
        j.spec.pod_failure_policy = Some(PodFailurePolicy {
            rules: vec![exit_code_rule(PodFailurePolicyAction::FailIndex, 3)],
        });
    });
    let plan = run(&job, &[failed(&job, "a", Some(1), 3, 100)], 1000);
    assert_eq!(status(&plan).unwrap().failed_indexes.as_deref(), Some("1"));
    assert_eq!(created(&plan), [0]);
}

#[test]
fn suspension_deletes_active_pods_and_resuming_restarts_the_clock() {
    let suspended = job(|j| j.spec.suspend = Some(true));
    let plan = run(&suspended, &[running(&suspended, "r", None)], 10);
    assert_eq!(deleted(&plan), ["r"]);
    assert!(created(&plan).is_empty());
    assert_eq!(
        condition(&plan, JobCondition::SUSPENDED),
        Some(("JobSuspended".into(), "Job suspended".into()))
    );

    let mut resumed = suspended.clone();
    resumed.spec.suspend = Some(false);
    resumed.status = status(&plan).unwrap().clone();
    let plan = run(&resumed, &[], 50);
    let status = status(&plan).unwrap();
    assert_eq!(status.start_time, Some(Time::from(at(50))));
    let suspended_condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == JobCondition::SUSPENDED)
        .unwrap();
    assert_eq!(suspended_condition.status, ConditionStatus::False);
    assert_eq!(suspended_condition.reason, "JobResumed");
    assert_eq!(created(&plan).len(), 1);
}

#[test]
fn a_finished_job_is_deleted_after_its_ttl() {
    let finished = |ttl: Option<i32>| {
        job(|j| {
            j.spec.ttl_seconds_after_finished = ttl;
            j.status.completion_time = Some(Time::from(at(100)));
            j.status.conditions.push(JobCondition {
                type_: JobCondition::COMPLETE.into(),
                status: ConditionStatus::True,
                ..JobCondition::default()
            });
        })
    };
    // (ttl, now, deleted, requeue)
    let cases = [
        (None, 10_000, false, None),
        (Some(0), 100, true, None),
        (Some(60), 130, false, Some(30)),
        (Some(60), 160, true, None),
    ];
    for (ttl, now, want_deleted, requeue) in cases {
        let plan = run(&finished(ttl), &[], now);
        assert_eq!(
            plan.effects.contains(&Effect::DeleteJob),
            want_deleted,
            "{ttl:?} at {now}"
        );
        assert_eq!(
            plan.requeue_after,
            requeue.map(Duration::from_secs),
            "{ttl:?} at {now}"
        );
    }
    let failed_job = job(|j| {
        j.spec.ttl_seconds_after_finished = Some(10);
        j.status.conditions.push(JobCondition {
            type_: JobCondition::FAILED.into(),
            status: ConditionStatus::True,
            last_transition_time: Some(Time::from(at(100))),
            ..JobCondition::default()
        });
    });
    assert!(
        run(&failed_job, &[], 110)
            .effects
            .contains(&Effect::DeleteJob)
    );
}

#[test]
fn a_steady_job_plans_no_writes() {
    let job = job(|j| j.spec.completions = Some(3));
    let pods = [running(&job, "r", None)];
    let first = run(&job, &pods, 10);
    let mut settled = job.clone();
    settled.status = status(&first).unwrap().clone();
    let second = run(&settled, &pods, 20);
    assert_eq!(second.effects, []);
}

#[test]
fn ready_counts_ready_active_pods() {
    let job = job(|j| {
        j.spec.completions = Some(3);
        j.spec.parallelism = Some(2);
    });
    let mut ready = running(&job, "ready", None);
    ready.status.conditions.push(PodCondition {
        type_: PodCondition::READY.into(),
        status: ConditionStatus::True,
        ..PodCondition::default()
    });
    let plan = run(&job, &[ready, running(&job, "starting", None)], 10);
    assert_eq!(status(&plan).unwrap().ready, Some(1));
}
