//! `describe statefulset`: the pods wanted and found, how they are managed and updated, as
//! kubectl words it, the pods by phase and the pod template.

use flotilla_kernel::object::{
    DEFAULT_REPLICAS, DaemonSetUpdateStrategyType, Pod, PodPhase, StatefulSet,
};

use super::super::label_text;
use super::layout::Layout;
use super::{meta, workload};

/// The view of `set` and of the pods it controls.
pub fn view(set: &StatefulSet, pods: &[Pod]) -> String {
    let mut layout = Layout::default();
    let (spec, status) = (&set.spec, &set.status);
    meta::identity(&mut layout, &set.metadata, true);
    layout.field(0, "Selector", label_text::selector(&spec.selector));
    layout.field(
        0,
        "Replicas",
        format!(
            "{} desired | {} total",
            spec.replicas.unwrap_or(DEFAULT_REPLICAS),
            status.replicas
        ),
    );
    layout.field(
        0,
        "Pod Management Policy",
        format!("{:?}", spec.pod_management_policy),
    );
    let strategy = &spec.update_strategy;
    layout.field(0, "Update Strategy", format!("{:?}", strategy.type_));
    if strategy.type_ == DaemonSetUpdateStrategyType::RollingUpdate {
        let partition = strategy.rolling_update.as_ref().and_then(|r| r.partition);
        layout.field(1, "Partition", partition.unwrap_or(0).to_string());
    }
    if !spec.service_name.is_empty() {
        layout.field(0, "Service", spec.service_name.clone());
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
    use flotilla_kernel::object::Container;

    use super::*;

    #[test]
    fn replicas_and_strategy_are_worded_as_kubectl_words_them() {
        let mut set = StatefulSet::default();
        set.metadata.name = "web".into();
        set.metadata.namespace = "default".into();
        set.spec.replicas = Some(3);
        set.spec.service_name = "nginx".into();
        set.status.replicas = 2;
        set.spec.template.spec.containers = vec![Container {
            name: "nginx".into(),
            image: "nginx:1".into(),
            ..Container::default()
        }];
        let mut running = Pod::default();
        running.status.phase = PodPhase::Running;
        let text = view(&set, &[running]);
        for line in [
            "3 desired | 2 total",
            "OrderedReady",
            "RollingUpdate",
            "Partition:",
            "nginx",
            "1 Running / 0 Waiting / 0 Succeeded / 0 Failed",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
