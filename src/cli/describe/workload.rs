//! `describe deployment` and `describe replicaset`: how many replicas are wanted and how many
//! exist, how a Deployment rolls out, the pod template, and what the workload owns (a
//! Deployment's ReplicaSets, a ReplicaSet's pods by phase).

use std::time::SystemTime;

use flotilla_kernel::object::{
    Deployment, IntOrString, Kind, Object, Pod, PodPhase, PodTemplateSpec, ReplicaSet,
};

use super::super::table::Table;
use super::super::{columns, label_text, wire_word};
use super::layout::Layout;
use super::{conditions, container, meta};

/// The view of `deployment` and of the ReplicaSets it controls.
pub fn deployment_view(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    now: SystemTime,
) -> String {
    let mut layout = Layout::default();
    let (spec, status) = (&deployment.spec, &deployment.status);
    meta::identity(&mut layout, &deployment.metadata, true);
    layout.field(0, "Selector", label_text::selector(&spec.selector));
    layout.field(
        0,
        "Replicas",
        format!(
            "{} desired | {} updated | {} total | {} available | {} unavailable",
            spec.replicas
                .map_or("<unset>".to_string(), |n| n.to_string()),
            status.updated_replicas,
            status.replicas,
            status.available_replicas,
            status.unavailable_replicas,
        ),
    );
    layout.field(0, "StrategyType", wire_word::of(&spec.strategy.type_));
    layout.field(0, "MinReadySeconds", spec.min_ready_seconds.to_string());
    if let Some(rolling) = &spec.strategy.rolling_update {
        let text = |value: &Option<IntOrString>| {
            value
                .as_ref()
                .map_or("<unset>".to_string(), ToString::to_string)
        };
        layout.field(
            0,
            "RollingUpdateStrategy",
            format!(
                "{} max unavailable, {} max surge",
                text(&rolling.max_unavailable),
                text(&rolling.max_surge)
            ),
        );
    }
    if spec.paused {
        layout.field(0, "Paused", "true");
    }
    template(&mut layout, &spec.template);
    conditions::table(
        &mut layout,
        status.conditions.iter().map(|condition| conditions::Row {
            type_: &condition.type_,
            status: condition.status,
            reason: &condition.reason,
            message: &condition.message,
        }),
    );
    if replica_sets.is_empty() {
        layout.field(0, "ReplicaSets", "<none>");
    } else {
        layout.section(0, "ReplicaSets");
        let mut table = Table::new(columns::headers(Kind::ReplicaSet, false));
        for replica_set in replica_sets {
            table.push(columns::cells(
                &Object::ReplicaSet(replica_set.clone()),
                now,
                false,
            ));
        }
        layout.table(1, &table);
    }
    layout.render()
}

/// The view of `replica_set` and of the pods it controls.
pub fn replica_set_view(replica_set: &ReplicaSet, pods: &[Pod]) -> String {
    let mut layout = Layout::default();
    let (spec, status) = (&replica_set.spec, &replica_set.status);
    meta::identity(&mut layout, &replica_set.metadata, true);
    layout.field(0, "Selector", label_text::selector(&spec.selector));
    meta::controller(&mut layout, &replica_set.metadata);
    layout.field(
        0,
        "Replicas",
        format!(
            "{} current / {} desired",
            status.replicas,
            spec.replicas
                .map_or("<unset>".to_string(), |n| n.to_string())
        ),
    );
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
    template(&mut layout, &spec.template);
    layout.render()
}

pub(super) fn template(layout: &mut Layout, template: &PodTemplateSpec) {
    layout.section(0, "Pod Template");
    layout.list(1, "Labels", label_text::pairs(&template.metadata.labels));
    container::containers(layout, 1, &template.spec.containers, &[]);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use flotilla_kernel::object::{Container, RollingUpdateDeployment};

    use super::*;

    #[test]
    fn a_deployment_rolling_out() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let mut deployment = Deployment::default();
        deployment.metadata.name = "web".to_string();
        deployment.spec.replicas = Some(3);
        deployment.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::String("25%".to_string())),
            max_unavailable: Some(IntOrString::Int(0)),
        });
        deployment.spec.template.spec.containers.push(Container {
            name: "web".to_string(),
            image: "nginx".to_string(),
            ..Container::default()
        });
        deployment.status.updated_replicas = 1;
        deployment.status.replicas = 4;
        deployment.status.available_replicas = 3;
        let mut replica_set = ReplicaSet::default();
        replica_set.metadata.name = "web-abc".to_string();
        replica_set.spec.replicas = Some(3);
        let text = deployment_view(&deployment, &[replica_set], now);
        for part in [
            "Replicas:               3 desired | 1 updated | 4 total | 3 available | 0 unavailable\n",
            "RollingUpdateStrategy:  0 max unavailable, 25% max surge\n",
            "Pod Template:\n  Labels:  <none>\n  Containers:\n    web:\n      Image:        nginx\n",
            "ReplicaSets:\n  NAME      DESIRED   CURRENT   READY   AGE\n  web-abc   3         0         0       <unknown>\n",
        ] {
            assert!(text.contains(part), "{part:?} missing from:\n{text}");
        }
    }

    #[test]
    fn a_replica_set_counts_its_pods_by_phase() {
        let mut replica_set = ReplicaSet::default();
        replica_set.metadata.name = "web-abc".to_string();
        replica_set.spec.replicas = Some(3);
        replica_set.status.replicas = 3;
        let pods: Vec<Pod> = [PodPhase::Running, PodPhase::Running, PodPhase::Pending]
            .into_iter()
            .map(|phase| {
                let mut pod = Pod::default();
                pod.status.phase = phase;
                pod
            })
            .collect();
        let text = replica_set_view(&replica_set, &pods);
        assert!(
            text.contains(
                "Replicas:           3 current / 3 desired\n\
                 Pods Status:        2 Running / 1 Waiting / 0 Succeeded / 0 Failed\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("  Containers:  <none>\n"), "{text}");
    }
}
