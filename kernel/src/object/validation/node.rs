//! Checks for a Node: taint keys and values, and that reported amounts are quantities.

use std::collections::BTreeMap;

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
    validate_amounts(&node.status.capacity, "status.capacity", errors);
    validate_amounts(&node.status.allocatable, "status.allocatable", errors);
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
}
