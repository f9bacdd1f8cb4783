//! Checks for a pod spec, used for pods and for the templates of workloads: containers and init
//! containers, their images, ports, security and resources. The environment (`env`) and the
//! probes and hooks (`probe`) have modules of their own.

use std::collections::{BTreeMap, HashSet};

use super::affinity::{validate_affinity, validate_spread_constraints};
use super::env::validate_env;
use super::labels::validate_label_map;
use super::pod_dns::validate_pod_dns;
use super::probe::{forbid_probes, validate_probes};
use super::toleration::validate_tolerations;
use super::{FieldError, report, unsupported};
use crate::object::names::{check_dns1123_label, check_dns1123_subdomain, check_qualified_name};
use crate::object::pod_spec::{Container, ContainerPort, KNOWN_RESOURCES, PodSpec};
use crate::object::quantity::{ParsedQuantity, Quantity};
use crate::object::security_context::{
    PodSecurityContext, SeccompProfile, SecurityContext, capability_name,
};

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
    let lists = [
        ("containers", &spec.containers, Role::Regular),
        ("initContainers", &spec.init_containers, Role::Init),
    ];
    for (field, containers, role) in lists {
        for (index, container) in containers.iter().enumerate() {
            let at = format!("{path}.{field}[{index}]");
            if !container.name.is_empty() && !names.insert(container.name.as_str()) {
                report(
                    errors,
                    format!("{at}.name"),
                    format!("Duplicate value: {:?}", container.name),
                );
            }
            validate_container(container, role, spec, &at, errors);
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
    validate_tolerations(&spec.tolerations, &format!("{path}.tolerations"), errors);
    if let Some(affinity) = &spec.affinity {
        validate_affinity(affinity, &format!("{path}.affinity"), errors);
    }
    validate_spread_constraints(
        &spec.topology_spread_constraints,
        &format!("{path}.topologySpreadConstraints"),
        errors,
    );
    validate_scheduling_gates(spec, path, errors);
    if !spec.hostname.is_empty()
        && let Err(problem) = check_dns1123_label(&spec.hostname)
    {
        report(errors, format!("{path}.hostname"), problem);
    }
    validate_pod_dns(spec, path, errors);
    if !spec.node_name.is_empty()
        && let Err(problem) = check_dns1123_subdomain(&spec.node_name)
    {
        report(errors, format!("{path}.nodeName"), problem);
    }
    if let Some(context) = &spec.security_context {
        validate_pod_security(context, &format!("{path}.securityContext"), errors);
    }
    for (index, secret) in spec.image_pull_secrets.iter().enumerate() {
        let at = format!("{path}.imagePullSecrets[{index}].name");
        if secret.name.is_empty() {
            report(errors, at, "Required value");
        } else if let Err(problem) = check_dns1123_subdomain(&secret.name) {
            report(errors, at, problem);
        }
    }
    if let Some(name) = &spec.runtime_class_name {
        let at = format!("{path}.runtimeClassName");
        if name.is_empty() {
            report(
                errors,
                at,
                "Required value: name a RuntimeClass, or leave the field out",
            );
        } else if let Err(problem) = check_dns1123_subdomain(name) {
            report(errors, at, problem);
        }
    }
}

/// Gates are qualified names, each once, and a pod bound to a node has none.
fn validate_scheduling_gates(spec: &PodSpec, path: &str, errors: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (index, gate) in spec.scheduling_gates.iter().enumerate() {
        let at = format!("{path}.schedulingGates[{index}].name");
        if let Err(problem) = check_qualified_name(&gate.name) {
            report(errors, at, problem);
        } else if !seen.insert(gate.name.as_str()) {
            report(errors, at, format!("Duplicate value: {:?}", gate.name));
        }
    }
    if !spec.scheduling_gates.is_empty() && !spec.node_name.is_empty() {
        report(
            errors,
            format!("{path}.nodeName"),
            "Forbidden: cannot be set until all schedulingGates have been cleared",
        );
    }
}

fn validate_pod_security(context: &PodSecurityContext, at: &str, errors: &mut Vec<FieldError>) {
    check_id(context.run_as_user, &format!("{at}.runAsUser"), errors);
    check_id(context.run_as_group, &format!("{at}.runAsGroup"), errors);
    for (index, group) in context.supplemental_groups.iter().enumerate() {
        check_id(
            Some(*group),
            &format!("{at}.supplementalGroups[{index}]"),
            errors,
        );
    }
    if let Some(profile) = &context.seccomp_profile {
        check_seccomp(profile, &format!("{at}.seccompProfile"), errors);
    }
}

fn validate_container_security(context: &SecurityContext, at: &str, errors: &mut Vec<FieldError>) {
    check_id(context.run_as_user, &format!("{at}.runAsUser"), errors);
    check_id(context.run_as_group, &format!("{at}.runAsGroup"), errors);
    if let Some(profile) = &context.seccomp_profile {
        check_seccomp(profile, &format!("{at}.seccompProfile"), errors);
    }
    let mut adds_sys_admin = false;
    if let Some(capabilities) = &context.capabilities {
        for (field, names) in [("add", &capabilities.add), ("drop", &capabilities.drop)] {
            for (index, name) in names.iter().enumerate() {
                match capability_name(name) {
                    None => report(
                        errors,
                        format!("{at}.capabilities.{field}[{index}]"),
                        format!("unknown capability {name:?}"),
                    ),
                    Some(known) if field == "add" => {
                        adds_sys_admin |= known == "SYS_ADMIN" || known == "ALL";
                    }
                    Some(_) => {}
                }
            }
        }
    }
    if context.allow_privilege_escalation == Some(false) {
        if context.privileged == Some(true) {
            report(
                errors,
                at.to_string(),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            );
        }
        if adds_sys_admin {
            report(
                errors,
                at.to_string(),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            );
        }
    }
}

/// User and group ids, as Kubernetes bounds them.
fn check_id(id: Option<i64>, at: &str, errors: &mut Vec<FieldError>) {
    if let Some(id) = id
        && !(0..=i64::from(i32::MAX)).contains(&id)
    {
        report(
            errors,
            at.to_string(),
            format!("Invalid value: {id}: must be between 0 and 2147483647, inclusive"),
        );
    }
}

fn check_seccomp(profile: &SeccompProfile, at: &str, errors: &mut Vec<FieldError>) {
    match profile.type_.as_str() {
        SeccompProfile::RUNTIME_DEFAULT | SeccompProfile::UNCONFINED => {}
        SeccompProfile::LOCALHOST => report(
            errors,
            format!("{at}.type"),
            "Localhost profiles are not supported on flotilla nodes: use RuntimeDefault or \
             Unconfined",
        ),
        "" => report(errors, format!("{at}.type"), "Required value"),
        other => report(
            errors,
            format!("{at}.type"),
            unsupported(other, &SeccompProfile::TYPES),
        ),
    }
}

/// Which list a container is in: init containers run before the others, to completion
/// unless they are sidecars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Regular,
    Init,
}

