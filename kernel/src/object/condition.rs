//! `ConditionStatus`, the tri-state every condition (pod, node, deployment) reports.

use serde::{Deserialize, Serialize};

/// Whether a condition holds; `Unknown` when the reporter cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_kubernetes_words() {
        let statuses = [
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::Unknown,
        ];
        let json = serde_json::to_string(&statuses).unwrap();
        assert_eq!(json, r#"["True","False","Unknown"]"#);
        assert_eq!(
            serde_json::from_str::<Vec<ConditionStatus>>(&json).unwrap(),
            statuses
        );
    }
}
