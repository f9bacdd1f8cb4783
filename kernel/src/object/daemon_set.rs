//! `DaemonSet` (apps/v1): one pod of a template on every eligible node — per-node agents such
//! as log shippers, monitoring exporters and network plug-ins.

use serde::{Deserialize, Serialize};

use super::intstr::IntOrString;
use super::labels::LabelSelector;
use super::meta::ObjectMeta;
use super::omit::{is_zero_i32, is_zero_i64};
use super::pod::PodTemplateSpec;

/// Runs a copy of `spec.template` on each node its placement rules allow.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSet {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DaemonSetSpec,
    #[serde(default)]
    pub status: DaemonSetStatus,
}

/// Which pods, what they look like, and how a new template replaces them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetSpec {
    /// Must match the template's labels; immutable.
    #[serde(default)]
    pub selector: LabelSelector,
    #[serde(default)]
    pub template: PodTemplateSpec,
    #[serde(default)]
    pub update_strategy: DaemonSetUpdateStrategy,
    /// Seconds a ready pod must stay ready to count as available.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub min_ready_seconds: i32,
    /// Old revisions kept for rollback; defaulted to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
}

/// How pods of an old template are replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetUpdateStrategy {
    #[serde(default, rename = "type")]
    pub type_: DaemonSetUpdateStrategyType,
    /// Only meaningful for `RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateDaemonSet>,
}

/// The replacement strategy of a DaemonSet (and of a StatefulSet: the same two names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DaemonSetUpdateStrategyType {
    /// Replace old pods node by node, within `maxUnavailable` and `maxSurge`.
    #[default]
    RollingUpdate,
    /// Replace an old pod only once someone deletes it.
    OnDelete,
}

/// Bounds on a rolling update, as counts or percentages of the nodes that should run a pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateDaemonSet {
    /// Nodes whose pod may be missing or unavailable at once; defaulted to 1, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Nodes that may run an old and a new pod at once; defaulted to 0, rounded up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
}

/// Node counts the controller last observed, with Kubernetes' names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetStatus {
    /// Nodes that run at least one pod of the set and should.
    #[serde(default)]
    pub current_number_scheduled: i32,
    /// Nodes that run a pod of the set but should not.
    #[serde(default)]
    pub number_misscheduled: i32,
    /// Nodes that should run a pod of the set.
    #[serde(default)]
    pub desired_number_scheduled: i32,
    /// Nodes that should run a pod of the set and run a ready one.
    #[serde(default)]
    pub number_ready: i32,
    /// The `metadata.generation` these counts reflect.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    /// Nodes that run a pod of the current template.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub updated_number_scheduled: i32,
    /// Nodes whose pod has been ready for `minReadySeconds`.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub number_available: i32,
    /// Nodes that should run an available pod and do not.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub number_unavailable: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_kubernetes_names() {
        let mut daemon_set = DaemonSet::default();
        daemon_set.spec.update_strategy = DaemonSetUpdateStrategy {
            type_: DaemonSetUpdateStrategyType::RollingUpdate,
            rolling_update: Some(RollingUpdateDaemonSet {
                max_unavailable: Some(IntOrString::Int(1)),
                max_surge: Some(IntOrString::String("10%".into())),
            }),
        };
        daemon_set.status.number_ready = 2;
        let json = serde_json::to_string(&daemon_set).unwrap();
        assert!(
            json.contains(
                r#""updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":"10%"}}"#
            ),
            "{json}"
        );
        assert!(json.contains(r#""numberReady":2"#), "{json}");
        assert!(json.contains(r#""desiredNumberScheduled":0"#), "{json}");
        assert_eq!(
            serde_json::from_str::<DaemonSet>(&json).unwrap(),
            daemon_set
        );
        let on_delete: DaemonSetUpdateStrategy =
            serde_json::from_str(r#"{"type":"OnDelete"}"#).unwrap();
        assert_eq!(on_delete.type_, DaemonSetUpdateStrategyType::OnDelete);
    }
}
