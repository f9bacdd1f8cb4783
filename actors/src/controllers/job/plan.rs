//! The pure reconcile step of the Job controller: from a Job, the pods it controls and the
//! time, the pods to create and delete, the status to write, and whether the Job's time to
//! live is over — following Kubernetes' `syncJob`.
//!
//! The order of the decisions is Kubernetes': a finished Job only waits for its TTL; then a
//! `FailJob` pod failure policy rule, the backoff limit, the active deadline and the failed
//! indexes fail the Job; then enough successes complete it; a suspended Job runs no pods;
//! otherwise pods are created (after the failure backoff) or deleted to reach the wanted
//! number of active ones. Finished Jobs delete their remaining active pods.
//!
//! Succeeded and failed pods are counted from the pods that exist, and the counts in the
//! status never go down (Kubernetes keeps the pods with a finalizer until counted; flotilla's
//! controller never deletes a finished pod of a live Job, so the pods are the record).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{
    CompletionMode, ConditionStatus, Job, JobCondition, JobStatus, Pod, PodFailurePolicyAction,
    PodPhase, RestartPolicy, Time,
};

use super::failure_policy::judge;
use super::indexes::{format_intervals, parse_intervals, pod_index};
use super::pod_template::new_pod;
use crate::controllers::ownership::is_terminating;

/// At most this many pods are created in one step (Kubernetes' burst).
pub const BURST: usize = 500;
/// The delay before the first replacement of a failed pod; it doubles with each failure.
const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// The longest delay before a replacement (Kubernetes' `MaxJobBackOff`).
const BACKOFF_MAX: Duration = Duration::from_secs(360);

/// One change the Job controller makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Create this pod (named by the API server from `generateName`).
    CreatePod(Box<Pod>),
    /// Delete the pod of this name.
    DeletePod(String),
    /// Write this status.
    UpdateStatus(Box<JobStatus>),
    /// The Job finished `ttlSecondsAfterFinished` ago: delete it.
    DeleteJob,
}

/// What one reconcile of a Job does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub effects: Vec<Effect>,
    /// Look again after this long: a backoff, the deadline or the TTL runs out then.
    pub requeue_after: Option<Duration>,
}

/// A pod of the Job, as the decisions see it.
struct Tracked<'a> {
    pod: &'a Pod,
    /// The completion index (Indexed Jobs).
    index: Option<i32>,
}

/// The Job's pods sorted by what they are doing.
#[derive(Default)]
struct Census<'a> {
    active: Vec<Tracked<'a>>,
    succeeded: Vec<Tracked<'a>>,
    /// Failed pods the policy does not ignore, with when each failed.
    failed: Vec<(Tracked<'a>, SystemTime, PodFailurePolicyAction)>,
    /// Why a failed pod fails the whole Job (`FailJob`), if one does.
    fail_job: Option<String>,
}

