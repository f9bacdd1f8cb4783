//! Node affinity, as Kubernetes' NodeAffinity plug-in. Filter: the node carries every label of
//! the pod's `nodeSelector` and matches one of its required node affinity terms. Score: the
//! summed weights of the preferred terms the node matches, scaled so the best node gets the
//! most.

use flotilla_kernel::object::{Node, Pod};

use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{FilterPlugin, PodInfo, ScorePlugin, Unfit, normalize_to_max};
use crate::scheduler::node_info::NodeInfo;

pub struct NodeAffinity;

/// Whether `node` is one the pod's node selector and required node affinity allow (also what
/// topology spreading counts as eligible).
pub fn node_matches(pod: &Pod, node: &Node) -> bool {
    let labels = &node.metadata.labels;
    let selected = pod
        .spec
        .node_selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value));
    selected
        && pod
            .spec
            .affinity
            .as_ref()
            .and_then(|a| a.required_node_selector())
            .is_none_or(|required| required.matches(labels, &node.metadata.name))
}

impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "node_affinity"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        if node_matches(pod.pod, node.node) {
            Ok(())
        } else {
            Err(Unfit::because(
                "node(s) didn't match Pod's node affinity/selector",
            ))
        }
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::NODE_ADD | ClusterEvents::NODE_LABEL_UPDATE
    }
}

impl ScorePlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "node_affinity"
    }

    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> i64 {
        let Some(node_affinity) = pod
            .pod
            .spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
        else {
            return 0;
        };
        let labels = &node.node.metadata.labels;
        node_affinity
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .filter(|term| term.preference.matches(labels, node.name()))
            .map(|term| i64::from(term.weight))
            .sum()
    }

    fn normalize(&self, _pod: &PodInfo<'_>, scores: &mut [i64]) {
        normalize_to_max(scores, false);
    }

    /// Kubernetes' default weight for this plug-in.
    fn weight(&self) -> i64 {
        2
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{
        Affinity, NodeAffinity as Spec, NodeSelector, NodeSelectorOperator,
        NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm,
    };

    use super::*;
    use crate::scheduler::fixtures::{pod_with, ready_node};
    use crate::scheduler::framework::MAX_SCORE;

    fn labelled(name: &str, labels: &[(&str, &str)]) -> Node {
        let mut node = ready_node(name, "1", "1Gi");
        node.metadata.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        node
    }

    fn term(key: &str, operator: NodeSelectorOperator, values: &[&str]) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
            match_fields: Vec::new(),
        }
    }

    fn with_affinity(
        required: Vec<NodeSelectorTerm>,
        preferred: Vec<(i32, NodeSelectorTerm)>,
    ) -> Pod {
        let mut pod = pod_with(&[], &[]);
        pod.spec.affinity = Some(Affinity {
            node_affinity: Some(Spec {
                required_during_scheduling_ignored_during_execution: (!required.is_empty())
                    .then_some(NodeSelector {
                        node_selector_terms: required,
                    }),
                preferred_during_scheduling_ignored_during_execution: preferred
                    .into_iter()
                    .map(|(weight, preference)| PreferredSchedulingTerm { weight, preference })
                    .collect(),
            }),
            ..Affinity::default()
        });
        pod
    }

    #[test]
    fn the_selector_and_one_required_term_must_match() {
        use NodeSelectorOperator::*;
        let ssd_a = labelled("n1", &[("disk", "ssd"), ("zone", "a")]);
        let hdd_b = labelled("n2", &[("disk", "hdd"), ("zone", "b")]);
        let fits =
            |pod: &Pod, node: &Node| NodeAffinity.filter(&PodInfo::new(pod), &NodeInfo::new(node));
        let refused = Err(Unfit::because(
            "node(s) didn't match Pod's node affinity/selector",
        ));
        let mut selector = pod_with(&[], &[]);
        assert_eq!(fits(&selector, &hdd_b), Ok(()), "no rules fit anywhere");
        selector.spec.node_selector = [("disk".to_string(), "ssd".to_string())].into();
        assert_eq!(fits(&selector, &ssd_a), Ok(()));
        assert_eq!(fits(&selector, &hdd_b), refused);
        let either_zone = with_affinity(
            vec![term("zone", In, &["x"]), term("disk", NotIn, &["ssd"])],
            vec![],
        );
        assert_eq!(fits(&either_zone, &hdd_b), Ok(()), "terms are ORed");
        assert_eq!(fits(&either_zone, &ssd_a), refused);
        let mut both = with_affinity(vec![term("zone", Exists, &[])], vec![]);
        both.spec.node_selector = [("disk".to_string(), "hdd".to_string())].into();
        assert_eq!(fits(&both, &hdd_b), Ok(()));
        assert_eq!(
            fits(&both, &ssd_a),
            refused,
            "selector and affinity are ANDed"
        );
        let by_name = with_affinity(
            vec![NodeSelectorTerm {
                match_expressions: Vec::new(),
                match_fields: vec![NodeSelectorRequirement {
                    key: "metadata.name".into(),
                    operator: In,
                    values: vec!["n2".into()],
                }],
            }],
            vec![],
        );
        assert_eq!(fits(&by_name, &hdd_b), Ok(()));
        assert_eq!(fits(&by_name, &ssd_a), refused);
    }

    #[test]
    fn preferred_terms_add_their_weights_and_the_best_node_gets_the_most() {
        use NodeSelectorOperator::*;
        let nodes = [
            labelled("n1", &[("disk", "ssd"), ("zone", "a")]),
            labelled("n2", &[("disk", "ssd")]),
            labelled("n3", &[]),
        ];
        let pod = with_affinity(
            vec![],
            vec![
                (80, term("disk", In, &["ssd"])),
                (20, term("zone", In, &["a"])),
            ],
        );
        let info = PodInfo::new(&pod);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| NodeAffinity.score(&info, &NodeInfo::new(n)))
            .collect();
        assert_eq!(scores, [100, 80, 0]);
        NodeAffinity.normalize(&info, &mut scores);
        assert_eq!(scores, [MAX_SCORE, 80, 0]);
        let small = with_affinity(vec![], vec![(5, term("zone", In, &["a"]))]);
        let mut scores: Vec<i64> = nodes
            .iter()
            .map(|n| NodeAffinity.score(&PodInfo::new(&small), &NodeInfo::new(n)))
            .collect();
        NodeAffinity.normalize(&info, &mut scores);
        assert_eq!(scores, [MAX_SCORE, 0, 0], "scaled up to the best");
    }
}
