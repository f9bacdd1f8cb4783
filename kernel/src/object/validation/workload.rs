//! Checks for the controllers' specs (ReplicaSet, Deployment): counts, selector versus
//! template, and the rolling-update bounds.

use super::labels::{validate_label_map, validate_selector};
use super::pod::validate_pod_spec;
use super::{FieldError, report};
use crate::object::deployment::{DeploymentSpec, StrategyType};
use crate::object::intstr::IntOrString;
use crate::object::labels::LabelSelector;
use crate::object::pod::PodTemplateSpec;
use crate::object::pod_spec::RestartPolicy;
use crate::object::replica_set::ReplicaSetSpec;

pub(super) fn validate_replica_set_spec(spec: &ReplicaSetSpec, errors: &mut Vec<FieldError>) {
    validate_counts(spec.replicas, spec.min_ready_seconds, errors);
    validate_selector_and_template(&spec.selector, &spec.template, errors);
}

pub(super) fn validate_deployment_spec(spec: &DeploymentSpec, errors: &mut Vec<FieldError>) {
    validate_counts(spec.replicas, spec.min_ready_seconds, errors);
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
    let strategy = &spec.strategy;
    match (strategy.type_, &strategy.rolling_update) {
        (StrategyType::Recreate, Some(_)) => report(
            errors,
            "spec.strategy.rollingUpdate",
            "must not be set when the strategy type is Recreate",
        ),
        (StrategyType::RollingUpdate, Some(rolling)) => {
            let surge = rolling.max_surge.as_ref();
            let unavailable = rolling.max_unavailable.as_ref();
            let path = "spec.strategy.rollingUpdate";
            let surge_ok = check_bound(surge, &format!("{path}.maxSurge"), None, errors);
            let unavailable_ok = check_bound(
                unavailable,
                &format!("{path}.maxUnavailable"),
                Some(100),
                errors,
            );
            if surge_ok && unavailable_ok && is_zero(surge) && is_zero(unavailable) {
                report(
                    errors,
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    "must not be 0 when maxSurge is 0: the rollout could never progress",
                );
            }
        }
        _ => {}
    }
}

pub(super) fn validate_counts(
    replicas: Option<i32>,
    min_ready_seconds: i32,
    errors: &mut Vec<FieldError>,
) {
    if let Some(replicas) = replicas
        && replicas < 0
    {
        report(
            errors,
            "spec.replicas",
            format!("must not be negative, got {replicas}"),
        );
    }
    if min_ready_seconds < 0 {
        report(
            errors,
            "spec.minReadySeconds",
            format!("must not be negative, got {min_ready_seconds}"),
        );
    }
}

/// The selector must be usable and select the template's own pods (otherwise the controller
/// would create pods forever); template pods must restart, since a controller replaces them.
pub(super) fn validate_selector_and_template(
    selector: &LabelSelector,
    template: &PodTemplateSpec,
    errors: &mut Vec<FieldError>,
) {
    validate_selector(selector, "spec.selector", errors);
    let labels = &template.metadata.labels;
    validate_label_map(labels, "spec.template.metadata.labels", errors);
    if !selector.is_empty() && !selector.matches(labels) {
        report(
            errors,
            "spec.template.metadata.labels",
            "do not match spec.selector: the controller would not recognise its own pods",
        );
    }
    if template.spec.restart_policy != RestartPolicy::Always {
        report(
            errors,
            "spec.template.spec.restartPolicy",
            format!(
                "must be Always for pods a controller manages, got {:?}",
                template.spec.restart_policy
            ),
        );
    }
    validate_pod_spec(&template.spec, "spec.template.spec", errors);
}

/// A count of at least 0 or a percentage from 0% to `max_percent`%, at `path`; returns
/// whether it is valid.
pub(super) fn check_bound(
    bound: Option<&IntOrString>,
    path: &str,
    max_percent: Option<i64>,
    errors: &mut Vec<FieldError>,
) -> bool {
    let problem = match bound {
        None => None,
        Some(IntOrString::Int(count)) if *count < 0 => {
            Some(format!("must not be negative, got {count}"))
        }
        Some(IntOrString::Int(_)) => None,
        Some(IntOrString::String(text)) => match parse_percent(text) {
            None => Some(format!(
                "{text:?} must be a count or a percentage such as \"25%\""
            )),
            Some(percent) if percent < 0 => Some(format!("{text:?} must not be negative")),
            Some(percent) if max_percent.is_some_and(|max| percent > max) => {
                Some(format!("{text:?} must not exceed 100%"))
            }
            Some(_) => None,
        },
    };
    match problem {
        Some(problem) => {
            report(errors, path, problem);
            false
        }
        None => true,
    }
}