/// Plans one step of `job`, given the pods it controls, at `now`.
pub fn plan(job: &Job, pods: &[&Pod], now: SystemTime) -> Plan {
    let mut plan = Plan::default();
    if is_terminating(&job.metadata) {
        return plan;
    }
    if job.is_finished() {
        plan.effects.extend(delete_all(&active_pods(pods)));
        plan.requeue_after = ttl(job, now, &mut plan.effects);
        return plan;
    }
    let completions = job.spec.completions;
    let indexed = job.completion_mode() == CompletionMode::Indexed;
    let census = census(job, pods, indexed.then(|| completions.unwrap_or(0)));
    let mut status = job.status.clone();
    let now_time = Time::from(now);

    // Start, suspend and resume.
    if job.is_suspended() {
        set_condition(
            &mut status,
            JobCondition::SUSPENDED,
            ConditionStatus::True,
            "JobSuspended",
            "Job suspended",
            now_time,
        );
    } else if has_condition(&status, JobCondition::SUSPENDED) {
        set_condition(
            &mut status,
            JobCondition::SUSPENDED,
            ConditionStatus::False,
            "JobResumed",
            "Job resumed",
            now_time,
        );
        status.start_time = Some(now_time);
    } else if status.start_time.is_none() {
        status.start_time = Some(now_time);
    }

    let succeeded_indexes = succeeded_indexes(&status, &census);
    let failed_indexes = failed_indexes(job, &status, &census);
    let failed = count(census.failed.len()).max(status.failed);
    let succeeded = if indexed {
        count(succeeded_indexes.len())
    } else {
        count(census.succeeded.len()).max(status.succeeded)
    };

    let failure = failure(
        job,
        &census,
        &status,
        failed,
        (&succeeded_indexes, &failed_indexes),
        now,
    );
    let complete = failure.is_none()
        && match (indexed, completions) {
            (true, Some(c)) => count(succeeded_indexes.len()) >= c,
            (true, None) => false,
            (false, Some(c)) => succeeded >= c,
            (false, None) => succeeded > 0 && census.active.is_empty(),
        };

    let mut active = census.active.len();
    if let Some((reason, message)) = &failure {
        plan.effects.extend(delete_all(&census.active));
        active = 0;
        set_condition(
            &mut status,
            JobCondition::FAILED,
            ConditionStatus::True,
            reason,
            message,
            now_time,
        );
    } else if complete {
        plan.effects.extend(delete_all(&census.active));
        active = 0;
        status.completion_time = Some(now_time);
        set_condition(
            &mut status,
            JobCondition::COMPLETE,
            ConditionStatus::True,
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            now_time,
        );
    } else if job.is_suspended() {
        plan.effects.extend(delete_all(&census.active));
        active = 0;
    } else {
        let step = if indexed {
            manage_indexed(job, &census, &succeeded_indexes, &failed_indexes, now)
        } else {
            manage_non_indexed(job, &census, succeeded, now)
        };
        active = active + step.created - step.deleted;
        plan.effects.extend(step.effects);
        plan.requeue_after = step.retry_after;
    }

    status.active = count(active);
    let ready = census.active.iter().filter(|t| t.pod.is_ready()).count();
    status.ready = Some(if active == 0 { 0 } else { count(ready) });
    status.succeeded = succeeded;
    status.failed = failed;
    if indexed {
        status.completed_indexes = format_intervals(&succeeded_indexes);
        if job.spec.backoff_limit_per_index.is_some() {
            status.failed_indexes = Some(format_intervals(&failed_indexes));
        }
    }
    if status != job.status {
        plan.effects
            .push(Effect::UpdateStatus(Box::new(status.clone())));
    }
    let finished = failure.is_some() || complete;
    if finished {
        let mut finished_job = job.clone();
        finished_job.status = status;
        plan.requeue_after = ttl(&finished_job, now, &mut plan.effects);
    } else if let Some(deadline) = deadline(job, &status) {
        let until = deadline.duration_since(now).unwrap_or_default();
        plan.requeue_after = Some(plan.requeue_after.map_or(until, |r| r.min(until)));
    }
    plan
}

/// Sorts the pods; only the pods Kubernetes would count are kept.
fn census<'a>(job: &Job, pods: &[&'a Pod], completions: Option<i32>) -> Census<'a> {
    let policy = job.spec.pod_failure_policy.as_ref();
    let mut census = Census::default();
    for &pod in pods {
        let index = completions.and_then(|c| pod_index(pod, c));
        let tracked = Tracked { pod, index };
        match pod.status.phase {
            PodPhase::Succeeded => census.succeeded.push(tracked),
            PodPhase::Failed => {
                let verdict = judge(policy, pod);
                let action = verdict
                    .as_ref()
                    .map_or(PodFailurePolicyAction::Count, |v| v.action);
                match action {
                    PodFailurePolicyAction::Ignore => {}
                    PodFailurePolicyAction::FailJob => {
                        if census.fail_job.is_none() {
                            census.fail_job = verdict.map(|v| v.message);
                        }
                        census.failed.push((tracked, failed_at(pod), action));
                    }
                    _ => census.failed.push((tracked, failed_at(pod), action)),
                }
            }
            _ if is_terminating(&pod.metadata) => {}
            _ => census.active.push(tracked),
        }
    }
    census
}

