//! `Deployment`: declarative rollouts. It owns ReplicaSets, one per template revision, and
//! shifts pods from old to new ones as its strategy allows.

use serde::{Deserialize, Serialize};

use super::condition::ConditionStatus;
use super::intstr::IntOrString;
use super::labels::LabelSelector;
use super::meta::ObjectMeta;
use super::omit::{is_false, is_zero_i32, is_zero_i64};
use super::pod::PodTemplateSpec;
use super::time::Time;

/// Rolls a pod template out to `spec.replicas` pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DeploymentSpec,
    #[serde(default)]
    pub status: DeploymentStatus,
}

/// The desired pods and how to move to a new template.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSpec {
    /// Desired pod count; defaulted to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default)]
    pub selector: LabelSelector,
    #[serde(default)]
    pub template: PodTemplateSpec,
    #[serde(default)]
    pub strategy: DeploymentStrategy,
    /// Seconds a ready pod must stay ready to count as available.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub min_ready_seconds: i32,
    /// Old ReplicaSets kept for rollback; defaulted to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// While paused, template changes are not rolled out.
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
}

/// How old pods are replaced by new ones.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStrategy {
    #[serde(default, rename = "type")]
    pub type_: StrategyType,
    /// Only meaningful for `RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDeployment>,
}

/// The replacement strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum StrategyType {
    /// Replace pods gradually, within `maxSurge` and `maxUnavailable`.
    #[default]
    RollingUpdate,
    /// Delete all old pods before creating new ones.
    Recreate,
}

/// Bounds on a rolling update, as counts or percentages of the desired replicas.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDeployment {
    /// Pods that may exist above the desired count; defaulted to 25%, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Pods that may be missing below the desired count; defaulted to 25%, rounded down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

/// Pod counts and conditions the controller last observed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub updated_replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub ready_replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub available_replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub unavailable_replicas: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<DeploymentCondition>,
}

/// One aspect of a rollout (`Available`, `Progressing`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCondition {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub status: ConditionStatus,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
}

impl DeploymentCondition {
    /// At least the minimum number of pods is available.
    pub const AVAILABLE: &str = "Available";
    /// The rollout is making progress (or has finished).
    pub const PROGRESSING: &str = "Progressing";
    /// Pods could not be created.
    pub const REPLICA_FAILURE: &str = "ReplicaFailure";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_serializes_like_kubernetes() {
        let strategy = DeploymentStrategy {
            type_: StrategyType::RollingUpdate,
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::Int(1)),
                max_unavailable: Some(IntOrString::String("25%".into())),
            }),
        };
        let json = serde_json::to_string(&strategy).unwrap();
        assert_eq!(
            json,
            r#"{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":"25%"}}"#
        );
        assert_eq!(
            serde_json::from_str::<DeploymentStrategy>(&json).unwrap(),
            strategy
        );
    }

    #[test]
    fn missing_fields_take_defaults() {
        let deployment: Deployment =
            serde_json::from_str(r#"{"spec":{"strategy":{}},"status":{"replicas":3}}"#).unwrap();
        assert_eq!(deployment.spec.strategy.type_, StrategyType::RollingUpdate);
        assert_eq!(deployment.spec.replicas, None);
        assert_eq!(deployment.status.replicas, 3);
    }
}
