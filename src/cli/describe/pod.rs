//! `describe pod`: where the pod runs, its status (as `get` shows it), its containers and its
//! conditions.

use flotilla_kernel::object::{Pod, Toleration};

use super::super::{label_text, pod_status, wire_word};
use super::layout::Layout;
use super::meta::{self, timestamp};
use super::{conditions, container};

pub fn view(pod: &Pod) -> String {
    let mut layout = Layout::default();
    let (spec, status) = (&pod.spec, &pod.status);
    meta::identity(&mut layout, &pod.metadata, true);
    if let Some(class) = &spec.runtime_class_name {
        layout.field(0, "Runtime Class Name", class.as_str());
    }
    let node = match (spec.node_name.as_str(), status.host_ip.as_str()) {
        ("", _) => "<none>".to_string(),
        (node, "") => node.to_string(),
        (node, ip) => format!("{node}/{ip}"),
    };
    layout.field(0, "Node", node);
    layout.field(0, "Start Time", timestamp(status.start_time.as_ref()));
    layout.field(0, "Status", pod_status::status(pod));
    if !status.reason.is_empty() {
        layout.field(0, "Reason", status.reason.as_str());
    }
    if !status.message.is_empty() {
        layout.field(0, "Message", status.message.as_str());
    }
    let ip = if status.pod_ip.is_empty() {
        "<none>"
    } else {
        &status.pod_ip
    };
    layout.field(0, "IP", ip);
    meta::controller(&mut layout, &pod.metadata);
    container::containers(&mut layout, 0, &spec.containers, &status.container_statuses);
    conditions::table(
        &mut layout,
        status.conditions.iter().map(|condition| conditions::Row {
            type_: &condition.type_,
            status: condition.status,
            reason: &condition.reason,
            message: &condition.message,
        }),
    );
    layout.field(0, "Restart Policy", wire_word::of(&spec.restart_policy));
    layout.field(0, "Node-Selectors", label_text::labels(&spec.node_selector));
    layout.list(
        0,
        "Tolerations",
        spec.tolerations.iter().map(toleration).collect(),
    );
    layout.render()
}

/// A toleration as kubectl shows it: `key=value:Effect`, `key:Effect op=Exists for 300s`.
fn toleration(toleration: &Toleration) -> String {
    let mut text = toleration.key.clone();
    if toleration.operator != Toleration::EXISTS && !toleration.value.is_empty() {
        text = format!("{text}={}", toleration.value);
    }
    if !toleration.effect.is_empty() {
        text = format!("{text}:{}", toleration.effect);
    }
    if toleration.operator == Toleration::EXISTS {
        text = format!("{text} op=Exists");
    }
    if let Some(seconds) = toleration.toleration_seconds {
        text = format!("{text} for {seconds}s");
    }
    text.trim_start().to_string()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{ConditionStatus, Container, PodCondition, PodPhase};

    use super::*;

    #[test]
    fn a_running_pod() {
        let mut pod = Pod::default();
        pod.metadata.name = "web-1".to_string();
        pod.metadata.namespace = "default".to_string();
        pod.spec.node_name = "n1".to_string();
        pod.spec.containers.push(Container {
            name: "web".to_string(),
            image: "nginx".to_string(),
            ..Container::default()
        });
        pod.status.phase = PodPhase::Running;
        pod.status.host_ip = "10.0.0.7".to_string();
        pod.status.pod_ip = "10.1.0.5".to_string();
        pod.status.conditions.push(PodCondition {
            type_: "Ready".to_string(),
            status: ConditionStatus::True,
            ..PodCondition::default()
        });
        let text = view(&pod);
        for line in [
            "Name:               web-1\n",
            "Node:               n1/10.0.0.7\n",
            "Status:             Running\n",
            "IP:                 10.1.0.5\n",
            "Containers:\n  web:\n    Image:        nginx\n",
            "Conditions:\n  Type    Status\n  ----    ------\n  Ready   True\n",
            "Restart Policy:  Always\nNode-Selectors:  <none>\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }

    #[test]
    fn a_pod_with_a_runtime_class() {
        let mut pod = Pod::default();
        pod.metadata.name = "sandboxed".to_string();
        let text = view(&pod);
        assert!(!text.contains("Runtime Class Name"), "{text}");
        pod.spec.runtime_class_name = Some("gvisor".to_string());
        pod.spec
            .node_selector
            .insert("runtime".to_string(), "gvisor".to_string());
        let text = view(&pod);
        for line in [
            "Runtime Class Name:  gvisor\n",
            "Node-Selectors:      runtime=gvisor\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }

    #[test]
    fn tolerations_read_as_kubectl_shows_them() {
        let mut pod = Pod::default();
        pod.metadata.name = "gpu-job".to_string();
        assert!(
            view(&pod).contains("Tolerations:        <none>\n"),
            "{}",
            view(&pod)
        );
        let mut unreachable = Toleration {
            key: "node.kubernetes.io/unreachable".into(),
            operator: Toleration::EXISTS.into(),
            effect: "NoExecute".into(),
            ..Toleration::default()
        };
        unreachable.toleration_seconds = Some(300);
        pod.spec.tolerations = vec![
            Toleration {
                key: "dedicated".into(),
                value: "gpu".into(),
                effect: "NoSchedule".into(),
                ..Toleration::default()
            },
            unreachable,
            Toleration {
                operator: Toleration::EXISTS.into(),
                ..Toleration::default()
            },
        ];
        let shown: Vec<String> = pod.spec.tolerations.iter().map(toleration).collect();
        assert_eq!(
            shown,
            [
                "dedicated=gpu:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute op=Exists for 300s",
                "op=Exists"
            ]
        );
    }
}