/// The reason and message of the Job's failure, in Kubernetes' order, if it fails now.
fn failure(
    job: &Job,
    census: &Census<'_>,
    status: &JobStatus,
    failed: i32,
    (succeeded_indexes, failed_indexes): (&BTreeSet<i32>, &BTreeSet<i32>),
    now: SystemTime,
) -> Option<(String, String)> {
    if let Some(message) = &census.fail_job {
        return Some(("PodFailurePolicy".into(), message.clone()));
    }
    let backoff_limit = job.spec.backoff_limit.unwrap_or(6);
    if failed > backoff_limit || past_backoff_limit_on_failure(job, census, backoff_limit) {
        return Some((
            "BackoffLimitExceeded".into(),
            "Job has reached the specified backoff limit".into(),
        ));
    }
    if deadline(job, status).is_some_and(|at| now >= at) {
        return Some((
            "DeadlineExceeded".into(),
            "Job was active longer than specified deadline".into(),
        ));
    }
    if let Some(max) = job.spec.max_failed_indexes
        && count(failed_indexes.len()) > max
    {
        return Some((
            "MaxFailedIndexesExceeded".into(),
            "Job has exceeded the specified maximal number of failed indexes".into(),
        ));
    }
    let completions = job.spec.completions.unwrap_or(0);
    let finished_indexes = succeeded_indexes.len() + failed_indexes.len();
    if !failed_indexes.is_empty() && count(finished_indexes) >= completions {
        return Some(("FailedIndexes".into(), "Job has failed indexes".into()));
    }
    None
}

/// With `restartPolicy: OnFailure` the kubelet restarts failed containers in place, so
/// Kubernetes counts the restarts of active pods against the limit.
fn past_backoff_limit_on_failure(job: &Job, census: &Census<'_>, limit: i32) -> bool {
    if job.spec.template.spec.restart_policy != RestartPolicy::OnFailure {
        return false;
    }
    let restarts: i64 = census
        .active
        .iter()
        .flat_map(|t| {
            let status = &t.pod.status;
            status
                .init_container_statuses
                .iter()
                .chain(&status.container_statuses)
        })
        .map(|c| i64::from(c.restart_count))
        .sum();
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= i64::from(limit)
    }
}

/// When the active deadline runs out, for a running Job that has one.
fn deadline(job: &Job, status: &JobStatus) -> Option<SystemTime> {
    let seconds = u64::try_from(job.spec.active_deadline_seconds?).ok()?;
    if job.is_suspended() {
        return None;
    }
    Some(status.start_time?.system_time() + Duration::from_secs(seconds))
}

/// Deletes a finished Job whose time to live is over; otherwise, when it will be.
fn ttl(job: &Job, now: SystemTime, effects: &mut Vec<Effect>) -> Option<Duration> {
    let seconds = u64::try_from(job.spec.ttl_seconds_after_finished?).ok()?;
    let finished_at = job.status.completion_time.or_else(|| {
        job.status
            .conditions
            .iter()
            .find(|c| c.type_ == JobCondition::FAILED && c.status == ConditionStatus::True)
            .and_then(|c| c.last_transition_time)
    })?;
    let expires = finished_at.system_time() + Duration::from_secs(seconds);
    match expires.duration_since(now) {
        Ok(left) if !left.is_zero() => Some(left),
        _ => {
            effects.push(Effect::DeleteJob);
            None
        }
    }
}

