//! `Pod`, the unit of scheduling, and `PodTemplateSpec`, the pod shape controllers stamp out.
//!
//! The helpers here are the questions every component asks of a pod (is it finished? what does
//! it request?) and the one status mutation that has a rule attached: a condition's transition
//! time moves only when its status changes.

use serde::{Deserialize, Serialize};

use super::condition::ConditionStatus;
use super::meta::ObjectMeta;
use super::pod_spec::PodSpec;
use super::pod_status::{PodCondition, PodPhase, PodStatus};
use super::quantity::QuantityError;
use super::time::Time;

/// A group of containers run together on one node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

/// The metadata and spec of the pods a controller creates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
}

impl Pod {
    /// Whether the pod has finished for good (`Succeeded` or `Failed`).
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.phase, PodPhase::Succeeded | PodPhase::Failed)
    }

    /// The condition of the given type (`PodCondition::READY`, ...), if reported.
    pub fn condition(&self, type_: &str) -> Option<&PodCondition> {
        self.status.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the `Ready` condition is `True`.
    pub fn is_ready(&self) -> bool {
        self.condition(PodCondition::READY)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// Records `condition`, replacing one of the same type. The transition time becomes `now`
    /// when the status is new or changed and is kept otherwise. Returns whether anything
    /// changed, so callers can skip a status write.
    pub fn set_condition(&mut self, mut condition: PodCondition, now: Time) -> bool {
        let conditions = &mut self.status.conditions;
        match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
            Some(existing) => {
                condition.last_transition_time = if existing.status == condition.status {
                    existing.last_transition_time
                } else {
                    Some(now)
                };
                let changed = *existing != condition;
                *existing = condition;
                changed
            }
            None => {
                condition.last_transition_time = Some(now);
                conditions.push(condition);
                true
            }
        }
    }

    /// The pod's summed requests as (CPU millicores, memory bytes); see `PodSpec::requests`.
    pub fn requests(&self) -> Result<(u64, u64), QuantityError> {
        self.spec.requests()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(seconds: u64) -> Time {
        Time::from(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    fn ready(status: ConditionStatus, reason: &str) -> PodCondition {
        PodCondition {
            type_: PodCondition::READY.into(),
            status,
            reason: reason.into(),
            ..PodCondition::default()
        }
    }

    #[test]
    fn terminal_phases() {
        let mut pod = Pod::default();
        for (phase, terminal) in [
            (PodPhase::Pending, false),
            (PodPhase::Running, false),
            (PodPhase::Unknown, false),
            (PodPhase::Succeeded, true),
            (PodPhase::Failed, true),
        ] {
            pod.status.phase = phase;
            assert_eq!(pod.is_terminal(), terminal, "{phase:?}");
        }
    }

    #[test]
    fn set_condition_moves_transition_time_only_on_status_change() {
        let mut pod = Pod::default();
        assert!(pod.set_condition(ready(ConditionStatus::False, "Starting"), at(10)));
        assert!(!pod.is_ready());

        assert!(pod.set_condition(ready(ConditionStatus::False, "Probing"), at(20)));
        let condition = pod.condition(PodCondition::READY).unwrap();
        assert_eq!(condition.reason, "Probing");
        assert_eq!(condition.last_transition_time, Some(at(10)));

        assert!(!pod.set_condition(ready(ConditionStatus::False, "Probing"), at(30)));

        assert!(pod.set_condition(ready(ConditionStatus::True, ""), at(40)));
        assert!(pod.is_ready());
        let condition = pod.condition(PodCondition::READY).unwrap();
        assert_eq!(condition.last_transition_time, Some(at(40)));
        assert_eq!(pod.status.conditions.len(), 1);
        assert!(pod.condition(PodCondition::SCHEDULED).is_none());
    }

    #[test]
    fn decodes_objects_with_missing_and_unknown_fields() {
        let pod: Pod = serde_json::from_str(
            r#"{"kind":"Pod","metadata":{"name":"p"},"spec":{"newField":1},"extra":true}"#,
        )
        .unwrap();
        assert_eq!(pod.metadata.name, "p");
        assert_eq!(pod.status.phase, PodPhase::Pending);
    }
}
