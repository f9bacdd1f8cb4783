//! Which nodes a DaemonSet's pod belongs on, as Kubernetes' `NodeShouldRunDaemonPod`: the
//! template's `nodeName` (if any), `nodeSelector` and required node affinity must fit the
//! node, and every `NoSchedule`
//! or `NoExecute` taint must be tolerated for a new pod; a pod already there stays unless a
//! `NoExecute` taint it does not tolerate appears (a new `NoSchedule` taint lets it be).
//!
//! Daemon pods carry Kubernetes' default DaemonSet tolerations, so a per-node agent keeps
//! running through a node's trouble and on a cordoned node.

use flotilla_kernel::object::{Node, PodSpec, Taint, TaintEffect, Toleration};

/// Taint keys Kubernetes' node lifecycle uses (`node.kubernetes.io/...`).
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// Whether a node should run the DaemonSet's pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// A pod should be created here if there is none.
    pub should_run: bool,
    /// A pod already here may stay.
    pub should_continue_running: bool,
}

/// The template's pod spec with the default DaemonSet tolerations added (each unless an equal
/// one is there already): not-ready and unreachable (`NoExecute`), the pressure conditions and
/// unschedulable (`NoSchedule`), and network-unavailable for host-network pods.
pub fn daemon_pod_spec(template: &PodSpec) -> PodSpec {
    let mut spec = template.clone();
    let mut defaults = vec![
        (NOT_READY, TaintEffect::NoExecute),
        (UNREACHABLE, TaintEffect::NoExecute),
        (DISK_PRESSURE, TaintEffect::NoSchedule),
        (MEMORY_PRESSURE, TaintEffect::NoSchedule),
        (PID_PRESSURE, TaintEffect::NoSchedule),
        (UNSCHEDULABLE, TaintEffect::NoSchedule),
    ];
    if spec.host_network {
        defaults.push((NETWORK_UNAVAILABLE, TaintEffect::NoSchedule));
    }
    for (key, effect) in defaults {
        let toleration = Toleration {
            key: key.into(),
            operator: Toleration::EXISTS.into(),
            effect: effect.as_str().into(),
            ..Toleration::default()
        };
        if !spec.tolerations.contains(&toleration) {
            spec.tolerations.push(toleration);
        }
    }
    spec
}

