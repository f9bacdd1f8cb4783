//! A pod's `affinity` and `topologySpreadConstraints`: where it may and would rather go,
//! relative to node labels and to the pods already placed, with Kubernetes' fields and matching
//! rules. The scheduler's plug-ins act on them; this module only says what matches.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::labels::LabelSelector;

/// The label every node carries with its own name, the usual topology key for "one per node".
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// The label of a node's zone, the usual topology key for spreading across failure domains.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";

/// Node affinity, pod affinity and pod anti-affinity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_affinity: Option<PodAffinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity: Option<PodAffinity>,
}

/// Rules on the labels (and name) of the node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredSchedulingTerm>,
}

/// Terms of which at least one must match (they are ORed).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

/// Requirements that must all hold (they are ANDed); a term with none matches no node.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    /// On the node's labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// On the node's fields; only `metadata.name` is supported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// One requirement on a node label (or field).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    #[serde(default)]
    pub key: String,
    pub operator: NodeSelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// How a node selector requirement relates its key to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum NodeSelectorOperator {
    #[default]
    In,
    NotIn,
    Exists,
    DoesNotExist,
    /// The value, an integer, is greater than the one value given.
    Gt,
    /// The value, an integer, is less than the one value given.
    Lt,
}

/// The only field `matchFields` may name.
pub const FIELD_METADATA_NAME: &str = "metadata.name";

/// A node selector term worth `weight` (1–100) to the nodes it matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreferredSchedulingTerm {
    #[serde(default)]
    pub weight: i32,
    #[serde(default)]
    pub preference: NodeSelectorTerm,
}

/// Pod affinity or anti-affinity: rules on the pods already in a topology domain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinity {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

/// The pods (by labels, in some namespaces) that must, or must not, share a topology domain
/// (the nodes with one value of `topologyKey`) with the pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    /// Absent matches no pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// With `namespaceSelector` absent and this empty: the pod's own namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub topology_key: String,
    /// Namespaces by their labels; `{}` means every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
}

/// A pod affinity term worth `weight` (1–100) to the nodes it matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedPodAffinityTerm {
    #[serde(default)]
    pub weight: i32,
    #[serde(default)]
    pub pod_affinity_term: PodAffinityTerm,
}

/// How matching pods must spread over the domains of `topologyKey`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    /// The most the number of matching pods in one domain may exceed the fewest in any.
    #[serde(default)]
    pub max_skew: i32,
    #[serde(default)]
    pub topology_key: String,
    pub when_unsatisfiable: UnsatisfiableConstraintAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// With fewer eligible domains than this, the fewest is taken as 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_domains: Option<i32>,
    /// Whether nodes the pod's node affinity excludes count as domains (`Honor`, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity_policy: Option<NodeInclusionPolicy>,
    /// Whether nodes with taints the pod does not tolerate count (`Ignore`, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_taints_policy: Option<NodeInclusionPolicy>,
}

/// What a spread constraint that cannot be met does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum UnsatisfiableConstraintAction {
    /// A filter: nodes that would break it are out.
    #[default]
    DoNotSchedule,
    /// A preference: nodes that break it less score higher.
    ScheduleAnyway,
}

/// Whether a kind of node counts when spreading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NodeInclusionPolicy {
    Honor,
    Ignore,
}

impl NodeSelector {
    /// Whether any term matches the node with these labels and name.
    pub fn matches(&self, labels: &BTreeMap<String, String>, name: &str) -> bool {
        self.node_selector_terms
            .iter()
            .any(|term| term.matches(labels, name))
    }
}

impl NodeSelectorTerm {
    /// Whether every requirement holds; a term without any matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>, name: &str) -> bool {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return false;
        }
        self.match_expressions
            .iter()
            .all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self.match_fields.iter().all(|r| {
                let field = (r.key == FIELD_METADATA_NAME).then_some(name);
                r.matches(field)
            })
    }
}

impl NodeSelectorRequirement {
    /// Whether the requirement holds for a label (or field) with `value` (`None`: absent).
    pub fn matches(&self, value: Option<&str>) -> bool {
        let listed = |v: &str| self.values.iter().any(|allowed| allowed == v);
        let compare = |wanted: std::cmp::Ordering| {
            let parsed = |v: &str| v.parse::<i64>().ok();
            match (value.and_then(parsed), self.values.as_slice()) {
                (Some(have), [bound]) => parsed(bound).is_some_and(|b| have.cmp(&b) == wanted),
                _ => false,
            }
        };
        match self.operator {
            NodeSelectorOperator::In => value.is_some_and(listed),
            NodeSelectorOperator::NotIn => value.is_none_or(|v| !listed(v)),
            NodeSelectorOperator::Exists => value.is_some(),
            NodeSelectorOperator::DoesNotExist => value.is_none(),
            NodeSelectorOperator::Gt => compare(std::cmp::Ordering::Greater),
            NodeSelectorOperator::Lt => compare(std::cmp::Ordering::Less),
        }
    }
}

impl Affinity {
    /// The node affinity's required terms, if any.
    pub fn required_node_selector(&self) -> Option<&NodeSelector> {
        self.node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()
    }
}

