//! Checks for a pod spec, used for pods and for the templates of workloads: containers, their
//! images, environment and resources.

use std::collections::{BTreeMap, HashSet};

use super::labels::validate_label_map;
use super::{FieldError, report};
use crate::object::names::{check_dns1123_label, check_dns1123_subdomain, check_env_var_name};
use crate::object::pod_spec::{Container, KNOWN_RESOURCES, PodSpec};
use crate::object::quantity::{ParsedQuantity, Quantity};

/// Validates `spec`, whose JSON path is `path` (`spec` or `spec.template.spec`).
pub(super) fn validate_pod_spec(spec: &PodSpec, path: &str, errors: &mut Vec<FieldError>) {
    if spec.containers.is_empty() {
        report(
            errors,
            format!("{path}.containers"),
            "at least one container is required",
        );
    }
    let mut names = HashSet::new();
    for (index, container) in spec.containers.iter().enumerate() {
        let at = format!("{path}.containers[{index}]");
        if !container.name.is_empty() && !names.insert(container.name.as_str()) {
            report(
                errors,
                format!("{at}.name"),
                format!("duplicate container name {:?}", container.name),
            );
        }
        validate_container(container, &at, errors);
    }
    if let Some(seconds) = spec.termination_grace_period_seconds
        && seconds < 0
    {
        report(
            errors,
            format!("{path}.terminationGracePeriodSeconds"),
            format!("must not be negative, got {seconds}"),
        );
    }
    validate_label_map(&spec.node_selector, &format!("{path}.nodeSelector"), errors);
    if !spec.hostname.is_empty()
        && let Err(problem) = check_dns1123_label(&spec.hostname)
    {
        report(errors, format!("{path}.hostname"), problem);
    }
    if !spec.node_name.is_empty()
        && let Err(problem) = check_dns1123_subdomain(&spec.node_name)
    {
        report(errors, format!("{path}.nodeName"), problem);
    }
}

fn validate_container(container: &Container, at: &str, errors: &mut Vec<FieldError>) {
    if container.name.is_empty() {
        report(errors, format!("{at}.name"), "required");
    } else if let Err(problem) = check_dns1123_label(&container.name) {
        report(errors, format!("{at}.name"), problem);
    }
    if container.image.is_empty() {
        report(errors, format!("{at}.image"), "required");
    } else if container.image == Container::HOST_IMAGE && container.command.is_empty() {
        report(
            errors,
            format!("{at}.command"),
            format!(
                "required when image is {:?}: the host has no image entrypoint",
                Container::HOST_IMAGE
            ),
        );
    }
    for (index, variable) in container.env.iter().enumerate() {
        if let Err(problem) = check_env_var_name(&variable.name) {
            report(errors, format!("{at}.env[{index}].name"), problem);
        }
    }
    let resources = &container.resources;
    let limits = parse_amounts(&resources.limits, &format!("{at}.resources.limits"), errors);
    let requests = parse_amounts(
        &resources.requests,
        &format!("{at}.resources.requests"),
        errors,
    );
    for (resource, limit) in &limits {
        let Some(request) = requests.get(resource) else {
            continue;
        };
        match (limit.milli_value(), request.milli_value()) {
            (Ok(limit_milli), Ok(request_milli)) if limit_milli < request_milli => report(
                errors,
                format!("{at}.resources.limits.{resource}"),
                format!(
                    "limit {} is below the request {}",
                    resources.limits[*resource], resources.requests[*resource]
                ),
            ),
            (Err(problem), _) => report(
                errors,
                format!("{at}.resources.limits.{resource}"),
                problem.to_string(),
            ),
            (_, Err(problem)) => report(
                errors,
                format!("{at}.resources.requests.{resource}"),
                problem.to_string(),
            ),
            _ => {}
        }
    }
}

