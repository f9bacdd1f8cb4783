//! Checks for a pod's tolerations, with Kubernetes' rules and messages.

use super::{FieldError, report, unsupported};
use crate::object::names::{check_label_value, check_qualified_name};
use crate::object::node::TaintEffect;
use crate::object::toleration::Toleration;

pub(super) fn validate_tolerations(
    tolerations: &[Toleration],
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for (index, toleration) in tolerations.iter().enumerate() {
        validate_toleration(toleration, &format!("{path}[{index}]"), errors);
    }
}

fn validate_toleration(toleration: &Toleration, at: &str, errors: &mut Vec<FieldError>) {
    if !toleration.key.is_empty()
        && let Err(problem) = check_qualified_name(&toleration.key)
    {
        report(errors, format!("{at}.key"), problem);
    }
    let exists = toleration.operator == Toleration::EXISTS;
    if toleration.key.is_empty() && !exists {
        report(
            errors,
            format!("{at}.operator"),
            format!(
                "Invalid value: {:?}: operator must be Exists when `key` is empty, which means \
                 \"match all values and all keys\"",
                toleration.operator
            ),
        );
    }
    match toleration.operator.as_str() {
        "" | Toleration::EQUAL => {
            if let Err(problem) = check_label_value(&toleration.value) {
                report(errors, format!("{at}.value"), problem);
            }
        }
        Toleration::EXISTS => {
            if !toleration.value.is_empty() {
                report(
                    errors,
                    format!("{at}.operator"),
                    format!(
                        "Invalid value: {:?}: value must be empty when `operator` is 'Exists'",
                        toleration.value
                    ),
                );
            }
        }
        other => report(
            errors,
            format!("{at}.operator"),
            unsupported(other, &Toleration::OPERATORS),
        ),
    }
    if !toleration.effect.is_empty() && !TaintEffect::NAMES.contains(&toleration.effect.as_str()) {
        report(
            errors,
            format!("{at}.effect"),
            unsupported(&toleration.effect, &TaintEffect::NAMES),
        );
    }
    if toleration.toleration_seconds.is_some()
        && toleration.effect != TaintEffect::NoExecute.as_str()
    {
        report(
            errors,
            format!("{at}.effect"),
            format!(
                "Invalid value: {:?}: effect must be 'NoExecute' when `tolerationSeconds` is set",
                toleration.effect
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(toleration: Toleration) -> Vec<String> {
        let mut errors = Vec::new();
        validate_tolerations(&[toleration], "spec.tolerations", &mut errors);
        errors
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
        Toleration {
            key: key.into(),
            operator: operator.into(),
            value: value.into(),
            effect: effect.into(),
            toleration_seconds: None,
        }
    }

    #[test]
    fn the_kubernetes_examples_pass() {
        assert!(problems(toleration("key1", "Equal", "value1", "NoSchedule")).is_empty());
        assert!(problems(toleration("key1", "Exists", "", "NoSchedule")).is_empty());
        assert!(problems(toleration("", "Exists", "", "")).is_empty());
        let mut evicted_late =
            toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute");
        evicted_late.toleration_seconds = Some(6000);
        assert!(problems(evicted_late).is_empty());
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        assert_eq!(
            problems(toleration("", "Equal", "v", "")),
            [
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists \
                 when `key` is empty, which means \"match all values and all keys\""
            ]
        );
        assert_eq!(
            problems(toleration("k", "Exists", "v", "")),
            [
                "spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when \
                 `operator` is 'Exists'"
            ]
        );
        assert_eq!(
            problems(toleration("k", "Maybe", "", "NoRun")),
            [
                "spec.tolerations[0].operator: Unsupported value: \"Maybe\": supported values: \
                 \"Equal\", \"Exists\"",
                "spec.tolerations[0].effect: Unsupported value: \"NoRun\": supported values: \
                 \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
            ]
        );
        let mut seconds = toleration("k", "Exists", "", "NoSchedule");
        seconds.toleration_seconds = Some(30);
        assert_eq!(
            problems(seconds),
            [
                "spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be \
                 'NoExecute' when `tolerationSeconds` is set"
            ]
        );
        let bad_key = problems(toleration("bad key", "Exists", "", ""));
        assert_eq!(bad_key.len(), 1);
        assert!(
            bad_key[0].starts_with("spec.tolerations[0].key: "),
            "{bad_key:?}"
        );
        let bad_value = problems(toleration("k", "Equal", "not a value", ""));
        assert!(
            bad_value[0].starts_with("spec.tolerations[0].value: "),
            "{bad_value:?}"
        );
    }
}
