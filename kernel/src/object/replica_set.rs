//! `ReplicaSet`: keeps a number of identical pods, stamped from a template, running.

use serde::{Deserialize, Serialize};

use super::labels::LabelSelector;
use super::meta::ObjectMeta;
use super::omit::{is_zero_i32, is_zero_i64};
use super::pod::PodTemplateSpec;

/// Maintains `spec.replicas` pods matching `spec.selector`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSet {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ReplicaSetSpec,
    #[serde(default)]
    pub status: ReplicaSetStatus,
}

/// How many pods, which ones, and what they look like.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetSpec {
    /// Desired pod count; defaulted to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Seconds a ready pod must stay ready to count as available.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub min_ready_seconds: i32,
    #[serde(default)]
    pub selector: LabelSelector,
    #[serde(default)]
    pub template: PodTemplateSpec,
}

/// Pod counts the controller last observed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSetStatus {
    #[serde(default)]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub fully_labeled_replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub ready_replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub available_replicas: i32,
    /// The `metadata.generation` these counts reflect.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_kubernetes_names() {
        let mut replica_set = ReplicaSet::default();
        replica_set.spec.replicas = Some(0);
        replica_set.spec.min_ready_seconds = 5;
        replica_set.status.ready_replicas = 2;
        let json = serde_json::to_string(&replica_set).unwrap();
        assert!(json.contains(r#""replicas":0"#), "{json}");
        assert!(json.contains(r#""minReadySeconds":5"#), "{json}");
        assert!(json.contains(r#""readyReplicas":2"#), "{json}");
        assert!(!json.contains("availableReplicas"), "{json}");
        assert_eq!(
            serde_json::from_str::<ReplicaSet>(&json).unwrap(),
            replica_set
        );
    }
}
