//! The columns of PodDisruptionBudgets, as kubectl shows them: the budget and how many
//! evictions it allows now.

use std::time::SystemTime;

use flotilla_kernel::object::{IntOrString, PodDisruptionBudget};

use super::{Cells, age};

/// kubectl's word for a bound the budget does not set.
const UNSET: &str = "N/A";

/// NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE.
pub(super) fn disruption_budget_cells(pdb: &PodDisruptionBudget, now: SystemTime) -> Cells {
    let bound = |value: &Option<IntOrString>| {
        value
            .as_ref()
            .map_or(UNSET.to_string(), ToString::to_string)
    };
    (
        vec![
            pdb.metadata.name.clone(),
            bound(&pdb.spec.min_available),
            bound(&pdb.spec.max_unavailable),
            pdb.status.disruptions_allowed.to_string(),
            age(&pdb.metadata, now),
        ],
        vec![],
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{ObjectMeta, Time};

    use super::*;

    #[test]
    fn a_budget_row_reads_like_kubectl() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut pdb = PodDisruptionBudget {
            metadata: ObjectMeta {
                name: "zk-pdb".to_string(),
                creation_timestamp: Some(Time::from(now - Duration::from_secs(120))),
                ..ObjectMeta::default()
            },
            ..PodDisruptionBudget::default()
        };
        pdb.spec.min_available = Some(IntOrString::Int(2));
        pdb.status.disruptions_allowed = 1;
        let (cells, _) = disruption_budget_cells(&pdb, now);
        assert_eq!(cells, ["zk-pdb", "2", "N/A", "1", "2m"]);
        pdb.spec.min_available = None;
        pdb.spec.max_unavailable = Some(IntOrString::String("25%".into()));
        let (cells, _) = disruption_budget_cells(&pdb, now);
        assert_eq!(cells, ["zk-pdb", "N/A", "25%", "1", "2m"]);
    }
}
