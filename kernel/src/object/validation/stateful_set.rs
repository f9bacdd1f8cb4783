//! Checks for a StatefulSet's spec: the shared workload rules (selector matching the template,
//! pods that restart `Always`), counts, the update strategy, the Service name, and
//! `volumeClaimTemplates`, which are refused until PersistentVolumeClaims are served.

use super::workload::{validate_counts, validate_selector_and_template};
use super::{FieldError, report};
use crate::object::daemon_set::DaemonSetUpdateStrategyType;
use crate::object::names::check_dns1123_label;
use crate::object::stateful_set::StatefulSetSpec;

pub(super) fn validate_stateful_set_spec(spec: &StatefulSetSpec, errors: &mut Vec<FieldError>) {
    validate_counts(spec.replicas, spec.min_ready_seconds, errors);
    let negative = [
        ("spec.revisionHistoryLimit", spec.revision_history_limit),
        (
            "spec.ordinals.start",
            spec.ordinals.as_ref().map(|o| o.start),
        ),
    ];
    for (path, value) in negative {
        if let Some(value) = value.filter(|v| *v < 0) {
            report(errors, path, format!("must not be negative, got {value}"));
        }
    }
    validate_selector_and_template(&spec.selector, &spec.template, errors);
    if !spec.service_name.is_empty()
        && let Err(problem) = check_dns1123_label(&spec.service_name)
    {
        report(errors, "spec.serviceName", problem);
    }
    if !spec.volume_claim_templates.is_empty() {
        report(
            errors,
            "spec.volumeClaimTemplates",
            "Forbidden: PersistentVolumeClaims are not served yet, so pods cannot get claims; \
             use emptyDir or hostPath volumes",
        );
    }
    let strategy = &spec.update_strategy;
    match (strategy.type_, &strategy.rolling_update) {
        (DaemonSetUpdateStrategyType::OnDelete, Some(_)) => report(
            errors,
            "spec.updateStrategy.rollingUpdate",
            "only allowed for updateStrategy 'RollingUpdate'",
        ),
        (DaemonSetUpdateStrategyType::RollingUpdate, Some(rolling)) => {
            if let Some(partition) = rolling.partition.filter(|p| *p < 0) {
                report(
                    errors,
                    "spec.updateStrategy.rollingUpdate.partition",
                    format!("must not be negative, got {partition}"),
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::labels::LabelSelector;
    use crate::object::pod_spec::Container;
    use crate::object::stateful_set::{RollingUpdateStatefulSetStrategy, StatefulSetOrdinals};

    fn web() -> StatefulSetSpec {
        let mut spec = StatefulSetSpec {
            replicas: Some(3),
            service_name: "nginx".into(),
            selector: LabelSelector {
                match_labels: [("app".to_string(), "nginx".to_string())].into(),
                ..LabelSelector::default()
            },
            ..StatefulSetSpec::default()
        };
        spec.template.metadata.labels = [("app".to_string(), "nginx".to_string())].into();
        spec.template.spec.containers.push(Container {
            name: "nginx".into(),
            image: "nginx:1".into(),
            ..Container::default()
        });
        spec
    }

    fn check(spec: &StatefulSetSpec) -> Vec<String> {
        let mut errors = Vec::new();
        validate_stateful_set_spec(spec, &mut errors);
        errors.into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn the_documented_stateful_set_passes() {
        assert!(check(&web()).is_empty());
    }

    #[test]
    fn bad_fields_are_refused_with_their_paths() {
        type Change = fn(&mut StatefulSetSpec);
        let cases: [(&str, Change, &[&str]); 7] = [
            (
                "negative counts",
                |s| {
                    s.replicas = Some(-1);
                    s.revision_history_limit = Some(-1);
                    s.ordinals = Some(StatefulSetOrdinals { start: -2 });
                },
                &[
                    "spec.replicas",
                    "spec.revisionHistoryLimit",
                    "spec.ordinals.start",
                ],
            ),
            (
                "labels not selected",
                |s| s.selector.match_labels = [("app".into(), "db".into())].into(),
                &["spec.template.metadata.labels"],
            ),
            (
                "a service name that is no DNS label",
                |s| s.service_name = "Not_A_Label".into(),
                &["spec.serviceName"],
            ),
            (
                "claims are not served yet",
                |s| {
                    s.volume_claim_templates =
                        vec![serde_json::json!({"metadata": {"name": "www"}})]
                },
                &["spec.volumeClaimTemplates"],
            ),
            (
                "a negative partition",
                |s| {
                    s.update_strategy.rolling_update = Some(RollingUpdateStatefulSetStrategy {
                        partition: Some(-1),
                    });
                },
                &["spec.updateStrategy.rollingUpdate.partition"],
            ),
            (
                "rollingUpdate with OnDelete",
                |s| {
                    s.update_strategy.type_ = DaemonSetUpdateStrategyType::OnDelete;
                    s.update_strategy.rolling_update =
                        Some(RollingUpdateStatefulSetStrategy::default());
                },
                &["spec.updateStrategy.rollingUpdate"],
            ),
            ("no service name is fine", |s| s.service_name.clear(), &[]),
        ];
        for (case, change, expected) in cases {
            let mut spec = web();
            change(&mut spec);
            assert_eq!(check(&spec), expected, "{case}");
        }
    }
}
