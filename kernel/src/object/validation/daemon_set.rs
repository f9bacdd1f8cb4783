//! Checks for a DaemonSet's spec: the shared workload rules (selector matching the template,
//! pods that restart `Always`), counts, and the update strategy's bounds, with Kubernetes'
//! messages.

use super::workload::{check_bound, is_zero, validate_counts, validate_selector_and_template};
use super::{FieldError, report};
use crate::object::daemon_set::{DaemonSetSpec, DaemonSetUpdateStrategyType};

pub(super) fn validate_daemon_set_spec(spec: &DaemonSetSpec, errors: &mut Vec<FieldError>) {
    validate_counts(None, spec.min_ready_seconds, errors);
    if let Some(limit) = spec.revision_history_limit
        && limit < 0
    {
        report(
            errors,
            "spec.revisionHistoryLimit",
            format!("must not be negative, got {limit}"),
        );
    }
    validate_selector_and_template(&spec.selector, &spec.template, errors);
    let strategy = &spec.update_strategy;
    let path = "spec.updateStrategy.rollingUpdate";
    match (strategy.type_, &strategy.rolling_update) {
        (DaemonSetUpdateStrategyType::OnDelete, _) => {}
        (DaemonSetUpdateStrategyType::RollingUpdate, None) => report(
            errors,
            path,
            "Required value: a RollingUpdate strategy needs its bounds",
        ),
        (DaemonSetUpdateStrategyType::RollingUpdate, Some(rolling)) => {
            let surge = rolling.max_surge.as_ref();
            let unavailable = rolling.max_unavailable.as_ref();
            let surge_ok = check_bound(surge, &format!("{path}.maxSurge"), Some(100), errors);
            let unavailable_path = format!("{path}.maxUnavailable");
            let unavailable_ok = check_bound(unavailable, &unavailable_path, Some(100), errors);
            if surge_ok && unavailable_ok && is_zero(surge) && is_zero(unavailable) {
                report(
                    errors,
                    unavailable_path,
                    "cannot be 0 when maxSurge is 0: the update could never progress",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::daemon_set::RollingUpdateDaemonSet;
    use crate::object::intstr::IntOrString;
    use crate::object::labels::LabelSelector;
    use crate::object::pod_spec::{Container, RestartPolicy};

    fn daemon_set() -> DaemonSetSpec {
        let mut spec = DaemonSetSpec {
            selector: LabelSelector {
                match_labels: [("app".to_string(), "agent".to_string())].into(),
                ..LabelSelector::default()
            },
            ..DaemonSetSpec::default()
        };
        spec.template.metadata.labels = [("app".to_string(), "agent".to_string())].into();
        spec.template.spec.containers.push(Container {
            name: "agent".into(),
            image: "agent:1".into(),
            ..Container::default()
        });
        spec.update_strategy.rolling_update = Some(RollingUpdateDaemonSet {
            max_unavailable: Some(IntOrString::Int(1)),
            max_surge: Some(IntOrString::Int(0)),
        });
        spec
    }

    fn check(spec: &DaemonSetSpec) -> Vec<String> {
        let mut errors = Vec::new();
        validate_daemon_set_spec(spec, &mut errors);
        errors.into_iter().map(|e| e.path).collect()
    }

    fn bounds(unavailable: IntOrString, surge: IntOrString) -> Option<RollingUpdateDaemonSet> {
        Some(RollingUpdateDaemonSet {
            max_unavailable: Some(unavailable),
            max_surge: Some(surge),
        })
    }

    #[test]
    fn the_documented_daemon_set_passes() {
        assert!(check(&daemon_set()).is_empty());
    }

    #[test]
    fn selector_template_and_restart_policy_are_checked() {
        type Change = fn(&mut DaemonSetSpec);
        let cases: [(&str, Change, &[&str]); 4] = [
            (
                "no selector",
                |s| s.selector = LabelSelector::default(),
                &["spec.selector"],
            ),
            (
                "labels not selected",
                |s| {
                    s.template.metadata.labels = [("app".to_string(), "other".to_string())].into();
                },
                &["spec.template.metadata.labels"],
            ),
            (
                "pods that do not restart",
                |s| s.template.spec.restart_policy = RestartPolicy::OnFailure,
                &["spec.template.spec.restartPolicy"],
            ),
            (
                "negative counts",
                |s| {
                    s.min_ready_seconds = -1;
                    s.revision_history_limit = Some(-1);
                },
                &["spec.minReadySeconds", "spec.revisionHistoryLimit"],
            ),
        ];
        for (case, change, expected) in cases {
            let mut spec = daemon_set();
            change(&mut spec);
            assert_eq!(check(&spec), expected, "{case}");
        }
    }

    #[test]
    fn update_bounds_follow_kubernetes() {
        let int = IntOrString::Int;
        let text = |t: &str| IntOrString::String(t.into());
        let cases = [
            (
                bounds(int(0), int(0)),
                vec!["spec.updateStrategy.rollingUpdate.maxUnavailable"],
            ),
            (
                bounds(text("0%"), int(0)),
                vec!["spec.updateStrategy.rollingUpdate.maxUnavailable"],
            ),
            (bounds(int(0), int(1)), vec![]),
            (bounds(text("10%"), text("0%")), vec![]),
            (
                bounds(int(-1), text("150%")),
                vec![
                    "spec.updateStrategy.rollingUpdate.maxSurge",
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                ],
            ),
            (None, vec!["spec.updateStrategy.rollingUpdate"]),
        ];
        for (rolling, expected) in cases {
            let mut spec = daemon_set();
            spec.update_strategy.rolling_update = rolling.clone();
            assert_eq!(check(&spec), expected, "{rolling:?}");
        }
        let mut on_delete = daemon_set();
        on_delete.update_strategy.type_ = DaemonSetUpdateStrategyType::OnDelete;
        on_delete.update_strategy.rolling_update = None;
        assert!(check(&on_delete).is_empty());
    }
}
