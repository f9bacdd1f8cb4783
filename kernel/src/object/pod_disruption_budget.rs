//! `PodDisruptionBudget` (`policy/v1`): how many of an application's pods must stay healthy
//! through voluntary disruptions. The disruption controller keeps its status (how many pods
//! are expected, healthy, and how many may be evicted now); the Eviction call consults it,
//! so drains and other evictions never take more pods than the budget allows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::condition::ConditionStatus;
use super::intstr::IntOrString;
use super::labels::LabelSelector;
use super::meta::ObjectMeta;
use super::omit::{is_zero_i32, is_zero_i64};
use super::time::Time;

/// A disruption budget for the pods its selector picks in its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudget {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodDisruptionBudgetSpec,
    #[serde(default)]
    pub status: PodDisruptionBudgetStatus,
}

/// The budget: at most one of `minAvailable` and `maxUnavailable`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetSpec {
    /// Pods that must stay healthy after an eviction: a count, or a percentage of the
    /// expected pods (rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    /// The pods covered; an empty selector covers every pod of the namespace, none covers none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Pods that may be unhealthy after an eviction: a count, or a percentage of the expected
    /// pods (rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// When a pod that is not ready may be evicted; unset means `IfHealthyBudget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_pod_eviction_policy: Option<UnhealthyPodEvictionPolicy>,
}

/// When a running pod that is not ready may be evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnhealthyPodEvictionPolicy {
    /// Only while the application is not disrupted (`currentHealthy >= desiredHealthy`).
    IfHealthyBudget,
    /// Always, whatever the budget says.
    AlwaysAllow,
}

/// What the disruption controller last observed, and the evictions not yet seen through.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDisruptionBudgetStatus {
    /// The `metadata.generation` this status reflects; evictions wait until it is current.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// Pods the Eviction call has let go that the controller has not yet seen deleted, by
    /// name, with the time of their eviction.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub disrupted_pods: BTreeMap<String, Time>,
    /// How many pods may be evicted now.
    #[serde(default)]
    pub disruptions_allowed: i32,
    #[serde(default)]
    pub current_healthy: i32,
    #[serde(default)]
    pub desired_healthy: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub expected_pods: i32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A condition in the shape of Kubernetes' `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, rename = "type")]
    pub type_: String,
    #[serde(default)]
    pub status: ConditionStatus,
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl PodDisruptionBudget {
    /// The condition saying whether an eviction is allowed now.
    pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
    /// Reason: enough pods are healthy for at least one eviction.
    pub const SUFFICIENT_PODS: &str = "SufficientPods";
    /// Reason: no eviction is allowed.
    pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
    /// Reason: the controller could not compute the status.
    pub const SYNC_FAILED: &str = "SyncFailed";

    /// Whether the budget covers a pod with these labels.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.spec
            .selector
            .as_ref()
            .is_some_and(|selector| selector.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kubernetes_example() {
        let json = r#"{"apiVersion":"policy/v1","kind":"PodDisruptionBudget",
            "metadata":{"name":"zk-pdb"},
            "spec":{"minAvailable":2,"selector":{"matchLabels":{"app":"zookeeper"}},
                    "unhealthyPodEvictionPolicy":"AlwaysAllow"},
            "status":{"disruptionsAllowed":1,"currentHealthy":3,"desiredHealthy":2,
                      "expectedPods":3,"observedGeneration":1}}"#;
        let pdb: PodDisruptionBudget = serde_json::from_str(json).unwrap();
        assert_eq!(pdb.spec.min_available, Some(IntOrString::Int(2)));
        assert_eq!(
            pdb.spec.unhealthy_pod_eviction_policy,
            Some(UnhealthyPodEvictionPolicy::AlwaysAllow)
        );
        assert_eq!(pdb.status.disruptions_allowed, 1);
        let labels = BTreeMap::from([("app".to_string(), "zookeeper".to_string())]);
        assert!(pdb.selects(&labels));
        assert!(
            !PodDisruptionBudget::default().selects(&labels),
            "no selector, no pods"
        );
        let back = serde_json::to_value(&pdb).unwrap();
        assert_eq!(back["status"]["disruptionsAllowed"], 1);
        assert_eq!(back["spec"]["minAvailable"], 2);
    }
}
