//! The columns of DaemonSets, as kubectl shows them: how many nodes should run the pod, run
//! it, run it ready, up to date and available, and the node selector.

use std::time::SystemTime;

use flotilla_kernel::object::DaemonSet;

use super::super::label_text;
use super::{Cells, age, template_cells};

/// NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE; wide: CONTAINERS
/// IMAGES SELECTOR.
pub(super) fn daemon_set_cells(daemon_set: &DaemonSet, now: SystemTime) -> Cells {
    let (spec, status) = (&daemon_set.spec, &daemon_set.status);
    (
        vec![
            daemon_set.metadata.name.clone(),
            status.desired_number_scheduled.to_string(),
            status.current_number_scheduled.to_string(),
            status.number_ready.to_string(),
            status.updated_number_scheduled.to_string(),
            status.number_available.to_string(),
            label_text::labels(&spec.template.spec.node_selector),
            age(&daemon_set.metadata, now),
        ],
        template_cells(&spec.template, label_text::selector(&spec.selector)),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{Container, DaemonSetStatus, ObjectMeta, Time};

    use super::*;

    #[test]
    fn a_daemon_set_row_counts_nodes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut daemon_set = DaemonSet {
            metadata: ObjectMeta {
                name: "agent".to_string(),
                creation_timestamp: Some(Time::from(now - Duration::from_secs(300))),
                ..ObjectMeta::default()
            },
            status: DaemonSetStatus {
                desired_number_scheduled: 3,
                current_number_scheduled: 3,
                number_ready: 2,
                updated_number_scheduled: 3,
                number_available: 2,
                ..DaemonSetStatus::default()
            },
            ..DaemonSet::default()
        };
        daemon_set.spec.template.spec.containers = vec![Container {
            name: "agent".into(),
            image: "agent:1".into(),
            ..Container::default()
        }];
        let (always, wide) = daemon_set_cells(&daemon_set, now);
        assert_eq!(always, ["agent", "3", "3", "2", "3", "2", "<none>", "5m"]);
        assert_eq!(wide, ["agent", "agent:1", "<none>"]);
        daemon_set.spec.template.spec.node_selector = [("disk".into(), "ssd".into())].into();
        assert_eq!(daemon_set_cells(&daemon_set, now).0[6], "disk=ssd");
    }
}
