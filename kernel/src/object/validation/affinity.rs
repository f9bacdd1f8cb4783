//! Checks for a pod's `affinity` and `topologySpreadConstraints`, with Kubernetes' rules and
//! messages.

use std::collections::BTreeSet;

use super::labels::validate_selector_terms;
use super::{FieldError, report};
use crate::object::affinity::{
    Affinity, FIELD_METADATA_NAME, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm, PodAffinity, PodAffinityTerm, TopologySpreadConstraint,
    UnsatisfiableConstraintAction,
};
use crate::object::names::{check_dns1123_label, check_label_value, check_qualified_name};

pub(super) fn validate_affinity(affinity: &Affinity, path: &str, errors: &mut Vec<FieldError>) {
    if let Some(node) = &affinity.node_affinity {
        let at = format!("{path}.nodeAffinity");
        if let Some(required) = &node.required_during_scheduling_ignored_during_execution {
            let at = format!("{at}.requiredDuringSchedulingIgnoredDuringExecution");
            validate_node_selector(required, &at, errors);
        }
        let preferred = &node.preferred_during_scheduling_ignored_during_execution;
        for (index, term) in preferred.iter().enumerate() {
            let at = format!("{at}.preferredDuringSchedulingIgnoredDuringExecution[{index}]");
            check_weight(term.weight, &at, errors);
            validate_node_selector_term(&term.preference, &format!("{at}.preference"), errors);
        }
    }
    if let Some(pod) = &affinity.pod_affinity {
        validate_pod_affinity(pod, &format!("{path}.podAffinity"), errors);
    }
    if let Some(pod) = &affinity.pod_anti_affinity {
        validate_pod_affinity(pod, &format!("{path}.podAntiAffinity"), errors);
    }
}

fn validate_node_selector(selector: &NodeSelector, path: &str, errors: &mut Vec<FieldError>) {
    if selector.node_selector_terms.is_empty() {
        report(
            errors,
            format!("{path}.nodeSelectorTerms"),
            "Required value: must have at least one node selector term",
        );
    }
    for (index, term) in selector.node_selector_terms.iter().enumerate() {
        validate_node_selector_term(term, &format!("{path}.nodeSelectorTerms[{index}]"), errors);
    }
}

fn validate_node_selector_term(term: &NodeSelectorTerm, path: &str, errors: &mut Vec<FieldError>) {
    for (index, requirement) in term.match_expressions.iter().enumerate() {
        let at = format!("{path}.matchExpressions[{index}]");
        validate_label_requirement(requirement, &at, errors);
    }
    for (index, requirement) in term.match_fields.iter().enumerate() {
        let at = format!("{path}.matchFields[{index}]");
        validate_field_requirement(requirement, &at, errors);
    }
}

