//! Priority admission, as Kubernetes' Priority admission plug-in: a new pod's
//! `priorityClassName` must name a PriorityClass, whose value becomes the pod's `priority`
//! and whose policy its `preemptionPolicy`; a pod naming none gets the global default class
//! (or priority 0). A pod may not set a priority or policy of its own that differs.

use flotilla_kernel::api::{ApiError, ErrorCode};
use flotilla_kernel::object::{PREEMPT_LOWER_PRIORITY, Pod, PriorityClass};

/// Sets the pod's priority from `named` (the class its `priorityClassName` names, `None` when
/// no class has that name) or, when it names none, from `global_default`.
pub fn admit_priority(
    pod: &mut Pod,
    named: Option<&PriorityClass>,
    global_default: Option<&PriorityClass>,
) -> Result<(), ApiError> {
    let spec = &mut pod.spec;
    let class = if spec.priority_class_name.is_empty() {
        global_default
    } else {
        Some(named.ok_or_else(|| {
            forbidden(
                &pod.metadata.name,
                format!(
                    "no PriorityClass with name {} was found",
                    spec.priority_class_name
                ),
            )
        })?)
    };
    let (priority, policy) = match class {
        Some(class) => (class.value, class.preemption_policy()),
        None => (0, PREEMPT_LOWER_PRIORITY),
    };
    if let Some(given) = spec.priority
        && given != priority
    {
        return Err(forbidden(
            &pod.metadata.name,
            format!(
                "the integer value of priority ({given}) must not be provided in pod spec; \
                 priority admission controller computed {priority} from the given PriorityClass name"
            ),
        ));
    }
    if let Some(given) = &spec.preemption_policy
        && given != policy
    {
        return Err(forbidden(
            &pod.metadata.name,
            format!(
                "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; \
                 priority admission controller computed {policy} from the given PriorityClass name"
            ),
        ));
    }
    if let Some(class) = class {
        spec.priority_class_name = class.metadata.name.clone();
    }
    spec.priority = Some(priority);
    spec.preemption_policy = Some(policy.to_string());
    Ok(())
}

fn forbidden(pod: &str, reason: String) -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        format!("pods {pod:?} is forbidden: {reason}"),
    )
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{ObjectMeta, PREEMPT_NEVER};

    use super::*;

    fn class(name: &str, value: i32, never: bool) -> PriorityClass {
        PriorityClass {
            metadata: ObjectMeta {
                name: name.into(),
                ..ObjectMeta::default()
            },
            value,
            preemption_policy: never.then(|| PREEMPT_NEVER.to_string()),
            ..PriorityClass::default()
        }
    }

    fn pod(class_name: &str) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = "web".into();
        pod.spec.priority_class_name = class_name.into();
        pod
    }

    #[test]
    fn the_class_sets_priority_and_policy() {
        let high = class("high", 1000, false);
        let batch = class("batch", -10, true);
        let mut named = pod("high");
        admit_priority(&mut named, Some(&high), Some(&batch)).unwrap();
        assert_eq!(named.spec.priority, Some(1000));
        assert_eq!(
            named.spec.preemption_policy.as_deref(),
            Some("PreemptLowerPriority")
        );

        let mut unnamed = pod("");
        admit_priority(&mut unnamed, None, Some(&batch)).unwrap();
        assert_eq!(unnamed.spec.priority, Some(-10), "the global default");
        assert_eq!(unnamed.spec.priority_class_name, "batch");
        assert_eq!(unnamed.spec.preemption_policy.as_deref(), Some("Never"));

        let mut plain = pod("");
        admit_priority(&mut plain, None, None).unwrap();
        assert_eq!(plain.spec.priority, Some(0));
        assert_eq!(plain.spec.priority_class_name, "");
    }

    #[test]
    fn unknown_classes_and_conflicting_values_are_refused() {
        let error = admit_priority(&mut pod("gold"), None, None).unwrap_err();
        assert_eq!(error.code, ErrorCode::Forbidden);
        assert_eq!(
            error.message,
            "pods \"web\" is forbidden: no PriorityClass with name gold was found"
        );
        let mut own = pod("high");
        own.spec.priority = Some(5);
        let error = admit_priority(&mut own, Some(&class("high", 1000, false)), None).unwrap_err();
        assert_eq!(
            error.message,
            "pods \"web\" is forbidden: the integer value of priority (5) must not be provided in \
             pod spec; priority admission controller computed 1000 from the given PriorityClass name"
        );
        let mut same = pod("high");
        same.spec.priority = Some(1000);
        assert!(admit_priority(&mut same, Some(&class("high", 1000, false)), None).is_ok());
    }
}