/// The succeeded indexes: those recorded, and those with a succeeded pod.
fn succeeded_indexes(status: &JobStatus, census: &Census<'_>) -> BTreeSet<i32> {
    let mut indexes = parse_intervals(&status.completed_indexes);
    indexes.extend(succeeded_indexes_of(census));
    indexes
}

fn succeeded_indexes_of(census: &Census<'_>) -> BTreeSet<i32> {
    census.succeeded.iter().filter_map(|t| t.index).collect()
}

/// With a per-index limit, the failed indexes: those recorded, those whose failures exceed
/// the limit and those a `FailIndex` rule failed. Never a succeeded one.
fn failed_indexes(job: &Job, status: &JobStatus, census: &Census<'_>) -> BTreeSet<i32> {
    let Some(limit) = job.spec.backoff_limit_per_index else {
        return BTreeSet::new();
    };
    let mut indexes = parse_intervals(status.failed_indexes.as_deref().unwrap_or_default());
    let mut failures: BTreeMap<i32, i32> = BTreeMap::new();
    for (tracked, _, action) in &census.failed {
        let Some(index) = tracked.index else {
            continue;
        };
        *failures.entry(index).or_default() += 1;
        if *action == PodFailurePolicyAction::FailIndex {
            indexes.insert(index);
        }
    }
    indexes.extend(
        failures
            .into_iter()
            .filter(|(_, n)| *n > limit)
            .map(|(index, _)| index),
    );
    let succeeded = succeeded_indexes_of(census);
    indexes.retain(|index| !succeeded.contains(index));
    indexes
}

/// The pod changes one step makes, and when to look again for a replacement held back by
/// the failure backoff.
#[derive(Default)]
struct Step {
    effects: Vec<Effect>,
    created: usize,
    deleted: usize,
    retry_after: Option<Duration>,
}

impl Step {
    fn delete(&mut self, pod: &Pod) {
        self.effects
            .push(Effect::DeletePod(pod.metadata.name.clone()));
        self.deleted += 1;
    }

    fn create(&mut self, pod: Pod) {
        self.effects.push(Effect::CreatePod(Box::new(pod)));
        self.created += 1;
    }

    fn wait(&mut self, until: Duration) {
        self.retry_after = Some(self.retry_after.map_or(until, |r| r.min(until)));
    }
}

/// NonIndexed: as many active pods as parallelism allows and the missing completions need;
/// with no completions set, none once a pod has succeeded.
fn manage_non_indexed(job: &Job, census: &Census<'_>, succeeded: i32, now: SystemTime) -> Step {
    let parallelism = job.spec.parallelism.unwrap_or(1);
    let active = census.active.len();
    let wanted = match job.spec.completions {
        Some(completions) => to_usize(parallelism.min(completions - succeeded)),
        None if succeeded > 0 => active,
        None => to_usize(parallelism),
    };
    let mut step = Step::default();
    if active > wanted {
        let mut extra: Vec<&Tracked<'_>> = census.active.iter().collect();
        extra.sort_by_key(|t| deletion_rank(t.pod));
        extra
            .iter()
            .take(active - wanted)
            .for_each(|t| step.delete(t.pod));
        return step;
    }
    let failures = census.failed.iter().map(|(_, at, _)| *at);
    if let Some(wait) = backoff_left(failures, now) {
        step.wait(wait);
        return step;
    }
    for _ in 0..(wanted - active).min(BURST) {
        step.create(new_pod(job, None));
    }
    step
}

