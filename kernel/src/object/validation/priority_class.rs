//! Checks for a `PriorityClass`, with Kubernetes' rules and messages: user classes stay at or
//! below 1,000,000,000 and the `system-` prefix belongs to the built-in classes.

use super::{FieldError, report, unsupported};
use crate::object::priority_class::{
    HIGHEST_USER_PRIORITY, PREEMPT_LOWER_PRIORITY, PREEMPT_NEVER, PriorityClass, SYSTEM_PREFIX,
};

pub(super) fn validate_priority_class(class: &PriorityClass, errors: &mut Vec<FieldError>) {
    let built_in = PriorityClass::built_in()
        .into_iter()
        .find(|b| b.metadata.name == class.metadata.name);
    match built_in {
        Some(system) if system.value != class.value => report(
            errors,
            "value",
            format!(
                "Forbidden: value of {} priority class must be {}",
                system.metadata.name, system.value
            ),
        ),
        Some(_) => {}
        None if class.metadata.name.starts_with(SYSTEM_PREFIX) => report(
            errors,
            "metadata.name",
            "Forbidden: priority class names with 'system-' prefix are reserved for system use only",
        ),
        None if class.value > HIGHEST_USER_PRIORITY => report(
            errors,
            "value",
            format!(
                "Forbidden: maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"
            ),
        ),
        None => {}
    }
    if let Some(policy) = &class.preemption_policy
        && ![PREEMPT_LOWER_PRIORITY, PREEMPT_NEVER].contains(&policy.as_str())
    {
        report(
            errors,
            "preemptionPolicy",
            unsupported(policy, &[PREEMPT_LOWER_PRIORITY, PREEMPT_NEVER]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::meta::ObjectMeta;

    fn class(name: &str, value: i32, policy: Option<&str>) -> PriorityClass {
        PriorityClass {
            metadata: ObjectMeta {
                name: name.into(),
                ..ObjectMeta::default()
            },
            value,
            preemption_policy: policy.map(str::to_string),
            ..PriorityClass::default()
        }
    }

    #[test]
    fn user_classes_stay_below_the_system_ones() {
        let table = [
            (class("high", 1_000_000, None), vec![]),
            (class("low", -5, Some("Never")), vec![]),
            (
                class("system-cluster-critical", 2_000_000_000, None),
                vec![],
            ),
            (
                class("huge", 1_000_000_001, None),
                vec![
                    "value: Forbidden: maximum allowed value of a user defined priority is 1000000000",
                ],
            ),
            (
                class("system-mine", 5, None),
                vec![
                    "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only",
                ],
            ),
            (
                class("system-node-critical", 5, None),
                vec![
                    "value: Forbidden: value of system-node-critical priority class must be 2000001000",
                ],
            ),
            (
                class("odd", 1, Some("Sometimes")),
                vec![
                    "preemptionPolicy: Unsupported value: \"Sometimes\": supported values: \"PreemptLowerPriority\", \"Never\"",
                ],
            ),
        ];
        for (class, expected) in table {
            let mut errors = Vec::new();
            validate_priority_class(&class, &mut errors);
            let found: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect();
            assert_eq!(found, expected, "{}", class.metadata.name);
        }
    }
}