fn parse_percent(text: &str) -> Option<i64> {
    text.strip_suffix('%')?.parse().ok()
}

/// Whether an explicit bound is zero; an unset bound is defaulted to a non-zero one.
pub(super) fn is_zero(bound: Option<&IntOrString>) -> bool {
    match bound {
        Some(IntOrString::Int(count)) => *count == 0,
        Some(IntOrString::String(text)) => parse_percent(text) == Some(0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::object::deployment::{DeploymentStrategy, RollingUpdateDeployment};
    use crate::object::pod_spec::Container;

    fn template(labels: &[(&str, &str)]) -> PodTemplateSpec {
        let mut template = PodTemplateSpec::default();
        template.metadata.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        template.spec.containers.push(Container {
            name: "app".into(),
            image: "app:1".into(),
            ..Container::default()
        });
        template
    }

    fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..LabelSelector::default()
        }
    }

    fn deployment() -> DeploymentSpec {
        DeploymentSpec {
            replicas: Some(3),
            selector: selector(&[("app", "web")]),
            template: template(&[("app", "web"), ("tier", "front")]),
            ..DeploymentSpec::default()
        }
    }

    fn check(spec: &DeploymentSpec) -> Vec<String> {
        let mut errors = Vec::new();
        validate_deployment_spec(spec, &mut errors);
        errors.into_iter().map(|e| e.path).collect()
    }

    fn rolling(surge: IntOrString, unavailable: IntOrString) -> DeploymentStrategy {
        DeploymentStrategy {
            type_: StrategyType::RollingUpdate,
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            }),
        }
    }

    #[test]
    fn a_valid_deployment_passes() {
        assert!(check(&deployment()).is_empty());
    }

    #[test]
    fn counts_must_not_be_negative() {
        let mut spec = deployment();
        spec.replicas = Some(-1);
        spec.min_ready_seconds = -5;
        spec.revision_history_limit = Some(-1);
        assert_eq!(
            check(&spec),
            [
                "spec.replicas",
                "spec.minReadySeconds",
                "spec.revisionHistoryLimit"
            ]
        );
    }

    #[test]
    fn selector_must_exist_and_match_the_template() {
        let mut spec = deployment();
        spec.selector = LabelSelector::default();
        assert_eq!(check(&spec), ["spec.selector"]);
        spec.selector = selector(&[("app", "db")]);
        assert_eq!(check(&spec), ["spec.template.metadata.labels"]);
    }

    #[test]
    fn template_pods_must_restart_always_and_be_valid() {
        let mut spec = deployment();
        spec.template.spec.restart_policy = RestartPolicy::OnFailure;
        spec.template.spec.containers[0].image.clear();
        assert_eq!(
            check(&spec),
            [
                "spec.template.spec.restartPolicy",
                "spec.template.spec.containers[0].image",
            ]
        );
    }

    #[test]
    fn rolling_update_bounds() {
        let mut spec = deployment();
        spec.strategy = rolling(IntOrString::Int(0), IntOrString::String("0%".into()));
        assert_eq!(check(&spec), ["spec.strategy.rollingUpdate.maxUnavailable"]);
        spec.strategy = rolling(IntOrString::Int(0), IntOrString::Int(1));
        assert!(check(&spec).is_empty());
        spec.strategy = rolling(IntOrString::Int(-1), IntOrString::String("150%".into()));
        assert_eq!(
            check(&spec),
            [
                "spec.strategy.rollingUpdate.maxSurge",
                "spec.strategy.rollingUpdate.maxUnavailable",
            ]
        );
        spec.strategy = rolling(IntOrString::String("lots".into()), IntOrString::Int(1));
        assert_eq!(check(&spec), ["spec.strategy.rollingUpdate.maxSurge"]);
        spec.strategy = rolling(IntOrString::String("200%".into()), IntOrString::Int(1));
        assert!(check(&spec).is_empty());
    }

    #[test]
    fn recreate_takes_no_rolling_update() {
        let mut spec = deployment();
        spec.strategy = rolling(IntOrString::Int(1), IntOrString::Int(1));
        spec.strategy.type_ = StrategyType::Recreate;
        assert_eq!(check(&spec), ["spec.strategy.rollingUpdate"]);
    }

    #[test]
    fn replica_sets_share_the_rules() {
        let spec = ReplicaSetSpec {
            replicas: Some(-2),
            min_ready_seconds: 0,
            selector: selector(&[("app", "web")]),
            template: template(&[("app", "other")]),
        };
        let mut errors = Vec::new();
        validate_replica_set_spec(&spec, &mut errors);
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["spec.replicas", "spec.template.metadata.labels"]);
    }
}
