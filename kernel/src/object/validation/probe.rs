//! Checks for a container's probes and lifecycle hooks: exactly one handler each, counts and
//! periods Kubernetes accepts, and ports the container has. Messages are Kubernetes'.

use super::pod::{check_port_name, check_port_number};
use super::{FieldError, report, unsupported};
use crate::object::intstr::IntOrString;
use crate::object::pod_spec::{Container, ContainerPort};
use crate::object::probe::{
    ExecAction, GrpcAction, HttpGetAction, LifecycleHandler, Probe, SleepAction, TcpSocketAction,
};

/// The probes and hooks an init container may only have as a sidecar, by field name.
const LONG_RUNNING_FIELDS: [&str; 4] = [
    "lifecycle",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
];

/// What a probe decides: liveness and startup probes restart the container, so one success
/// must be enough for them; readiness only gates traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// One handler action, whichever field it is in.
enum Action<'a> {
    Exec(&'a ExecAction),
    HttpGet(&'a HttpGetAction),
    TcpSocket(&'a TcpSocketAction),
    Grpc(&'a GrpcAction),
    Sleep(&'a SleepAction),
}

/// Validates the probes and lifecycle hooks of `container`, whose path is `at`, in a pod with
/// `grace_period` (the bound of a `sleep` hook).
pub(super) fn validate_probes(
    container: &Container,
    grace_period: Option<i64>,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    let probes = [
        (
            "livenessProbe",
            &container.liveness_probe,
            ProbeKind::Liveness,
        ),
        (
            "readinessProbe",
            &container.readiness_probe,
            ProbeKind::Readiness,
        ),
        ("startupProbe", &container.startup_probe, ProbeKind::Startup),
    ];
    for (field, probe, kind) in probes {
        if let Some(probe) = probe {
            validate_probe(
                probe,
                kind,
                &container.ports,
                &format!("{at}.{field}"),
                errors,
            );
        }
    }
    let Some(lifecycle) = &container.lifecycle else {
        return;
    };
    for (field, handler) in [
        ("postStart", &lifecycle.post_start),
        ("preStop", &lifecycle.pre_stop),
    ] {
        if let Some(handler) = handler {
            validate_handler(
                &hook_actions(handler),
                &container.ports,
                grace_period,
                &format!("{at}.lifecycle.{field}"),
                errors,
            );
        }
    }
}

/// An init container that runs to completion before the others start has nothing to probe
/// and no stop to hook.
pub(super) fn forbid_probes(container: &Container, at: &str, errors: &mut Vec<FieldError>) {
    let set = [
        container.lifecycle.is_some(),
        container.liveness_probe.is_some(),
        container.readiness_probe.is_some(),
        container.startup_probe.is_some(),
    ];
    for (field, set) in LONG_RUNNING_FIELDS.into_iter().zip(set) {
        if set {
            report(
                errors,
                format!("{at}.{field}"),
                "Forbidden: may not be set for init containers without restartPolicy=Always",
            );
        }
    }
}

fn validate_probe(
    probe: &Probe,
    kind: ProbeKind,
    ports: &[ContainerPort],
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    validate_handler(&probe_actions(probe), ports, None, at, errors);
    if probe.initial_delay_seconds < 0 {
        report(
            errors,
            format!("{at}.initialDelaySeconds"),
            format!(
                "Invalid value: {}: must be greater than or equal to 0",
                probe.initial_delay_seconds
            ),
        );
    }
    for (field, value) in [
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ] {
        if value < 1 {
            report(
                errors,
                format!("{at}.{field}"),
                format!("Invalid value: {value}: must be greater than or equal to 1"),
            );
        }
    }
    if kind != ProbeKind::Readiness && probe.success_threshold > 1 {
        report(
            errors,
            format!("{at}.successThreshold"),
            format!("Invalid value: {}: must be 1", probe.success_threshold),
        );
    }
    let grace_at = format!("{at}.terminationGracePeriodSeconds");
    match (kind, probe.termination_grace_period_seconds) {
        (ProbeKind::Readiness, Some(seconds)) => report(
            errors,
            grace_at,
            format!("Invalid value: {seconds}: must not be set for readinessProbes"),
        ),
        (_, Some(seconds)) if seconds <= 0 => report(
            errors,
            grace_at,
            format!("Invalid value: {seconds}: must be greater than 0"),
        ),
        _ => {}
    }
}

fn probe_actions(probe: &Probe) -> [(&'static str, Option<Action<'_>>); 4] {
    [
        ("exec", probe.exec.as_ref().map(Action::Exec)),
        ("httpGet", probe.http_get.as_ref().map(Action::HttpGet)),
        (
            "tcpSocket",
            probe.tcp_socket.as_ref().map(Action::TcpSocket),
        ),
        ("grpc", probe.grpc.as_ref().map(Action::Grpc)),
    ]
}

fn hook_actions(handler: &LifecycleHandler) -> [(&'static str, Option<Action<'_>>); 4] {
    [
        ("exec", handler.exec.as_ref().map(Action::Exec)),
        ("httpGet", handler.http_get.as_ref().map(Action::HttpGet)),
        (
            "tcpSocket",
            handler.tcp_socket.as_ref().map(Action::TcpSocket),
        ),
        ("sleep", handler.sleep.as_ref().map(Action::Sleep)),
    ]
}

/// Exactly one action, checked; as in Kubernetes, every action after the first is reported
/// at its own field.
fn validate_handler(
    actions: &[(&str, Option<Action<'_>>)],
    ports: &[ContainerPort],
    grace_period: Option<i64>,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    let mut chosen = false;
    for (field, action) in actions {
        let Some(action) = action else {
            continue;
        };
        let at = format!("{at}.{field}");
        if chosen {
            report(
                errors,
                at,
                "Forbidden: may not specify more than 1 handler type",
            );
            continue;
        }
        chosen = true;
        match action {
            Action::Exec(exec) => {
                if exec.command.is_empty() {
                    report(errors, format!("{at}.command"), "Required value");
                }
            }
            Action::HttpGet(http) => validate_http_get(http, ports, &at, errors),
            Action::TcpSocket(tcp) => check_port(&tcp.port, ports, &format!("{at}.port"), errors),
            Action::Grpc(grpc) => check_port_number(grpc.port, &format!("{at}.port"), errors),
            Action::Sleep(sleep) => check_sleep(sleep.seconds, grace_period, &at, errors),
        }
    }
    if !chosen {
        report(errors, at, "Required value: must specify a handler type");
    }
}

fn validate_http_get(
    http: &HttpGetAction,
    ports: &[ContainerPort],
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    if http.path.is_empty() {
        report(errors, format!("{at}.path"), "Required value");
    }
    check_port(&http.port, ports, &format!("{at}.port"), errors);
    if !HttpGetAction::SCHEMES.contains(&http.scheme.as_str()) {
        report(
            errors,
            format!("{at}.scheme"),
            unsupported(&http.scheme, &HttpGetAction::SCHEMES),
        );
    }
    for (index, header) in http.http_headers.iter().enumerate() {
        let valid = !header.name.is_empty()
            && header
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            report(
                errors,
                format!("{at}.httpHeaders[{index}].name"),
                format!(
                    "Invalid value: {:?}: a valid HTTP header must consist of alphanumeric \
                     characters or '-' (e.g. 'X-Header-Name', regex used for validation is \
                     '[-A-Za-z0-9]+')",
                    header.name
                ),
            );
        }
    }
}

/// A port number, or the name of one of the container's own ports.
fn check_port(port: &IntOrString, ports: &[ContainerPort], at: &str, errors: &mut Vec<FieldError>) {
    match port {
        IntOrString::Int(number) => check_port_number(*number, at, errors),
        IntOrString::String(name) => {
            if let Err(problem) = check_port_name(name) {
                report(errors, at, problem);
            } else if !ports.iter().any(|port| port.name == *name) {
                report(
                    errors,
                    at,
                    format!("Invalid value: {name:?}: the container has no port named {name:?}"),
                );
            }
        }
    }
}

/// A sleep ends within the pod's grace period (when it is known).
fn check_sleep(seconds: i64, grace_period: Option<i64>, at: &str, errors: &mut Vec<FieldError>) {
    let problem = match grace_period {
        Some(grace) if !(0..=grace).contains(&seconds) => {
            format!("must be non-negative and less than terminationGracePeriodSeconds ({grace})")
        }
        None if seconds < 0 => "must be greater than or equal to 0".to_owned(),
        _ => return,
    };
    report(
        errors,
        format!("{at}.seconds"),
        format!("Invalid value: {seconds}: {problem}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::probe::{HttpHeader, Lifecycle};

    /// A probe as defaulting leaves it: `exec`, `httpGet` and `grpc` are set as asked.
    fn probe(exec: bool, http_port: Option<IntOrString>, grpc_port: Option<i32>) -> Probe {
        Probe {
            exec: exec.then(|| ExecAction {
                command: vec!["true".into()],
            }),
            http_get: http_port.map(|port| HttpGetAction {
                path: "/".into(),
                port,
                scheme: "HTTP".into(),
                ..HttpGetAction::default()
            }),
            grpc: grpc_port.map(|port| GrpcAction {
                port,
                service: String::new(),
            }),
            timeout_seconds: 1,
            period_seconds: 10,
            success_threshold: 1,
            failure_threshold: 3,
            ..Probe::default()
        }
    }

    fn container() -> Container {
        Container {
            name: "web".into(),
            image: "web:1".into(),
            ports: vec![ContainerPort {
                name: "http".into(),
                container_port: 8080,
                ..ContainerPort::default()
            }],
            ..Container::default()
        }
    }

    fn check(container: &Container) -> Vec<FieldError> {
        let mut errors = Vec::new();
        validate_probes(container, Some(30), "c", &mut errors);
        errors
    }

    fn messages(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect()
    }

    #[test]
    fn a_probe_has_exactly_one_handler() {
        let mut c = container();
        c.liveness_probe = Some(probe(true, None, None));
        c.readiness_probe = Some(probe(false, None, None));
        c.startup_probe = Some(probe(true, Some(IntOrString::Int(80)), Some(9000)));
        assert_eq!(
            messages(&check(&c)),
            [
                (
                    "c.readinessProbe",
                    "Required value: must specify a handler type"
                ),
                (
                    "c.startupProbe.httpGet",
                    "Forbidden: may not specify more than 1 handler type"
                ),
                (
                    "c.startupProbe.grpc",
                    "Forbidden: may not specify more than 1 handler type"
                ),
            ]
        );
    }

    #[test]
    fn counts_and_periods_are_bounded_like_kubernetes() {
        let mut c = container();
        c.liveness_probe = Some(Probe {
            initial_delay_seconds: -1,
            timeout_seconds: 0,
            period_seconds: -5,
            success_threshold: 2,
            termination_grace_period_seconds: Some(0),
            ..probe(true, None, None)
        });
        c.readiness_probe = Some(Probe {
            success_threshold: 2,
            failure_threshold: 0,
            termination_grace_period_seconds: Some(10),
            ..probe(true, None, None)
        });
        c.startup_probe = Some(Probe {
            success_threshold: 3,
            ..probe(true, None, None)
        });
        assert_eq!(
            messages(&check(&c)),
            [
                (
                    "c.livenessProbe.initialDelaySeconds",
                    "Invalid value: -1: must be greater than or equal to 0"
                ),
                (
                    "c.livenessProbe.timeoutSeconds",
                    "Invalid value: 0: must be greater than or equal to 1"
                ),
                (
                    "c.livenessProbe.periodSeconds",
                    "Invalid value: -5: must be greater than or equal to 1"
                ),
                (
                    "c.livenessProbe.successThreshold",
                    "Invalid value: 2: must be 1"
                ),
                (
                    "c.livenessProbe.terminationGracePeriodSeconds",
                    "Invalid value: 0: must be greater than 0"
                ),
                (
                    "c.readinessProbe.failureThreshold",
                    "Invalid value: 0: must be greater than or equal to 1"
                ),
                (
                    "c.readinessProbe.terminationGracePeriodSeconds",
                    "Invalid value: 10: must not be set for readinessProbes"
                ),
                (
                    "c.startupProbe.successThreshold",
                    "Invalid value: 3: must be 1"
                ),
            ]
        );
    }

    #[test]
    fn ports_are_numbers_or_names_of_the_containers_ports() {
        let named = |name: &str| Some(IntOrString::String(name.into()));
        let mut c = container();
        c.liveness_probe = Some(probe(false, named("http"), None));
        c.readiness_probe = Some(probe(false, named("metrics"), None));
        c.startup_probe = Some(probe(false, Some(IntOrString::Int(65536)), None));
        c.lifecycle = Some(Lifecycle {
            post_start: Some(LifecycleHandler {
                tcp_socket: Some(TcpSocketAction {
                    port: IntOrString::String("8080".into()),
                    host: String::new(),
                }),
                ..LifecycleHandler::default()
            }),
            ..Lifecycle::default()
        });
        let errors = check(&c);
        assert_eq!(
            messages(&errors)[..2],
            [
                (
                    "c.readinessProbe.httpGet.port",
                    "Invalid value: \"metrics\": the container has no port named \"metrics\""
                ),
                (
                    "c.startupProbe.httpGet.port",
                    "Invalid value: 65536: must be between 1 and 65535, inclusive"
                ),
            ]
        );
        assert_eq!(errors[2].path, "c.lifecycle.postStart.tcpSocket.port");
        assert!(
            errors[2].message.starts_with("Invalid value: \"8080\""),
            "{}",
            errors[2].message
        );
        assert_eq!(errors.len(), 3);

        let mut grpc = container();
        grpc.liveness_probe = Some(probe(false, None, Some(0)));
        grpc.readiness_probe = Some(probe(false, None, Some(9000)));
        assert_eq!(
            messages(&check(&grpc)),
            [(
                "c.livenessProbe.grpc.port",
                "Invalid value: 0: must be between 1 and 65535, inclusive"
            )]
        );
    }

    #[test]
    fn http_gets_need_a_path_a_scheme_and_header_names() {
        let mut c = container();
        c.liveness_probe = Some(probe(false, Some(IntOrString::Int(80)), None));
        if let Some(http) = c
            .liveness_probe
            .as_mut()
            .and_then(|probe| probe.http_get.as_mut())
        {
            http.path.clear();
            http.scheme = "FTP".into();
            http.http_headers = vec![
                HttpHeader {
                    name: "X-Ok".into(),
                    value: "1".into(),
                },
                HttpHeader {
                    name: "Bad Header".into(),
                    value: "1".into(),
                },
            ];
        }
        let errors = check(&c);
        let at = "c.livenessProbe.httpGet";
        assert_eq!(
            messages(&errors)[..2],
            [
                (format!("{at}.path").as_str(), "Required value"),
                (
                    &format!("{at}.scheme"),
                    "Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\""
                ),
            ]
        );
        assert_eq!(errors[2].path, format!("{at}.httpHeaders[1].name"));
        assert!(
            errors[2]
                .message
                .starts_with("Invalid value: \"Bad Header\": a valid HTTP header"),
            "{}",
            errors[2].message
        );
        assert_eq!(errors.len(), 3);

        let mut https = container();
        https.liveness_probe = Some(probe(false, Some(IntOrString::Int(8443)), None));
        if let Some(http) = https
            .liveness_probe
            .as_mut()
            .and_then(|probe| probe.http_get.as_mut())
        {
            http.scheme = HttpGetAction::SCHEME_HTTPS.into();
        }
        assert_eq!(check(&https), []);
    }

    #[test]
    fn hooks_have_one_handler_and_sleep_within_the_grace_period() {
        let sleep = |seconds| LifecycleHandler {
            sleep: Some(SleepAction { seconds }),
            ..LifecycleHandler::default()
        };
        let mut c = container();
        c.lifecycle = Some(Lifecycle {
            post_start: Some(LifecycleHandler {
                exec: Some(ExecAction::default()),
                ..sleep(1)
            }),
            pre_stop: Some(sleep(31)),
        });
        assert_eq!(
            messages(&check(&c)),
            [
                ("c.lifecycle.postStart.exec.command", "Required value"),
                (
                    "c.lifecycle.postStart.sleep",
                    "Forbidden: may not specify more than 1 handler type"
                ),
                (
                    "c.lifecycle.preStop.sleep.seconds",
                    "Invalid value: 31: must be non-negative and less than \
                     terminationGracePeriodSeconds (30)"
                ),
            ]
        );
        c.lifecycle = Some(Lifecycle {
            post_start: Some(LifecycleHandler::default()),
            pre_stop: Some(sleep(30)),
        });
        assert_eq!(
            messages(&check(&c)),
            [(
                "c.lifecycle.postStart",
                "Required value: must specify a handler type"
            )]
        );
    }

    #[test]
    fn init_containers_without_restart_may_not_probe_or_hook() {
        let mut c = container();
        c.readiness_probe = Some(probe(true, None, None));
        c.lifecycle = Some(Lifecycle::default());
        let mut errors = Vec::new();
        forbid_probes(&c, "spec.initContainers[0]", &mut errors);
        let forbidden =
            "Forbidden: may not be set for init containers without restartPolicy=Always";
        assert_eq!(
            messages(&errors),
            [
                ("spec.initContainers[0].lifecycle", forbidden),
                ("spec.initContainers[0].readinessProbe", forbidden),
            ]
        );
    }
}