impl PodAffinityTerm {
    /// Whether a pod with `labels` in `namespace` is one the term, written in a pod of
    /// `own_namespace`, selects. `namespace_labels` gives a namespace's labels, for
    /// `namespaceSelector`.
    pub fn selects(
        &self,
        own_namespace: &str,
        namespace: &str,
        labels: &BTreeMap<String, String>,
        namespace_labels: &dyn Fn(&str) -> Option<BTreeMap<String, String>>,
    ) -> bool {
        self.label_selector
            .as_ref()
            .is_some_and(|selector| selector.matches(labels))
            && self.covers_namespace(own_namespace, namespace, namespace_labels)
    }

    /// Whether the term looks at pods in `namespace`.
    pub fn covers_namespace(
        &self,
        own_namespace: &str,
        namespace: &str,
        namespace_labels: &dyn Fn(&str) -> Option<BTreeMap<String, String>>,
    ) -> bool {
        if self.namespaces.iter().any(|n| n == namespace) {
            return true;
        }
        match &self.namespace_selector {
            None => self.namespaces.is_empty() && namespace == own_namespace,
            Some(selector) if selector.is_empty() => true,
            Some(selector) => namespace_labels(namespace).is_some_and(|l| selector.matches(&l)),
        }
    }
}

impl TopologySpreadConstraint {
    /// Whether nodes outside the pod's node affinity are left out of the domains.
    pub fn honors_node_affinity(&self) -> bool {
        self.node_affinity_policy != Some(NodeInclusionPolicy::Ignore)
    }

    /// Whether nodes with taints the pod does not tolerate are left out of the domains.
    pub fn honors_node_taints(&self) -> bool {
        self.node_taints_policy == Some(NodeInclusionPolicy::Honor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn requirement(
        key: &str,
        operator: NodeSelectorOperator,
        values: &[&str],
    ) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn node_selector_requirements_follow_kubernetes() {
        use NodeSelectorOperator::*;
        let node = labels(&[("zone", "a"), ("cores", "16")]);
        let table = [
            (requirement("zone", In, &["a", "b"]), true),
            (requirement("zone", In, &["b"]), false),
            (requirement("zone", NotIn, &["b"]), true),
            (requirement("rack", NotIn, &["b"]), true),
            (requirement("zone", Exists, &[]), true),
            (requirement("rack", DoesNotExist, &[]), true),
            (requirement("cores", Gt, &["8"]), true),
            (requirement("cores", Gt, &["16"]), false),
            (requirement("cores", Lt, &["32"]), true),
            (requirement("zone", Gt, &["1"]), false),
            (requirement("rack", Lt, &["1"]), false),
        ];
        for (requirement, expected) in table {
            let value = node.get(&requirement.key).map(String::as_str);
            assert_eq!(requirement.matches(value), expected, "{requirement:?}");
        }
    }

    #[test]
    fn terms_are_ored_requirements_anded_and_empty_terms_match_nothing() {
        use NodeSelectorOperator::*;
        let node = labels(&[("zone", "a"), ("disk", "ssd")]);
        let term = |reqs: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
            match_expressions: reqs,
            match_fields: Vec::new(),
        };
        let selector = NodeSelector {
            node_selector_terms: vec![
                term(vec![requirement("zone", In, &["b"])]),
                term(vec![
                    requirement("zone", In, &["a"]),
                    requirement("disk", In, &["ssd"]),
                ]),
            ],
        };
        assert!(selector.matches(&node, "n1"));
        assert!(
            !NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm::default()]
            }
            .matches(&node, "n1")
        );
        let by_name = NodeSelectorTerm {
            match_expressions: Vec::new(),
            match_fields: vec![requirement(FIELD_METADATA_NAME, In, &["n1"])],
        };
        assert!(by_name.matches(&node, "n1"));
        assert!(!by_name.matches(&node, "n2"));
    }

    #[test]
    fn pod_affinity_terms_select_by_labels_and_namespace() {
        let term = |namespaces: &[&str], selector: Option<LabelSelector>| PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: labels(&[("app", "web")]),
                match_expressions: Vec::new(),
            }),
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            topology_key: LABEL_HOSTNAME.into(),
            namespace_selector: selector,
        };
        let web = labels(&[("app", "web")]);
        let team = |ns: &str| (ns == "prod").then(|| labels(&[("team", "a")]));
        let own = term(&[], None);
        assert!(own.selects("default", "default", &web, &team));
        assert!(!own.selects("default", "prod", &web, &team));
        assert!(!own.selects("default", "default", &labels(&[("app", "db")]), &team));
        assert!(term(&["prod"], None).selects("default", "prod", &web, &team));
        let everywhere = term(&[], Some(LabelSelector::default()));
        assert!(everywhere.selects("default", "other", &web, &team));
        let by_team = term(
            &[],
            Some(LabelSelector {
                match_labels: labels(&[("team", "a")]),
                match_expressions: Vec::new(),
            }),
        );
        assert!(by_team.selects("default", "prod", &web, &team));
        assert!(!by_team.selects("default", "default", &web, &team));
        let no_selector = PodAffinityTerm {
            label_selector: None,
            ..own
        };
        assert!(!no_selector.selects("default", "default", &web, &team));
    }
}
