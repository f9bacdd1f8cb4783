//! Checks for a pod spec, used for pods and for the templates of workloads: containers, their
//! images, environment and resources.

use std::collections::{BTreeMap, HashSet};

use super::labels::validate_label_map;
use super::{FieldError, report};
use crate::object::names::{check_dns1123_label, check_dns1123_subdomain, check_env_var_name};
use crate::object::pod_spec::{Container, ContainerPort, KNOWN_RESOURCES, PodSpec};
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
    let mut port_names = HashSet::new();
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
        for (p, port) in container.ports.iter().enumerate() {
            let at = format!("{at}.ports[{p}]");
            validate_port(port, &at, errors);
            if !port.name.is_empty() && !port_names.insert(port.name.as_str()) {
                report(
                    errors,
                    format!("{at}.name"),
                    format!(
                        "Duplicate value: {:?}: port names must be unique in a pod",
                        port.name
                    ),
                );
            }
        }
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
    if !container.image_pull_policy.is_empty()
        && !Container::PULL_POLICIES.contains(&container.image_pull_policy.as_str())
    {
        report(
            errors,
            format!("{at}.imagePullPolicy"),
            unsupported(&container.image_pull_policy, &Container::PULL_POLICIES),
        );
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
        let at = format!("{at}.env[{index}]");
        if let Err(problem) = check_env_var_name(&variable.name) {
            report(errors, format!("{at}.name"), problem);
        }
        if let Some(source) = &variable.value_from {
            if !variable.value.is_empty() {
                report(
                    errors,
                    format!("{at}.valueFrom"),
                    "may not be set together with value",
                );
            }
            let refs = [
                ("configMapKeyRef", &source.config_map_key_ref),
                ("secretKeyRef", &source.secret_key_ref),
            ];
            if let Some((field, selector)) = one_ref(&refs, &format!("{at}.valueFrom"), errors) {
                if selector.key.is_empty() {
                    report(errors, format!("{field}.key"), "required");
                }
                check_ref_name(&selector.name, &field, errors);
            }
        }
    }
    for (index, source) in container.env_from.iter().enumerate() {
        let at = format!("{at}.envFrom[{index}]");
        if !source.prefix.is_empty()
            && let Err(problem) = check_env_var_name(&source.prefix)
        {
            report(errors, format!("{at}.prefix"), problem);
        }
        let refs = [
            ("configMapRef", &source.config_map_ref),
            ("secretRef", &source.secret_ref),
        ];
        if let Some((field, selector)) = one_ref(&refs, &at, errors) {
            check_ref_name(&selector.name, &field, errors);
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

fn validate_port(port: &ContainerPort, at: &str, errors: &mut Vec<FieldError>) {
    if !(1..=65535).contains(&port.container_port) {
        report(
            errors,
            format!("{at}.containerPort"),
            format!(
                "Invalid value: {}: must be between 1 and 65535, inclusive",
                port.container_port
            ),
        );
    }
    if !port.protocol.is_empty() && !ContainerPort::PROTOCOLS.contains(&port.protocol.as_str()) {
        report(
            errors,
            format!("{at}.protocol"),
            unsupported(&port.protocol, &ContainerPort::PROTOCOLS),
        );
    }
    if !port.name.is_empty()
        && let Err(problem) = check_port_name(&port.name)
    {
        report(errors, format!("{at}.name"), problem);
    }
    if port.host_port != 0 || !port.host_ip.is_empty() {
        report(
            errors,
            format!("{at}.hostPort"),
            "not supported yet: pods have no network of their own to forward a host port into; \
             reach the container on its containerPort",
        );
    }
}

/// Kubernetes' IANA_SVC_NAME: at most 15 lowercase letters, digits and '-', with a letter,
/// and no '-' at either end or twice in a row.
fn check_port_name(name: &str) -> Result<(), String> {
    let valid = name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "Invalid value: {name:?}: must be no more than 15 characters, contain only lowercase \
             letters, digits and '-', at least one letter, and no '-' at either end or next to \
             another"
        ))
    }
}

/// Kubernetes' message for a value outside a fixed set.
fn unsupported(value: &str, supported: &[&str]) -> String {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "Unsupported value: {value:?}: supported values: {}",
        list.join(", ")
    )
}

