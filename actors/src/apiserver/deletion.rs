//! What a delete does to an object, with Kubernetes' rules: preconditions first; then the
//! propagation policy sets the garbage collector's finalizer (`foregroundDeletion` for
//! Foreground, `orphan` for Orphan, neither for Background; no policy keeps what the object
//! has); an object left with finalizers, or a pod its node agent must stop first, is only
//! marked with a deletionTimestamp, and goes when the last finalizer is removed (see
//! [`removes_on_update`]). Pure functions, so every rule is unit-tested.

use flotilla_kernel::api::{
    ApiError, DeleteOptions, ErrorCode, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Preconditions,
    PropagationPolicy,
};
use flotilla_kernel::object::{Object, Pod, Time};

/// What the store does for one delete.
#[derive(Debug, Clone, PartialEq)]
pub enum Deletion {
    /// The object goes now.
    Remove,
    /// The object is written back marked for deletion, and stays until its finalizers are gone
    /// (and, for a pod, until its node agent has stopped it).
    Mark(Box<Object>),
    /// The object is already marked as the delete asks.
    Unchanged,
}

/// The outcome of deleting `current` (whose resourceVersion is set) with `options` at `now`.
pub fn plan_deletion(
    current: &Object,
    options: &DeleteOptions,
    now: Time,
) -> Result<Deletion, ApiError> {
    if let Some(preconditions) = &options.preconditions {
        check_preconditions(current, preconditions)?;
    }
    let mut next = current.clone();
    let meta = next.meta_mut();
    set_propagation_finalizer(&mut meta.finalizers, options.propagation_policy);
    let pod_stopping = match &next {
        Object::Pod(pod) => waits_for_node(pod, options.grace_period_seconds),
        _ => false,
    };
    let meta = next.meta_mut();
    if meta.finalizers.is_empty() && !pod_stopping {
        return Ok(Deletion::Remove);
    }
    if meta.deletion_timestamp.is_none() {
        meta.deletion_timestamp = Some(now);
        meta.deletion_grace_period_seconds = Some(0);
    }
    if let Object::Pod(pod) = &mut next {
        mark_pod_grace(pod, options.grace_period_seconds, pod_stopping);
    }
    Ok(if next == *current {
        Deletion::Unchanged
    } else {
        Deletion::Mark(Box::new(next))
    })
}

/// Whether an update that leaves `next` so should remove it: it is marked for deletion, its
/// last finalizer is gone, and no node agent is still stopping it.
pub fn removes_on_update(next: &Object) -> bool {
    let meta = next.meta();
    meta.deletion_timestamp.is_some()
        && meta.finalizers.is_empty()
        && meta.deletion_grace_period_seconds.unwrap_or(0) == 0
}

/// Kubernetes refuses new finalizers on an object being deleted: it could never go.
pub fn check_finalizers_update(current: &Object, next: &Object) -> Result<(), ApiError> {
    let (was, now) = (current.meta(), next.meta());
    if was.deletion_timestamp.is_none() {
        return Ok(());
    }
    let added: Vec<&str> = now
        .finalizers
        .iter()
        .filter(|f| !was.finalizers.contains(f))
        .map(String::as_str)
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "{} {:?} is invalid: metadata.finalizers: Forbidden: no new finalizers can be added \
             if the object is being deleted, found new finalizers {added:?}",
            current.kind(),
            was.name
        ),
    ))
}

fn check_preconditions(current: &Object, preconditions: &Preconditions) -> Result<(), ApiError> {
    let meta = current.meta();
    let failed = |what: &str, wanted: &str, found: &str| {
        Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "Precondition failed: {what} in precondition: {wanted}, {what} in object meta: \
                 {found}"
            ),
        ))
    };
    if let Some(uid) = &preconditions.uid
        && *uid != meta.uid
    {
        return failed("UID", uid, &meta.uid);
    }
    if let Some(version) = &preconditions.resource_version
        && *version != meta.resource_version
    {
        return failed("ResourceVersion", version, &meta.resource_version);
    }
    Ok(())
}

fn set_propagation_finalizer(finalizers: &mut Vec<String>, policy: Option<PropagationPolicy>) {
    let Some(policy) = policy else {
        return;
    };
    finalizers.retain(|f| f != ORPHAN_FINALIZER && f != FOREGROUND_FINALIZER);
    let wanted = match policy {
        PropagationPolicy::Background => return,
        PropagationPolicy::Foreground => FOREGROUND_FINALIZER,
        PropagationPolicy::Orphan => ORPHAN_FINALIZER,
    };
    finalizers.push(wanted.to_string());
}

/// A pod a node may be running is stopped by its node agent first, which then deletes it with
/// a zero grace period.
fn waits_for_node(pod: &Pod, grace_period_seconds: Option<i64>) -> bool {
    !pod.spec.node_name.is_empty() && grace_period_seconds != Some(0) && !pod.is_terminal()
}

/// The grace period a pod being deleted is given: kept once set, unless this delete stops it
/// at once; at least a second for a pod its node agent stops.
fn mark_pod_grace(pod: &mut Pod, grace_period_seconds: Option<i64>, stopping: bool) {
    let meta = &mut pod.metadata;
    if !stopping {
        meta.deletion_grace_period_seconds = Some(0);
        return;
    }
    if meta.deletion_grace_period_seconds.unwrap_or(0) == 0 {
        let grace = grace_period_seconds
            .or(pod.spec.termination_grace_period_seconds)
            .unwrap_or(30)
            .max(1);
        meta.deletion_grace_period_seconds = Some(grace);
    }
}

#[cfg(test)]
mod tests;
