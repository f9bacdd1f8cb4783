//! The columns of NetworkPolicies, as kubectl shows them: the pods a policy selects.

use std::time::SystemTime;

use flotilla_kernel::object::NetworkPolicy;

use super::super::label_text;
use super::{Cells, age};

/// NAME POD-SELECTOR AGE.
pub(super) fn network_policy_cells(policy: &NetworkPolicy, now: SystemTime) -> Cells {
    (
        vec![
            policy.metadata.name.clone(),
            label_text::selector(&policy.spec.pod_selector),
            age(&policy.metadata, now),
        ],
        vec![],
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{LabelSelector, ObjectMeta, Time};

    use super::*;

    #[test]
    fn a_policy_row_shows_its_pod_selector() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut policy = NetworkPolicy {
            metadata: ObjectMeta {
                name: "db".to_string(),
                creation_timestamp: Some(Time::from(now - Duration::from_secs(120))),
                ..ObjectMeta::default()
            },
            ..NetworkPolicy::default()
        };
        assert_eq!(network_policy_cells(&policy, now).0, ["db", "<none>", "2m"]);
        policy.spec.pod_selector = LabelSelector {
            match_labels: [("role".to_string(), "db".to_string())].into(),
            ..LabelSelector::default()
        };
        assert_eq!(network_policy_cells(&policy, now).0[1], "role=db");
    }
}