/// Indexed: one active pod for each index that has neither succeeded nor failed, lowest
/// first, as many at once as parallelism allows; duplicates and pods of finished indexes go.
fn manage_indexed(
    job: &Job,
    census: &Census<'_>,
    succeeded: &BTreeSet<i32>,
    failed: &BTreeSet<i32>,
    now: SystemTime,
) -> Step {
    let mut step = Step::default();
    let mut running: BTreeSet<i32> = BTreeSet::new();
    let mut active: Vec<&Tracked<'_>> = census.active.iter().collect();
    active.sort_by_key(|t| std::cmp::Reverse(deletion_rank(t.pod)));
    for tracked in active {
        match tracked.index {
            Some(index)
                if !succeeded.contains(&index)
                    && !failed.contains(&index)
                    && running.insert(index) => {}
            _ => step.delete(tracked.pod),
        }
    }
    let parallelism = to_usize(job.spec.parallelism.unwrap_or(1));
    let mut room = parallelism.saturating_sub(running.len()).min(BURST);
    let completions = job.spec.completions.unwrap_or(0);
    for index in 0..completions {
        if room == 0 {
            break;
        }
        if succeeded.contains(&index) || failed.contains(&index) || running.contains(&index) {
            continue;
        }
        let failures = census
            .failed
            .iter()
            .filter(|(t, _, _)| t.index == Some(index))
            .map(|(_, at, _)| *at);
        if let Some(wait) = backoff_left(failures, now) {
            step.wait(wait);
            continue;
        }
        step.create(new_pod(job, Some(index)));
        room -= 1;
    }
    step
}

/// How long a replacement must still wait after `failures` (10s, doubling per failure, at
/// most 6 minutes, from the last failure); `None` when it may start now.
fn backoff_left(failures: impl Iterator<Item = SystemTime>, now: SystemTime) -> Option<Duration> {
    let (count, last) = failures.fold((0u32, None), |(n, last): (u32, Option<SystemTime>), at| {
        (n + 1, Some(last.map_or(at, |l| l.max(at))))
    });
    let last = last?;
    let delay = BACKOFF_BASE
        .checked_mul(1 << (count - 1).min(16))
        .unwrap_or(BACKOFF_MAX)
        .min(BACKOFF_MAX);
    (last + delay)
        .duration_since(now)
        .ok()
        .filter(|left| !left.is_zero())
}

/// When a failed pod failed: its containers' last finish, else its creation.
fn failed_at(pod: &Pod) -> SystemTime {
    let status = &pod.status;
    status
        .init_container_statuses
        .iter()
        .chain(&status.container_statuses)
        .filter_map(|c| c.state.terminated.as_ref()?.finished_at)
        .max()
        .or(pod.metadata.creation_timestamp)
        .map_or(SystemTime::UNIX_EPOCH, |t| t.system_time())
}

/// Which active pods to delete first, as Kubernetes ranks them: unscheduled, then not
/// ready, then the newest.
fn deletion_rank(pod: &Pod) -> (bool, bool, std::cmp::Reverse<Option<Time>>) {
    (
        !pod.spec.node_name.is_empty(),
        pod.is_ready(),
        std::cmp::Reverse(pod.metadata.creation_timestamp),
    )
}

fn active_pods<'a>(pods: &[&'a Pod]) -> Vec<Tracked<'a>> {
    pods.iter()
        .filter(|p| !p.is_terminal() && !is_terminating(&p.metadata))
        .map(|&pod| Tracked { pod, index: None })
        .collect()
}

fn delete_all(active: &[Tracked<'_>]) -> Vec<Effect> {
    active
        .iter()
        .map(|t| Effect::DeletePod(t.pod.metadata.name.clone()))
        .collect()
}

fn has_condition(status: &JobStatus, type_: &str) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == ConditionStatus::True)
}

/// Records a condition; its times move only when its status changes.
fn set_condition(
    status: &mut JobStatus,
    type_: &str,
    value: ConditionStatus,
    reason: &str,
    message: &str,
    now: Time,
) {
    let condition = JobCondition {
        type_: type_.to_owned(),
        status: value,
        last_probe_time: Some(now),
        last_transition_time: Some(now),
        reason: reason.to_owned(),
        message: message.to_owned(),
    };
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) if existing.status == value => {}
        Some(existing) => *existing = condition,
        None => status.conditions.push(condition),
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn to_usize(n: i32) -> usize {
    usize::try_from(n).unwrap_or(0)
}