fn validate_label_requirement(
    requirement: &NodeSelectorRequirement,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    use NodeSelectorOperator::*;
    let values = &requirement.values;
    match requirement.operator {
        In | NotIn if values.is_empty() => report(
            errors,
            format!("{at}.values"),
            "Required value: must be specified when `operator` is 'In' or 'NotIn'",
        ),
        Exists | DoesNotExist if !values.is_empty() => report(
            errors,
            format!("{at}.values"),
            "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        ),
        Gt | Lt if values.len() != 1 => report(
            errors,
            format!("{at}.values"),
            "Required value: must be specified single value when `operator` is 'Lt' or 'Gt'",
        ),
        Gt | Lt if values[0].parse::<i64>().is_err() => report(
            errors,
            format!("{at}.values[0]"),
            format!("Invalid value: {:?}: must be an integer", values[0]),
        ),
        _ => {}
    }
    if let Err(problem) = check_qualified_name(&requirement.key) {
        report(errors, format!("{at}.key"), problem);
    }
    for (index, value) in values.iter().enumerate() {
        if let Err(problem) = check_label_value(value) {
            report(errors, format!("{at}.values[{index}]"), problem);
        }
    }
}

/// `matchFields` may only say `metadata.name In/NotIn (one name)`.
fn validate_field_requirement(
    requirement: &NodeSelectorRequirement,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    if requirement.key != FIELD_METADATA_NAME {
        report(
            errors,
            format!("{at}.key"),
            format!(
                "Invalid value: {:?}: not a valid field selector key",
                requirement.key
            ),
        );
    }
    match requirement.operator {
        NodeSelectorOperator::In | NodeSelectorOperator::NotIn => {
            if requirement.values.len() != 1 {
                report(
                    errors,
                    format!("{at}.values"),
                    "Required value: must be only one value when `operator` is 'In' or 'NotIn' \
                     for node field selector",
                );
            }
        }
        other => report(
            errors,
            format!("{at}.operator"),
            format!("Invalid value: \"{other:?}\": not a valid selector operator"),
        ),
    }
}

fn validate_pod_affinity(affinity: &PodAffinity, path: &str, errors: &mut Vec<FieldError>) {
    let required = &affinity.required_during_scheduling_ignored_during_execution;
    for (index, term) in required.iter().enumerate() {
        let at = format!("{path}.requiredDuringSchedulingIgnoredDuringExecution[{index}]");
        validate_pod_affinity_term(term, &at, errors);
    }
    let preferred = &affinity.preferred_during_scheduling_ignored_during_execution;
    for (index, term) in preferred.iter().enumerate() {
        let at = format!("{path}.preferredDuringSchedulingIgnoredDuringExecution[{index}]");
        check_weight(term.weight, &at, errors);
        validate_pod_affinity_term(
            &term.pod_affinity_term,
            &format!("{at}.podAffinityTerm"),
            errors,
        );
    }
}

fn validate_pod_affinity_term(term: &PodAffinityTerm, at: &str, errors: &mut Vec<FieldError>) {
    if let Some(selector) = &term.label_selector {
        validate_selector_terms(selector, &format!("{at}.labelSelector"), errors);
    }
    if let Some(selector) = &term.namespace_selector {
        validate_selector_terms(selector, &format!("{at}.namespaceSelector"), errors);
    }
    for (index, namespace) in term.namespaces.iter().enumerate() {
        if let Err(problem) = check_dns1123_label(namespace) {
            report(errors, format!("{at}.namespaces[{index}]"), problem);
        }
    }
    check_topology_key(&term.topology_key, &format!("{at}.topologyKey"), errors);
}

fn check_weight(weight: i32, at: &str, errors: &mut Vec<FieldError>) {
    if !(1..=100).contains(&weight) {
        report(
            errors,
            format!("{at}.weight"),
            format!("Invalid value: {weight}: must be in the range 1-100"),
        );
    }
}

fn check_topology_key(key: &str, at: &str, errors: &mut Vec<FieldError>) {
    if key.is_empty() {
        report(errors, at, "Required value: can not be empty");
    } else if let Err(problem) = check_qualified_name(key) {
        report(errors, at, problem);
    }
}

pub(super) fn validate_spread_constraints(
    constraints: &[TopologySpreadConstraint],
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    let mut seen = BTreeSet::new();
    for (index, constraint) in constraints.iter().enumerate() {
        let at = format!("{path}[{index}]");
        if constraint.max_skew <= 0 {
            report(
                errors,
                format!("{at}.maxSkew"),
                format!(
                    "Invalid value: {}: must be greater than zero",
                    constraint.max_skew
                ),
            );
        }
        check_topology_key(
            &constraint.topology_key,
            &format!("{at}.topologyKey"),
            errors,
        );
        if let Some(min) = constraint.min_domains {
            if min <= 0 {
                report(
                    errors,
                    format!("{at}.minDomains"),
                    format!("Invalid value: {min}: must be greater than zero"),
                );
            } else if constraint.when_unsatisfiable != UnsatisfiableConstraintAction::DoNotSchedule
            {
                report(
                    errors,
                    format!("{at}.minDomains"),
                    format!(
                        "Invalid value: {min}: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {:?}",
                        constraint.when_unsatisfiable
                    ),
                );
            }
        }
        if let Some(selector) = &constraint.label_selector {
            validate_selector_terms(selector, &format!("{at}.labelSelector"), errors);
        }
        let pair = (&constraint.topology_key, constraint.when_unsatisfiable);
        if !seen.insert(pair) {
            report(
                errors,
                format!("{at}.{{topologyKey, whenUnsatisfiable}}"),
                format!(
                    "Duplicate value: \"{{{}, {:?}}}\"",
                    constraint.topology_key, constraint.when_unsatisfiable
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::affinity::{NodeAffinity, PreferredSchedulingTerm, WeightedPodAffinityTerm};
    use crate::object::labels::LabelSelector;

    fn messages(affinity: &Affinity) -> Vec<String> {
        let mut errors = Vec::new();
        validate_affinity(affinity, "spec.affinity", &mut errors);
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
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

    fn required(terms: Vec<NodeSelectorTerm>) -> Affinity {
        Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: terms,
                }),
                preferred_during_scheduling_ignored_during_execution: Vec::new(),
            }),
            ..Affinity::default()
        }
    }

    fn expressions(reqs: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: reqs,
            match_fields: Vec::new(),
        }
    }

    #[test]
    fn node_affinity_follows_kubernetes_rules() {
        use NodeSelectorOperator::*;
        let at = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution";
        assert_eq!(
            messages(&required(vec![])),
            [format!(
                "{at}.nodeSelectorTerms: Required value: must have at least one node selector term"
            )]
        );
        let table = [
            (
                requirement("zone", In, &[]),
                "values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            ),
            (
                requirement("zone", Exists, &["a"]),
                "values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            (
                requirement("cores", Gt, &["1", "2"]),
                "values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'",
            ),
            (
                requirement("cores", Lt, &["many"]),
                "values[0]: Invalid value: \"many\": must be an integer",
            ),
        ];
        for (requirement, message) in table {
            assert_eq!(
                messages(&required(vec![expressions(vec![requirement])])),
                [format!(
                    "{at}.nodeSelectorTerms[0].matchExpressions[0].{message}"
                )]
            );
        }
        assert!(
            messages(&required(vec![expressions(vec![requirement(
                "cores",
                Gt,
                &["8"]
            )])]))
            .is_empty()
        );
        let by_field = NodeSelectorTerm {
            match_expressions: Vec::new(),
            match_fields: vec![
                requirement("metadata.labels", In, &["a"]),
                requirement(FIELD_METADATA_NAME, Exists, &[]),
            ],
        };
        assert_eq!(
            messages(&required(vec![by_field])),
            [
                format!(
                    "{at}.nodeSelectorTerms[0].matchFields[0].key: Invalid value: \"metadata.labels\": not a valid field selector key"
                ),
                format!(
                    "{at}.nodeSelectorTerms[0].matchFields[1].operator: Invalid value: \"Exists\": not a valid selector operator"
                ),
            ]
        );
        let weightless = Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: None,
                preferred_during_scheduling_ignored_during_execution: vec![
                    PreferredSchedulingTerm {
                        weight: 0,
                        preference: expressions(vec![requirement("zone", In, &["a"])]),
                    },
                ],
            }),
            ..Affinity::default()
        };
        assert_eq!(
            messages(&weightless),
            [
                "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100"
            ]
        );
    }

    #[test]
    fn pod_affinity_terms_need_a_topology_key_and_a_weight() {
        let term = PodAffinityTerm {
            label_selector: Some(LabelSelector::default()),
            namespaces: vec!["Prod".into()],
            topology_key: String::new(),
            namespace_selector: None,
        };
        let affinity = Affinity {
            pod_anti_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: vec![term.clone()],
                preferred_during_scheduling_ignored_during_execution: vec![
                    WeightedPodAffinityTerm {
                        weight: 101,
                        pod_affinity_term: PodAffinityTerm {
                            topology_key: "kubernetes.io/hostname".into(),
                            namespaces: Vec::new(),
                            ..term
                        },
                    },
                ],
            }),
            ..Affinity::default()
        };
        let found = messages(&affinity);
        let at = "spec.affinity.podAntiAffinity";
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with(&format!(
            "{at}.requiredDuringSchedulingIgnoredDuringExecution[0].namespaces[0]: "
        )));
        assert_eq!(
            found[1],
            format!(
                "{at}.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty"
            )
        );
        assert_eq!(
            found[2],
            format!(
                "{at}.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100"
            )
        );
    }

    #[test]
    fn spread_constraints_follow_kubernetes_rules() {
        let constraint =
            |skew: i32, key: &str, when: UnsatisfiableConstraintAction, min: Option<i32>| {
                TopologySpreadConstraint {
                    max_skew: skew,
                    topology_key: key.into(),
                    when_unsatisfiable: when,
                    min_domains: min,
                    ..TopologySpreadConstraint::default()
                }
            };
        use UnsatisfiableConstraintAction::*;
        let mut errors = Vec::new();
        validate_spread_constraints(
            &[
                constraint(1, "topology.kubernetes.io/zone", DoNotSchedule, Some(3)),
                constraint(0, "", ScheduleAnyway, Some(2)),
                constraint(2, "topology.kubernetes.io/zone", DoNotSchedule, None),
            ],
            "spec.topologySpreadConstraints",
            &mut errors,
        );
        let found: Vec<String> = errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        assert_eq!(
            found,
            [
                "spec.topologySpreadConstraints[1].maxSkew: Invalid value: 0: must be greater than zero",
                "spec.topologySpreadConstraints[1].topologyKey: Required value: can not be empty",
                "spec.topologySpreadConstraints[1].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway",
                "spec.topologySpreadConstraints[2].{topologyKey, whenUnsatisfiable}: Duplicate value: \"{topology.kubernetes.io/zone, DoNotSchedule}\"",
            ]
        );
    }
}
