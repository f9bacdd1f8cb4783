//! `PriorityClass` (`scheduling.k8s.io/v1`): a named pod priority. A pod names one with
//! `spec.priorityClassName`; the API server sets the pod's `priority` (and
//! `preemptionPolicy`) from it when the pod is created, as Kubernetes' Priority admission
//! does. Pending pods are scheduled highest priority first, and a pod that fits nowhere may
//! preempt pods of lower priority.

use serde::{Deserialize, Serialize};

use super::meta::ObjectMeta;

/// The highest `value` a class other than the built-in system classes may have.
pub const HIGHEST_USER_PRIORITY: i32 = 1_000_000_000;
/// The built-in class for pods the cluster cannot work without.
pub const SYSTEM_CLUSTER_CRITICAL: &str = "system-cluster-critical";
/// The built-in class for pods a node cannot work without.
pub const SYSTEM_NODE_CRITICAL: &str = "system-node-critical";
/// The prefix of names reserved for the built-in classes.
pub const SYSTEM_PREFIX: &str = "system-";
/// `preemptionPolicy` values.
pub const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";
pub const PREEMPT_NEVER: &str = "Never";

/// A named priority. Cluster-scoped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorityClass {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The priority pods of the class get; higher goes first.
    #[serde(default)]
    pub value: i32,
    /// The class of pods that name none (at most one class should say so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global_default: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `PreemptLowerPriority` (the default) or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<String>,
}

impl PriorityClass {
    /// The two classes every cluster has, with Kubernetes' values.
    pub fn built_in() -> [PriorityClass; 2] {
        let class = |name: &str, value: i32, description: &str| PriorityClass {
            metadata: ObjectMeta {
                name: name.into(),
                ..ObjectMeta::default()
            },
            value,
            description: description.into(),
            ..PriorityClass::default()
        };
        [
            class(
                SYSTEM_CLUSTER_CRITICAL,
                2_000_000_000,
                "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
            ),
            class(
                SYSTEM_NODE_CRITICAL,
                2_000_001_000,
                "Used for system critical pods that must not be moved from their current node.",
            ),
        ]
    }

    /// The preemption policy pods of the class get.
    pub fn preemption_policy(&self) -> &str {
        self.preemption_policy
            .as_deref()
            .unwrap_or(PREEMPT_LOWER_PRIORITY)
    }
}
