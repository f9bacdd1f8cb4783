//! `describe daemonset`: where the pods should run and how many nodes run them, as kubectl
//! words it, the pods by phase and the pod template.

use flotilla_kernel::object::{DaemonSet, Pod, PodPhase};

use super::super::label_text;
use super::layout::Layout;
use super::{meta, workload};

/// The view of `daemon_set` and of the pods it controls.
pub fn view(daemon_set: &DaemonSet, pods: &[Pod]) -> String {
    let mut layout = Layout::default();
    let (spec, status) = (&daemon_set.spec, &daemon_set.status);
    meta::identity(&mut layout, &daemon_set.metadata, true);
    layout.field(0, "Selector", label_text::selector(&spec.selector));
    layout.field(
        0,
        "Node-Selector",
        label_text::labels(&spec.template.spec.node_selector),
    );
    let counts = [
        (
            "Desired Number of Nodes Scheduled",
            status.desired_number_scheduled,
        ),
        (
            "Current Number of Nodes Scheduled",
            status.current_number_scheduled,
        ),
        (
            "Number of Nodes Scheduled with Up-to-date Pods",
            status.updated_number_scheduled,
        ),
        (
            "Number of Nodes Scheduled with Available Pods",
            status.number_available,
        ),
        ("Number of Nodes Misscheduled", status.number_misscheduled),
    ];
    for (label, count) in counts {
        layout.field(0, label, count.to_string());
    }
    let count = |phase: PodPhase| pods.iter().filter(|pod| pod.status.phase == phase).count();
    layout.field(
        0,
        "Pods Status",
        format!(
            "{} Running / {} Waiting / {} Succeeded / {} Failed",
            count(PodPhase::Running),
            count(PodPhase::Pending),
            count(PodPhase::Succeeded),
            count(PodPhase::Failed)
        ),
    );
    workload::template(&mut layout, &spec.template);
    layout.render()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{Container, DaemonSetStatus};

    use super::*;

    #[test]
    fn counts_are_worded_as_kubectl_words_them() {
        let mut daemon_set = DaemonSet::default();
        daemon_set.metadata.name = "agent".into();
        daemon_set.metadata.namespace = "kube-system".into();
        daemon_set.spec.template.spec.node_selector = [("disk".into(), "ssd".into())].into();
        daemon_set.spec.template.spec.containers = vec![Container {
            name: "agent".into(),
            image: "agent:1".into(),
            ..Container::default()
        }];
        daemon_set.status = DaemonSetStatus {
            desired_number_scheduled: 3,
            current_number_scheduled: 2,
            ..DaemonSetStatus::default()
        };
        let mut running = Pod::default();
        running.status.phase = PodPhase::Running;
        let text = view(&daemon_set, &[running, Pod::default()]);
        for line in [
            "Node-Selector:",
            "disk=ssd",
            "Desired Number of Nodes Scheduled:",
            "Pods Status:",
            "1 Running / 1 Waiting / 0 Succeeded / 0 Failed",
            "agent:1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