/// The one selector of `refs` that is set, with its field path; reports an error unless
/// exactly one is.
fn one_ref<'a, T>(
    refs: &[(&str, &'a Option<T>)],
    at: &str,
    errors: &mut Vec<FieldError>,
) -> Option<(String, &'a T)> {
    let set: Vec<(&str, &T)> = refs
        .iter()
        .filter_map(|(field, selector)| selector.as_ref().map(|selector| (*field, selector)))
        .collect();
    if let [(field, selector)] = set.as_slice() {
        return Some((format!("{at}.{field}"), selector));
    }
    let fields = refs.iter().map(|(field, _)| *field).collect::<Vec<_>>();
    report(
        errors,
        at.to_owned(),
        format!("exactly one of {} is required", fields.join(", ")),
    );
    None
}

fn check_ref_name(name: &str, field: &str, errors: &mut Vec<FieldError>) {
    if let Err(problem) = check_dns1123_subdomain(name) {
        report(errors, format!("{field}.name"), problem);
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
    use crate::object::pod_spec::{
        EnvFromSource, EnvVar, EnvVarSource, KeySelector, ObjectSelector,
    };

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
    fn ports_and_pull_policies() {
        let mut web = container("web");
        web.image_pull_policy = "Sometimes".into();
        web.ports = vec![
            ContainerPort {
                name: "http".into(),
                container_port: 80,
                protocol: "TCP".into(),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: "Bad_Name".into(),
                container_port: 70000,
                protocol: "ICMP".into(),
                ..ContainerPort::default()
            },
            ContainerPort {
                container_port: 8080,
                host_port: 80,
                ..ContainerPort::default()
            },
        ];
        let mut sidecar = container("sidecar");
        sidecar.ports = vec![ContainerPort {
            name: "http".into(),
            container_port: 81,
            ..ContainerPort::default()
        }];
        let errors = check(&spec(vec![web, sidecar]));
        assert_eq!(
            paths(&errors),
            [
                "spec.containers[0].imagePullPolicy",
                "spec.containers[0].ports[1].containerPort",
                "spec.containers[0].ports[1].protocol",
                "spec.containers[0].ports[1].name",
                "spec.containers[0].ports[2].hostPort",
                "spec.containers[1].ports[0].name",
            ]
        );
        assert_eq!(
            errors[0].message,
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
        );
        assert!(
            errors[4].message.starts_with("not supported yet"),
            "{}",
            errors[4].message
        );
        assert!(
            errors[5].message.starts_with("Duplicate value: \"http\""),
            "{}",
            errors[5].message
        );
    }

    #[test]
    fn env_names() {
        let mut with_env = container("a");
        with_env.env = vec![
            EnvVar {
                name: "GOOD_1".into(),
                value: "x".into(),
                value_from: None,
            },
            EnvVar {
                name: "1BAD".into(),
                ..EnvVar::default()
            },
        ];
        assert_eq!(
            paths(&check(&spec(vec![with_env]))),
            ["spec.containers[0].env[1].name"]
        );
    }

    #[test]
    fn env_sources_name_exactly_one_valid_object() {
        let key = |name: &str, key: &str| KeySelector {
            name: name.into(),
            key: key.into(),
            optional: None,
        };
        let mut c = container("a");
        c.env = vec![
            EnvVar {
                name: "FROM_CM".into(),
                value_from: Some(EnvVarSource {
                    config_map_key_ref: Some(key("settings", "level")),
                    secret_key_ref: None,
                }),
                ..EnvVar::default()
            },
            EnvVar {
                name: "BOTH".into(),
                value: "x".into(),
                value_from: Some(EnvVarSource {
                    config_map_key_ref: Some(key("a", "k")),
                    secret_key_ref: Some(key("b", "k")),
                }),
            },
            EnvVar {
                name: "BAD_REF".into(),
                value_from: Some(EnvVarSource {
                    config_map_key_ref: None,
                    secret_key_ref: Some(key("Not_Valid", "")),
                }),
                ..EnvVar::default()
            },
        ];
        c.env_from = vec![
            EnvFromSource {
                prefix: "DB_".into(),
                secret_ref: Some(ObjectSelector {
                    name: "db".into(),
                    optional: None,
                }),
                ..EnvFromSource::default()
            },
            EnvFromSource::default(),
        ];
        assert_eq!(
            paths(&check(&spec(vec![c]))),
            [
                "spec.containers[0].env[1].valueFrom",
                "spec.containers[0].env[1].valueFrom",
                "spec.containers[0].env[2].valueFrom.secretKeyRef.key",
                "spec.containers[0].env[2].valueFrom.secretKeyRef.name",
                "spec.containers[0].envFrom[1]",
            ]
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
