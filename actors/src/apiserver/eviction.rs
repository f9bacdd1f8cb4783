//! The Eviction call's decision (Kubernetes' `pods/eviction` subresource): may this pod be
//! deleted now without breaking its PodDisruptionBudget? Pure, over the pod and the budgets
//! that select it; the handler writes the budget it returns under the resourceVersion it read,
//! so of two evictions racing for the last allowed disruption, one is refused.

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{
    Pod, PodDisruptionBudget, PodPhase, Time, UnhealthyPodEvictionPolicy,
};

/// What Kubernetes answers an eviction its budget does not allow (HTTP 429).
pub const BUDGET_VIOLATION: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";
/// Evictions the disruption controller has not seen through, past which the API refuses more
/// (Kubernetes' `MaxDisruptedPodSize`).
pub const MAX_DISRUPTED_PODS: usize = 2000;

/// What an eviction does.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The pod may go without consuming a disruption (no budget covers it, it is not
    /// running, or it is unhealthy and its budget lets unhealthy pods go).
    Delete,
    /// The pod may go once this budget, one disruption fewer, is written.
    Consume(Box<PodDisruptionBudget>),
}

/// The verdict on evicting `pod`, covered by `budgets` (those of its namespace that select it).
pub fn decide(pod: &Pod, budgets: &[&PodDisruptionBudget], now: Time) -> Result<Verdict, ApiError> {
    if can_ignore_budget(pod) {
        return Ok(Verdict::Delete);
    }
    let pdb = match budgets {
        [] => return Ok(Verdict::Delete),
        [pdb] => *pdb,
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction \
                 subresource does not support.",
            ));
        }
    };
    let status = &pdb.status;
    if !pod.is_ready() {
        let always =
            pdb.spec.unhealthy_pod_eviction_policy == Some(UnhealthyPodEvictionPolicy::AlwaysAllow);
        let budget_healthy =
            status.current_healthy >= status.desired_healthy && status.desired_healthy > 0;
        if always || budget_healthy {
            return Ok(Verdict::Delete);
        }
    }
    if status.observed_generation < pdb.metadata.generation {
        return Err(too_many_requests());
    }
    if status.disruptions_allowed < 0 {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "pdb disruptions allowed is negative",
        ));
    }
    if status.disrupted_pods.len() > MAX_DISRUPTED_PODS {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if status.disruptions_allowed == 0 {
        return Err(too_many_requests());
    }
    let mut consumed = pdb.clone();
    consumed.status.disruptions_allowed -= 1;
    consumed
        .status
        .disrupted_pods
        .insert(pod.metadata.name.clone(), now);
    Ok(Verdict::Consume(Box::new(consumed)))
}

pub fn too_many_requests() -> ApiError {
    ApiError::new(ErrorCode::TooManyRequests, BUDGET_VIOLATION)
}

/// A pod that is not running, or already going, disrupts nothing by going.
fn can_ignore_budget(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        PodPhase::Succeeded | PodPhase::Failed | PodPhase::Pending
    ) || pod.metadata.deletion_timestamp.is_some()
}

#[cfg(test)]
mod tests;
