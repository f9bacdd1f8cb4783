//! `StatefulSet` (apps/v1): pods with a stable identity — ordinal names (`web-0`, `web-1`),
//! a stable DNS name through `serviceName`, created and removed in order.

use serde::{Deserialize, Serialize};

use super::daemon_set::DaemonSetUpdateStrategyType;
use super::labels::LabelSelector;
use super::meta::ObjectMeta;
use super::omit::{is_zero_i32, is_zero_i64};
use super::pod::PodTemplateSpec;

/// Keeps `spec.replicas` pods named `<name>-<ordinal>` of a template.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSet {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: StatefulSetSpec,
    #[serde(default)]
    pub status: StatefulSetStatus,
}

/// How many pods, which ones, what they look like and how they are replaced.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetSpec {
    /// Desired pod count; defaulted to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Must match the template's labels; immutable.
    #[serde(default)]
    pub selector: LabelSelector,
    #[serde(default)]
    pub template: PodTemplateSpec,
    /// Claims each pod would get. Kept as written: PersistentVolumeClaims are not served yet,
    /// so validation refuses a set that has any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claim_templates: Vec<serde_json::Value>,
    /// The headless Service that gives each pod its DNS name; immutable.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// Whether pods start and stop one at a time in order; immutable.
    #[serde(default)]
    pub pod_management_policy: PodManagementPolicy,
    #[serde(default)]
    pub update_strategy: StatefulSetUpdateStrategy,
    /// Old revisions kept for rollback; defaulted to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Seconds a ready pod must stay ready to count as available.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub min_ready_seconds: i32,
    /// The first ordinal (0 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordinals: Option<StatefulSetOrdinals>,
}

/// How pods are started and stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum PodManagementPolicy {
    /// One at a time: pod N is created once pods 0..N are Running and Ready, and removed
    /// (highest first) once the others are.
    #[default]
    OrderedReady,
    /// All at once.
    Parallel,
}

/// How pods of an old template are replaced: `RollingUpdate` (highest ordinal first, down
/// to the partition) or `OnDelete`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetUpdateStrategy {
    #[serde(default, rename = "type")]
    pub type_: DaemonSetUpdateStrategyType,
    /// Only meaningful for `RollingUpdate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateStatefulSetStrategy>,
}

/// Where a rolling update stops.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateStatefulSetStrategy {
    /// Pods with an ordinal index at or above this are updated; defaulted to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
}

/// The numbering of a set's pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetOrdinals {
    #[serde(default)]
    pub start: i32,
}

/// Pod counts and revisions the controller last observed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatefulSetStatus {
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub observed_generation: i64,
    #[serde(default)]
    pub replicas: i32,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub ready_replicas: i32,
    /// Pods of `currentRevision`.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub current_replicas: i32,
    /// Pods of `updateRevision`.
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub updated_replicas: i32,
    /// The revision of the pods before the update under way (all of them when none is).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_revision: String,
    /// The revision of the template.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub update_revision: String,
    #[serde(default, skip_serializing_if = "is_zero_i32")]
    pub available_replicas: i32,
}

impl StatefulSet {
    /// The ordinal of the first pod.
    pub fn first_ordinal(&self) -> i32 {
        self.spec.ordinals.as_ref().map_or(0, |o| o.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_kubernetes_names() {
        let mut set = StatefulSet::default();
        set.spec.service_name = "nginx".into();
        set.spec.pod_management_policy = PodManagementPolicy::Parallel;
        set.spec.update_strategy.rolling_update =
            Some(RollingUpdateStatefulSetStrategy { partition: Some(2) });
        set.spec.ordinals = Some(StatefulSetOrdinals { start: 5 });
        set.status.update_revision = "web-abc".into();
        let json = serde_json::to_string(&set).unwrap();
        for field in [
            r#""serviceName":"nginx""#,
            r#""podManagementPolicy":"Parallel""#,
            r#""updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}"#,
            r#""ordinals":{"start":5}"#,
            r#""replicas":0"#,
            r#""updateRevision":"web-abc""#,
        ] {
            assert!(json.contains(field), "{field} in {json}");
        }
        assert_eq!(serde_json::from_str::<StatefulSet>(&json).unwrap(), set);
        assert_eq!(set.first_ordinal(), 5);
    }
}