/// Where a pod of `spec` (a [`daemon_pod_spec`]) belongs with respect to `node`.
pub fn placement(spec: &PodSpec, node: &Node) -> Placement {
    let name = &node.metadata.name;
    let labels = &node.metadata.labels;
    let fits_name = spec.node_name.is_empty() || &spec.node_name == name;
    let fits_selector = spec
        .node_selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value));
    let fits_affinity = spec
        .affinity
        .as_ref()
        .and_then(|affinity| affinity.required_node_selector())
        .is_none_or(|required| required.matches(labels, name));
    let untolerated = |effect: TaintEffect| {
        node.spec
            .taints
            .iter()
            .filter(|taint| taint.effect == effect)
            .any(|taint: &Taint| !spec.tolerations.iter().any(|t| t.tolerates(taint)))
    };
    let fits = fits_name && fits_selector && fits_affinity;
    let repels_execution = untolerated(TaintEffect::NoExecute);
    Placement {
        should_run: fits && !repels_execution && !untolerated(TaintEffect::NoSchedule),
        should_continue_running: fits && !repels_execution,
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::Affinity;

    use super::*;

    fn node(labels: &[(&str, &str)], taints: &[(&str, TaintEffect)]) -> Node {
        let mut node = Node::default();
        node.metadata.name = "n1".into();
        node.metadata.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        node.spec.taints = taints
            .iter()
            .map(|(key, effect)| Taint {
                key: key.to_string(),
                value: "true".into(),
                effect: *effect,
            })
            .collect();
        node
    }

    fn spec(selector: &[(&str, &str)], tolerated: &[&str]) -> PodSpec {
        let mut spec = PodSpec {
            node_selector: selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..PodSpec::default()
        };
        spec.tolerations = tolerated
            .iter()
            .map(|key| Toleration {
                key: key.to_string(),
                operator: Toleration::EXISTS.into(),
                ..Toleration::default()
            })
            .collect();
        daemon_pod_spec(&spec)
    }

    const RUN: Placement = Placement {
        should_run: true,
        should_continue_running: true,
    };
    const STAY: Placement = Placement {
        should_run: false,
        should_continue_running: true,
    };
    const NONE: Placement = Placement {
        should_run: false,
        should_continue_running: false,
    };

    #[test]
    fn placement_follows_kubernetes() {
        use TaintEffect::{NoExecute, NoSchedule, PreferNoSchedule};
        let cases: [(&str, PodSpec, Node, Placement); 10] = [
            ("a plain node", spec(&[], &[]), node(&[], &[]), RUN),
            (
                "selector matched",
                spec(&[("disk", "ssd")], &[]),
                node(&[("disk", "ssd")], &[]),
                RUN,
            ),
            (
                "selector not matched",
                spec(&[("disk", "ssd")], &[]),
                node(&[("disk", "hdd")], &[]),
                NONE,
            ),
            (
                "untolerated NoSchedule: no new pod, the old one stays",
                spec(&[], &[]),
                node(&[], &[("gpu", NoSchedule)]),
                STAY,
            ),
            (
                "untolerated NoExecute: none",
                spec(&[], &[]),
                node(&[], &[("gpu", NoExecute)]),
                NONE,
            ),
            (
                "tolerated taints",
                spec(&[], &["gpu"]),
                node(&[], &[("gpu", NoSchedule), ("gpu", NoExecute)]),
                RUN,
            ),
            (
                "PreferNoSchedule does not repel",
                spec(&[], &[]),
                node(&[], &[("gpu", PreferNoSchedule)]),
                RUN,
            ),
            (
                "a not-ready node keeps its agent",
                spec(&[], &[]),
                node(&[], &[(NOT_READY, NoExecute), (UNREACHABLE, NoExecute)]),
                RUN,
            ),
            (
                "a cordoned node under pressure still gets one",
                spec(&[], &[]),
                node(
                    &[],
                    &[
                        (UNSCHEDULABLE, NoSchedule),
                        (DISK_PRESSURE, NoSchedule),
                        (MEMORY_PRESSURE, NoSchedule),
                        (PID_PRESSURE, NoSchedule),
                    ],
                ),
                RUN,
            ),
            (
                "network-unavailable is tolerated only by host-network pods",
                spec(&[], &[]),
                node(&[], &[(NETWORK_UNAVAILABLE, NoSchedule)]),
                STAY,
            ),
        ];
        for (case, spec, node, expected) in cases {
            assert_eq!(placement(&spec, &node), expected, "{case}");
        }
    }

    #[test]
    fn a_template_bound_to_a_node_name_runs_only_there() {
        let mut bound = PodSpec {
            node_name: "n2".into(),
            ..PodSpec::default()
        };
        bound = daemon_pod_spec(&bound);
        assert_eq!(placement(&bound, &node(&[], &[])), NONE);
        bound.node_name = "n1".into();
        assert_eq!(placement(&bound, &node(&[], &[])), RUN);
    }

    #[test]
    fn required_node_affinity_must_match() {
        let affinity: Affinity = serde_json::from_value(serde_json::json!({
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]},
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
                ]
            }}
        }))
        .unwrap();
        let spec = daemon_pod_spec(&PodSpec {
            affinity: Some(affinity),
            ..PodSpec::default()
        });
        let cases = [
            ("a zone listed", node(&[("zone", "b")], &[]), RUN),
            ("by its name", node(&[("zone", "c")], &[]), RUN),
            ("neither", named("n2", &[("zone", "c")]), NONE),
            ("no zone label", named("n2", &[]), NONE),
        ];
        for (case, node, expected) in cases {
            assert_eq!(placement(&spec, &node), expected, "{case}");
        }
    }

    fn named(name: &str, labels: &[(&str, &str)]) -> Node {
        let mut node = node(labels, &[]);
        node.metadata.name = name.into();
        node
    }

    #[test]
    fn default_tolerations_are_added_once() {
        let mut host = PodSpec {
            host_network: true,
            ..PodSpec::default()
        };
        host = daemon_pod_spec(&daemon_pod_spec(&host));
        assert_eq!(host.tolerations.len(), 7);
        assert!(
            host.tolerations
                .iter()
                .all(|t| t.operator == Toleration::EXISTS)
        );
        assert_eq!(
            placement(
                &host,
                &node(&[], &[(NETWORK_UNAVAILABLE, TaintEffect::NoSchedule)])
            ),
            RUN
        );
    }
}
