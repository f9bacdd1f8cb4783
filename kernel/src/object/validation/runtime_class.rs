//! Checks for a RuntimeClass: the handler is a DNS-1123 label, the node selector is a label
//! map, the tolerations are valid ones, and the field flotilla cannot honour yet (`overhead`)
//! is refused by path rather than dropped. That the handler never changes is a rule of update,
//! checked by the API's admission.

use super::labels::validate_label_map;
use super::toleration::validate_tolerations;
use super::{FieldError, report};
use crate::object::names::check_dns1123_label;
use crate::object::runtime_class::RuntimeClass;

pub(super) fn validate_runtime_class(class: &RuntimeClass, errors: &mut Vec<FieldError>) {
    if class.handler.is_empty() {
        report(errors, "handler", "Required value");
    } else if let Err(problem) = check_dns1123_label(&class.handler) {
        report(errors, "handler", problem);
    }
    if class
        .overhead
        .as_ref()
        .is_some_and(|overhead| !overhead.pod_fixed.is_empty())
    {
        report(
            errors,
            "overhead",
            "not supported yet: flotilla does not add a RuntimeClass's overhead to its pods' \
             requests; leave it out and include the overhead in the containers' requests",
        );
    }
    let Some(scheduling) = &class.scheduling else {
        return;
    };
    validate_label_map(&scheduling.node_selector, "scheduling.nodeSelector", errors);
    validate_tolerations(&scheduling.tolerations, "scheduling.tolerations", errors);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::quantity::Quantity;
    use crate::object::runtime_class::{Overhead, Scheduling};
    use crate::object::toleration::Toleration;

    fn check(class: &RuntimeClass) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate_runtime_class(class, &mut errors);
        errors
    }

    fn class(handler: &str) -> RuntimeClass {
        RuntimeClass {
            handler: handler.into(),
            ..RuntimeClass::default()
        }
    }

    #[test]
    fn the_handler_is_a_required_dns_label() {
        assert!(check(&class("runc")).is_empty());
        assert!(check(&class("kata-qemu-2")).is_empty());
        let errors = check(&class(""));
        assert_eq!(
            errors,
            [FieldError {
                path: "handler".into(),
                message: "Required value".into(),
            }]
        );
        for bad in ["Kata", "run.sc", "-runc", &"a".repeat(64)] {
            let errors = check(&class(bad));
            assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
            assert_eq!(errors[0].path, "handler");
            assert!(
                errors[0].message.starts_with(&format!("{bad:?} ")),
                "{}",
                errors[0].message
            );
        }
    }

    #[test]
    fn the_node_selector_is_a_label_map() {
        let mut class = class("runsc");
        class.scheduling = Some(Scheduling {
            node_selector: [
                ("runtime".to_string(), "gvisor".to_string()),
                ("bad key".to_string(), "x".to_string()),
            ]
            .into(),
            ..Scheduling::default()
        });
        let errors = check(&class);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["scheduling.nodeSelector"]);
    }

    #[test]
    fn overhead_is_refused_by_path_and_tolerations_are_checked() {
        let mut class = class("kata");
        class.overhead = Some(Overhead {
            pod_fixed: [("memory".to_string(), Quantity::from("120Mi"))].into(),
        });
        let tolerating = |operator: &str, value: &str| Toleration {
            key: "kata".into(),
            operator: operator.into(),
            value: value.into(),
            ..Toleration::default()
        };
        class.scheduling = Some(Scheduling {
            tolerations: vec![tolerating("Exists", ""), tolerating("Exists", "yes")],
            ..Scheduling::default()
        });
        let errors = check(&class);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["overhead", "scheduling.tolerations[1].operator"]);
        assert!(
            errors[0].message.starts_with("not supported yet: "),
            "{errors:?}"
        );
        // Empty, they ask for nothing.
        class.overhead = Some(Overhead::default());
        class.scheduling = Some(Scheduling::default());
        assert!(check(&class).is_empty());
    }
}
