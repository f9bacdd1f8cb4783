//! Checks for a Node: taint keys and values, and that reported amounts are quantities.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::{FieldError, report};
use crate::object::names::{check_label_value, check_qualified_name};
use crate::object::node::Node;
use crate::object::quantity::Quantity;

pub(super) fn validate_node(node: &Node, errors: &mut Vec<FieldError>) {
    for (index, taint) in node.spec.taints.iter().enumerate() {
        let at = format!("spec.taints[{index}]");
        if let Err(problem) = check_qualified_name(&taint.key) {
            report(errors, format!("{at}.key"), problem);
        }
        if let Err(problem) = check_label_value(&taint.value) {
            report(errors, format!("{at}.value"), problem);
        }
    }
    validate_pod_cidrs(node, errors);
    validate_amounts(&node.status.capacity, "status.capacity", errors);
    validate_amounts(&node.status.allocatable, "status.allocatable", errors);
}

/// The pod ranges, when set, are networks (`10.42.1.0/24`) and agree with each other.
fn validate_pod_cidrs(node: &Node, errors: &mut Vec<FieldError>) {
    let spec = &node.spec;
    if !spec.pod_cidr.is_empty() && spec.pod_cidr.parse::<IpNet>().is_err() {
        report(
            errors,
            "spec.podCIDR",
            format!("Invalid value: {:?}: must be a valid CIDR", spec.pod_cidr),
        );
    }
    for (index, cidr) in spec.pod_cidrs.iter().enumerate() {
        if cidr.parse::<IpNet>().is_err() {
            report(
                errors,
                format!("spec.podCIDRs[{index}]"),
                format!("Invalid value: {cidr:?}: must be a valid CIDR"),
            );
        }
    }
    if let Some(first) = spec.pod_cidrs.first()
        && *first != spec.pod_cidr
    {
        report(
            errors,
            "spec.podCIDRs[0]",
            format!("Invalid value: {first:?}: must match spec.podCIDR"),
        );
    }
}

fn validate_amounts(
    amounts: &BTreeMap<String, Quantity>,
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (resource, quantity) in amounts {
        if let Err(problem) = Quantity::parse(&quantity.0) {
            report(errors, format!("{path}.{resource}"), problem.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::node::{Taint, TaintEffect};

    #[test]
    fn taints_and_amounts() {
        let mut node = Node::default();
        node.spec.taints.push(Taint {
            key: "dedicated".into(),
            value: "db".into(),
            effect: TaintEffect::NoSchedule,
        });
        node.spec.taints.push(Taint {
            key: "bad key".into(),
            value: "bad value".into(),
            effect: TaintEffect::NoExecute,
        });
        node.status
            .capacity
            .insert("cpu".into(), Quantity::from("4"));
        node.status
            .allocatable
            .insert("memory".into(), Quantity::from("lots"));
        let mut errors = Vec::new();
        validate_node(&node, &mut errors);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.taints[1].key",
                "spec.taints[1].value",
                "status.allocatable.memory",
            ]
        );
    }

    #[test]
    fn pod_cidrs_are_networks_that_agree() {
        let mut node = Node::default();
        node.spec.pod_cidr = "10.42.1.0/24".into();
        node.spec.pod_cidrs = vec!["10.42.1.0/24".into()];
        let mut errors = Vec::new();
        validate_node(&node, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");

        node.spec.pod_cidr = "10.42.1.0".into();
        node.spec.pod_cidrs = vec!["10.42.2.0/24".into(), "nonsense".into()];
        validate_node(&node, &mut errors);
        let found: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect();
        assert_eq!(
            found,
            [
                "spec.podCIDR: Invalid value: \"10.42.1.0\": must be a valid CIDR",
                "spec.podCIDRs[1]: Invalid value: \"nonsense\": must be a valid CIDR",
                "spec.podCIDRs[0]: Invalid value: \"10.42.2.0/24\": must match spec.podCIDR",
            ]
        );
    }
}