/// Validates `container`, one of `spec`'s, whose path is `at`.
fn validate_container(
    container: &Container,
    role: Role,
    spec: &PodSpec,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
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
    validate_env(container, spec, at, errors);
    if let Some(context) = &container.security_context {
        validate_container_security(context, &format!("{at}.securityContext"), errors);
    }
    match (role, &container.restart_policy) {
        (Role::Regular, Some(_)) => report(
            errors,
            format!("{at}.restartPolicy"),
            "Forbidden: may not be set for non-init containers",
        ),
        (Role::Init, Some(policy)) if policy != Container::RESTART_ALWAYS => report(
            errors,
            format!("{at}.restartPolicy"),
            unsupported(policy, &[Container::RESTART_ALWAYS]),
        ),
        _ => {}
    }
    if role == Role::Init && !container.is_sidecar() {
        forbid_probes(container, at, errors);
    } else {
        validate_probes(container, spec.termination_grace_period_seconds, at, errors);
    }
    let message_path = &container.termination_message_path;
    if !message_path.is_empty() && !message_path.starts_with('/') {
        report(
            errors,
            format!("{at}.terminationMessagePath"),
            format!("Invalid value: {message_path:?}: must be an absolute path"),
        );
    }
    let policy = container.termination_message_policy.as_str();
    if !policy.is_empty() && !Container::TERMINATION_MESSAGE_POLICIES.contains(&policy) {
        report(
            errors,
            format!("{at}.terminationMessagePolicy"),
            unsupported(policy, &Container::TERMINATION_MESSAGE_POLICIES),
        );
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
    check_port_number(port.container_port, &format!("{at}.containerPort"), errors);
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
    if port.host_port != 0 {
        check_port_number(port.host_port, &format!("{at}.hostPort"), errors);
    }
    if !port.host_ip.is_empty() && port.host_ip.parse::<std::net::IpAddr>().is_err() {
        report(
            errors,
            format!("{at}.hostIP"),
            format!(
                "Invalid value: {:?}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                port.host_ip
            ),
        );
    }
}

/// A TCP or UDP port number.
pub(super) fn check_port_number(number: i32, at: &str, errors: &mut Vec<FieldError>) {
    if !(1..=65535).contains(&number) {
        report(
            errors,
            at,
            format!("Invalid value: {number}: must be between 1 and 65535, inclusive"),
        );
    }
}

/// Kubernetes' IANA_SVC_NAME: at most 15 lowercase letters, digits and '-', with a letter,
/// and no '-' at either end or twice in a row.
pub(super) fn check_port_name(name: &str) -> Result<(), String> {
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
    use crate::object::probe::{ExecAction, Lifecycle, LifecycleHandler, Probe, SleepAction};

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
    fn scheduling_gates_are_unique_names_of_unbound_pods() {
        use crate::object::pod_spec::PodSchedulingGate;
        let gate = |name: &str| PodSchedulingGate { name: name.into() };
        let mut gated = spec(vec![container("a")]);
        gated.scheduling_gates = vec![gate("example.com/quota"), gate("ready")];
        assert!(check(&gated).is_empty());
        gated.scheduling_gates.push(gate("ready"));
        gated.scheduling_gates.push(gate("not a name"));
        gated.node_name = "n1".into();
        let errors = check(&gated);
        assert_eq!(
            paths(&errors),
            [
                "spec.schedulingGates[2].name",
                "spec.schedulingGates[3].name",
                "spec.nodeName"
            ]
        );
        assert_eq!(errors[0].message, "Duplicate value: \"ready\"");
        assert_eq!(
            errors[2].message,
            "Forbidden: cannot be set until all schedulingGates have been cleared"
        );
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
        assert_eq!(errors[0].message, "Duplicate value: \"a\"");
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
                host_port: 80_000,
                host_ip: "localhost".into(),
                ..ContainerPort::default()
            },
            ContainerPort {
                container_port: 8081,
                host_port: 8081,
                host_ip: "127.0.0.1".into(),
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
                "spec.containers[0].ports[2].hostIP",
                "spec.containers[1].ports[0].name",
            ]
        );
        assert_eq!(
            errors[0].message,
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
        );
        assert_eq!(
            errors[4].message,
            "Invalid value: 80000: must be between 1 and 65535, inclusive"
        );
        assert!(
            errors[6].message.starts_with("Duplicate value: \"http\""),
            "{}",
            errors[6].message
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
        bad.runtime_class_name = Some("Kata_VM".into());
        assert_eq!(
            paths(&check(&bad)),
            [
                "spec.containers[0].resources.requests.cpu",
                "spec.terminationGracePeriodSeconds",
                "spec.nodeSelector.disk",
                "spec.hostname",
                "spec.nodeName",
                "spec.runtimeClassName",
            ]
        );
    }

    #[test]
    fn a_runtime_class_name_is_a_dns_subdomain() {
        let mut pod = spec(vec![container("a")]);
        pod.runtime_class_name = Some("gvisor.sandbox".into());
        assert!(check(&pod).is_empty());
        pod.runtime_class_name = Some(String::new());
        let errors = check(&pod);
        assert_eq!(paths(&errors), ["spec.runtimeClassName"]);
        assert!(
            errors[0].message.starts_with("Required value"),
            "{errors:?}"
        );
        pod.runtime_class_name = Some("-kata".into());
        assert_eq!(paths(&check(&pod)), ["spec.runtimeClassName"]);
    }

    #[test]
    fn security_contexts_are_checked_with_kubernetes_messages() {
        use crate::object::security_context::Capabilities;
        let mut c = container("app");
        c.security_context = Some(SecurityContext {
            run_as_user: Some(-1),
            privileged: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: vec!["NET_ADMIN".into(), "FLY".into()],
                drop: vec!["ALL".into()],
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "Strict".into(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        });
        let mut pod = spec(vec![c]);
        pod.security_context = Some(PodSecurityContext {
            run_as_group: Some(1 << 40),
            seccomp_profile: Some(SeccompProfile {
                type_: "Localhost".into(),
                localhost_profile: Some("x.json".into()),
            }),
            ..PodSecurityContext::default()
        });
        let errors = check(&pod);
        let at = "spec.containers[0].securityContext";
        assert_eq!(
            paths(&errors),
            [
                format!("{at}.runAsUser").as_str(),
                &format!("{at}.seccompProfile.type"),
                &format!("{at}.capabilities.add[1]"),
                at,
                "spec.securityContext.runAsGroup",
                "spec.securityContext.seccompProfile.type",
            ]
        );
        assert!(errors[0].message.contains("between 0 and 2147483647"));
        assert!(errors[1].message.contains("\"RuntimeDefault\""));
        assert!(errors[3].message.contains("`privileged` to true"));
    }

    fn exec_probe() -> Probe {
        Probe {
            exec: Some(ExecAction {
                command: vec!["true".into()],
            }),
            timeout_seconds: 1,
            period_seconds: 10,
            success_threshold: 1,
            failure_threshold: 3,
            ..Probe::default()
        }
    }

    #[test]
    fn init_containers_are_checked_like_containers_and_share_their_names() {
        let mut bad = container("Setup");
        bad.image.clear();
        let mut pod = spec(vec![container("app")]);
        pod.init_containers = vec![bad, container("app"), container("migrate")];
        let errors = check(&pod);
        assert_eq!(
            paths(&errors),
            [
                "spec.initContainers[0].name",
                "spec.initContainers[0].image",
                "spec.initContainers[1].name",
            ]
        );
        assert_eq!(errors[2].message, "Duplicate value: \"app\"");
    }

    #[test]
    fn only_sidecars_have_a_restart_policy_probes_and_hooks() {
        let with_probes = |name: &str, restart_policy: Option<&str>| Container {
            restart_policy: restart_policy.map(String::from),
            readiness_probe: Some(exec_probe()),
            lifecycle: Some(Lifecycle {
                pre_stop: Some(LifecycleHandler {
                    sleep: Some(SleepAction { seconds: 60 }),
                    ..LifecycleHandler::default()
                }),
                ..Lifecycle::default()
            }),
            ..container(name)
        };
        let mut pod = spec(vec![with_probes("app", Some("Always"))]);
        pod.termination_grace_period_seconds = Some(30);
        pod.init_containers = vec![
            with_probes("sidecar", Some("Always")),
            with_probes("setup", None),
            with_probes("retry", Some("OnFailure")),
        ];
        let errors = check(&pod);
        let forbidden =
            "Forbidden: may not be set for init containers without restartPolicy=Always";
        let messages: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        let sleep = "Invalid value: 60: must be non-negative and less than \
                     terminationGracePeriodSeconds (30)";
        assert_eq!(
            messages,
            [
                (
                    "spec.containers[0].restartPolicy",
                    "Forbidden: may not be set for non-init containers"
                ),
                ("spec.containers[0].lifecycle.preStop.sleep.seconds", sleep),
                (
                    "spec.initContainers[0].lifecycle.preStop.sleep.seconds",
                    sleep
                ),
                ("spec.initContainers[1].lifecycle", forbidden),
                ("spec.initContainers[1].readinessProbe", forbidden),
                (
                    "spec.initContainers[2].restartPolicy",
                    "Unsupported value: \"OnFailure\": supported values: \"Always\""
                ),
                ("spec.initContainers[2].lifecycle", forbidden),
                ("spec.initContainers[2].readinessProbe", forbidden),
            ]
        );
    }

    #[test]
    fn termination_messages_have_an_absolute_path_and_a_kubernetes_policy() {
        let mut c = container("a");
        c.termination_message_path = "tmp/message".into();
        c.termination_message_policy = "Always".into();
        let errors = check(&spec(vec![c]));
        assert_eq!(
            paths(&errors),
            [
                "spec.containers[0].terminationMessagePath",
                "spec.containers[0].terminationMessagePolicy"
            ]
        );
        assert_eq!(
            errors[0].message,
            "Invalid value: \"tmp/message\": must be an absolute path"
        );
        assert_eq!(
            errors[1].message,
            "Unsupported value: \"Always\": supported values: \"FallbackToLogsOnError\", \"File\""
        );
        let mut fine = container("b");
        fine.termination_message_path = "/tmp/message".into();
        fine.termination_message_policy = "FallbackToLogsOnError".into();
        assert!(check(&spec(vec![fine])).is_empty());
    }
}