/// Parses each amount of a requests or limits map, reporting unknown resource names,
/// malformed and negative quantities; returns the ones that parsed.
fn parse_amounts<'a>(
    amounts: &'a BTreeMap<String, Quantity>,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<&'a str, ParsedQuantity> {
    let mut parsed = BTreeMap::new();
    for (resource, quantity) in amounts {
        let at = format!("{path}.{resource}");
        if !KNOWN_RESOURCES.contains(&resource.as_str()) {
            report(
                errors,
                at,
                format!(
                    "unknown resource {resource:?}; supported: {}",
                    KNOWN_RESOURCES.join(", ")
                ),
            );
            continue;
        }
        match Quantity::parse(&quantity.0) {
            Ok(amount) if amount.is_negative() => {
                report(errors, at, format!("{quantity} must not be negative"))
            }
            Ok(amount) => {
                parsed.insert(resource.as_str(), amount);
            }
            Err(problem) => report(errors, at, problem.to_string()),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::pod_spec::EnvVar;

    fn container(name: &str) -> Container {
        Container {
            name: name.into(),
            image: "app:1".into(),
            ..Container::default()
        }
    }

    fn check(spec: &PodSpec) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate_pod_spec(spec, "spec", &mut errors);
        errors
    }

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    fn spec(containers: Vec<Container>) -> PodSpec {
        PodSpec {
            containers,
            ..PodSpec::default()
        }
    }

    #[test]
    fn needs_containers() {
        assert_eq!(paths(&check(&spec(vec![]))), ["spec.containers"]);
        assert!(check(&spec(vec![container("a"), container("b")])).is_empty());
    }

    #[test]
    fn container_names_are_unique_dns_labels() {
        let errors = check(&spec(vec![
            container("a"),
            container("a"),
            container("B_1"),
            container(""),
        ]));
        assert_eq!(
            paths(&errors),
            [
                "spec.containers[1].name",
                "spec.containers[2].name",
                "spec.containers[3].name",
            ]
        );
        assert!(errors[0].message.contains("duplicate"));
        assert_eq!(errors[2].message, "required");
    }

    #[test]
    fn images_and_host_commands() {
        let mut no_image = container("a");
        no_image.image.clear();
        let mut host = container("b");
        host.image = Container::HOST_IMAGE.into();
        let mut host_with_command = container("c");
        host_with_command.image = Container::HOST_IMAGE.into();
        host_with_command.command = vec!["/bin/true".into()];
        assert_eq!(
            paths(&check(&spec(vec![no_image, host, host_with_command]))),
            ["spec.containers[0].image", "spec.containers[1].command"]
        );
    }

    #[test]
    fn env_names() {
        let mut with_env = container("a");
        with_env.env = vec![
            EnvVar {
                name: "GOOD_1".into(),
                value: "x".into(),
            },
            EnvVar {
                name: "1BAD".into(),
                value: String::new(),
            },
        ];
        assert_eq!(
            paths(&check(&spec(vec![with_env]))),
            ["spec.containers[0].env[1].name"]
        );
    }

    #[test]
    fn resources_parse_are_known_and_limits_cover_requests() {
        let mut c = container("a");
        let limits = &mut c.resources.limits;
        limits.insert("memory".into(), Quantity::from("64Mi"));
        limits.insert("cpu".into(), Quantity::from("1"));
        limits.insert("gpu".into(), Quantity::from("1"));
        limits.insert("pids".into(), Quantity::from("100"));
        let requests = &mut c.resources.requests;
        requests.insert("memory".into(), Quantity::from("128Mi"));
        requests.insert("cpu".into(), Quantity::from("500m"));
        requests.insert("ephemeral-storage".into(), Quantity::from("12Qi"));
        let errors = check(&spec(vec![c]));
        assert_eq!(
            paths(&errors),
            [
                "spec.containers[0].resources.limits.gpu",
                "spec.containers[0].resources.requests.ephemeral-storage",
                "spec.containers[0].resources.limits.memory",
            ]
        );
        assert_eq!(errors[2].message, "limit 64Mi is below the request 128Mi");
    }

    #[test]
    fn negative_amounts_and_other_fields() {
        let mut c = container("a");
        c.resources
            .requests
            .insert("cpu".into(), Quantity::from("-1"));
        let mut bad = spec(vec![c]);
        bad.termination_grace_period_seconds = Some(-1);
        bad.hostname = "Not_A_Host".into();
        bad.node_name = "node..1".into();
        bad.node_selector.insert("disk".into(), "fast ssd".into());
        assert_eq!(
            paths(&check(&bad)),
            [
                "spec.containers[0].resources.requests.cpu",
                "spec.terminationGracePeriodSeconds",
                "spec.nodeSelector.disk",
                "spec.hostname",
                "spec.nodeName",
            ]
        );
    }
}
