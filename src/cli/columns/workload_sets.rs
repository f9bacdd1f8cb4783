//! The columns of DaemonSets and StatefulSets, as kubectl shows them: for a DaemonSet how
//! many nodes should run the pod, run it, run it ready, up to date and available, and the node
//! selector; for a StatefulSet its ready pods out of those wanted.

use std::time::SystemTime;

use flotilla_kernel::object::{DEFAULT_REPLICAS, DaemonSet, StatefulSet};

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

/// NAME READY AGE; wide: CONTAINERS IMAGES.
pub(super) fn stateful_set_cells(set: &StatefulSet, now: SystemTime) -> Cells {
    let (spec, status) = (&set.spec, &set.status);
    let desired = spec.replicas.unwrap_or(DEFAULT_REPLICAS);
    // CONTAINERS and IMAGES, without the SELECTOR other workloads show.
    let wide = template_cells(&spec.template, String::new())
        .into_iter()
        .take(2)
        .collect();
    (
        vec![
            set.metadata.name.clone(),
            format!("{}/{desired}", status.ready_replicas),
            age(&set.metadata, now),
        ],
        wide,
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

    #[test]
    fn a_stateful_set_row_shows_ready_of_desired() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut set = StatefulSet::default();
        set.metadata.name = "web".into();
        set.metadata.creation_timestamp = Some(Time::from(now - Duration::from_secs(30)));
        set.spec.replicas = Some(3);
        set.status.ready_replicas = 2;
        set.spec.template.spec.containers = vec![Container {
            name: "nginx".into(),
            image: "nginx:1".into(),
            ..Container::default()
        }];
        let (always, wide) = stateful_set_cells(&set, now);
        assert_eq!(always, ["web", "2/3", "30s"]);
        assert_eq!(wide, ["nginx", "nginx:1"]);
    }
}
