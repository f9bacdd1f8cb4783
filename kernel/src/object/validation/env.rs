//! Checks for a container's environment: variable names, where a `valueFrom` takes its value
//! (a key of a ConfigMap or Secret, a field of the pod, a resource of a container) and
//! `envFrom`. The downward-API paths and resources are the ones Kubernetes accepts for
//! environment variables.

use super::{FieldError, report, unsupported};
use crate::object::names::{check_dns1123_subdomain, check_env_var_name, check_qualified_name};
use crate::object::pod_spec::{
    Container, EnvVarSource, KeySelector, ObjectFieldSelector, PodSpec, ResourceFieldSelector,
};
use crate::object::quantity::Quantity;

const CPU_DIVISORS: [&str; 2] = ["1m", "1"];
const BYTE_DIVISORS: [&str; 13] = [
    "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
];

/// Validates the `env` and `envFrom` of `container`, whose path is `at`, one of `spec`'s.
pub(super) fn validate_env(
    container: &Container,
    spec: &PodSpec,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
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
            validate_value_from(source, spec, &format!("{at}.valueFrom"), errors);
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
        let set = refs.map(|(field, selector)| (field, selector.is_some()));
        if !exactly_one(&set, &at, errors) {
            continue;
        }
        for (field, selector) in refs {
            if let Some(selector) = selector {
                check_ref_name(&selector.name, &format!("{at}.{field}"), errors);
            }
        }
    }
}

/// Exactly one source, each checked once it is the only one.
fn validate_value_from(
    source: &EnvVarSource,
    spec: &PodSpec,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    let set = [
        ("configMapKeyRef", source.config_map_key_ref.is_some()),
        ("secretKeyRef", source.secret_key_ref.is_some()),
        ("fieldRef", source.field_ref.is_some()),
        ("resourceFieldRef", source.resource_field_ref.is_some()),
    ];
    if !exactly_one(&set, at, errors) {
        return;
    }
    let keys = [
        ("configMapKeyRef", &source.config_map_key_ref),
        ("secretKeyRef", &source.secret_key_ref),
    ];
    for (field, selector) in keys {
        if let Some(selector) = selector {
            check_key_selector(selector, &format!("{at}.{field}"), errors);
        }
    }
    if let Some(selector) = &source.field_ref {
        check_field_ref(selector, &format!("{at}.fieldRef"), errors);
    }
    if let Some(selector) = &source.resource_field_ref {
        check_resource_field_ref(selector, spec, &format!("{at}.resourceFieldRef"), errors);
    }
}

/// Whether exactly one of `fields` (name, whether set) is set; reports at `at` otherwise.
fn exactly_one(fields: &[(&str, bool)], at: &str, errors: &mut Vec<FieldError>) -> bool {
    if fields.iter().filter(|(_, set)| *set).count() == 1 {
        return true;
    }
    let names: Vec<&str> = fields.iter().map(|(field, _)| *field).collect();
    report(
        errors,
        at,
        format!("exactly one of {} is required", names.join(", ")),
    );
    false
}

fn check_key_selector(selector: &KeySelector, at: &str, errors: &mut Vec<FieldError>) {
    if selector.key.is_empty() {
        report(errors, format!("{at}.key"), "required");
    }
    check_ref_name(&selector.name, at, errors);
}

fn check_ref_name(name: &str, at: &str, errors: &mut Vec<FieldError>) {
    if let Err(problem) = check_dns1123_subdomain(name) {
        report(errors, format!("{at}.name"), problem);
    }
}

/// `apiVersion` `v1` and one of the pod fields Kubernetes exposes to environment variables;
/// a label or annotation key must be a qualified name.
fn check_field_ref(selector: &ObjectFieldSelector, at: &str, errors: &mut Vec<FieldError>) {
    match selector.api_version.as_str() {
        ObjectFieldSelector::DEFAULT_API_VERSION => {}
        "" => report(errors, format!("{at}.apiVersion"), "Required value"),
        other => report(
            errors,
            format!("{at}.apiVersion"),
            unsupported(other, &[ObjectFieldSelector::DEFAULT_API_VERSION]),
        ),
    }
    let path = selector.field_path.as_str();
    let key_problem = match selector.subscript() {
        Some(("metadata.labels", key)) => check_qualified_name(key),
        Some(("metadata.annotations", key)) => check_qualified_name(&key.to_ascii_lowercase()),
        None if ObjectFieldSelector::ENV_FIELD_PATHS.contains(&path) => Ok(()),
        None if path.is_empty() => {
            report(errors, format!("{at}.fieldPath"), "Required value");
            return;
        }
        Some(_) | None => {
            let mut supported = ObjectFieldSelector::ENV_FIELD_PATHS.to_vec();
            supported.extend(["metadata.annotations['<KEY>']", "metadata.labels['<KEY>']"]);
            report(
                errors,
                format!("{at}.fieldPath"),
                unsupported(path, &supported),
            );
            return;
        }
    };
    if let Err(problem) = key_problem {
        report(
            errors,
            format!("{at}.fieldPath"),
            format!("Invalid value: {path:?}: {problem}"),
        );
    }
}

/// A resource Kubernetes exposes, of a container of the pod, with a divisor it accepts.
fn check_resource_field_ref(
    selector: &ResourceFieldSelector,
    spec: &PodSpec,
    at: &str,
    errors: &mut Vec<FieldError>,
) {
    let name = &selector.container_name;
    if !name.is_empty()
        && !spec
            .all_containers()
            .any(|container| container.name == *name)
    {
        report(
            errors,
            format!("{at}.containerName"),
            format!("Not found: {name:?}: the pod has no container of that name"),
        );
    }
    let resource = selector.resource.as_str();
    if resource.is_empty() {
        report(errors, format!("{at}.resource"), "Required value");
    } else if !ResourceFieldSelector::RESOURCES.contains(&resource) {
        report(
            errors,
            format!("{at}.resource"),
            unsupported(resource, &ResourceFieldSelector::RESOURCES),
        );
    } else if let Some(divisor) = &selector.divisor {
        check_divisor(resource, divisor, &format!("{at}.divisor"), errors);
    }
}

/// Kubernetes' units for each resource: cores or millicores, bytes with a decimal or binary
/// prefix. Zero means unset.
fn check_divisor(resource: &str, divisor: &Quantity, at: &str, errors: &mut Vec<FieldError>) {
    let milli = match divisor.milli_value() {
        Ok(0) => return,
        Ok(milli) => milli,
        Err(problem) => {
            report(errors, at, problem.to_string());
            return;
        }
    };
    let (allowed, list, name): (&[&str], String, &str) = match resource.split_once('.') {
        Some((_, "cpu")) => (&CPU_DIVISORS, CPU_DIVISORS.join(" and "), "cpu"),
        Some((_, "memory")) => (&BYTE_DIVISORS, BYTE_DIVISORS.join(", "), "memory"),
        _ => (
            &BYTE_DIVISORS,
            BYTE_DIVISORS.join(", "),
            "local ephemeral storage",
        ),
    };
    if !allowed
        .iter()
        .any(|unit| Quantity::from(*unit).milli_value() == Ok(milli))
    {
        report(
            errors,
            at,
            format!(
                "Invalid value: {:?}: only divisor's values {list} are supported with the {name} \
                 resource",
                divisor.0
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::pod_spec::{EnvFromSource, EnvVar, ObjectSelector};

    /// The errors of the first container's environment, in a pod that also has an init
    /// container named `setup`.
    fn check(env: Vec<EnvVar>, env_from: Vec<EnvFromSource>) -> Vec<FieldError> {
        let container = |name: &str| Container {
            name: name.into(),
            image: "app:1".into(),
            ..Container::default()
        };
        let spec = PodSpec {
            init_containers: vec![container("setup")],
            containers: vec![Container {
                env,
                env_from,
                ..container("app")
            }],
            ..PodSpec::default()
        };
        let mut errors = Vec::new();
        validate_env(
            &spec.containers[0],
            &spec,
            "spec.containers[0]",
            &mut errors,
        );
        errors
    }

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    fn from(name: &str, source: EnvVarSource) -> EnvVar {
        EnvVar {
            name: name.into(),
            value_from: Some(source),
            ..EnvVar::default()
        }
    }

    fn key(name: &str, key: &str) -> KeySelector {
        KeySelector {
            name: name.into(),
            key: key.into(),
            optional: None,
        }
    }

    fn field(path: &str) -> EnvVarSource {
        EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: "v1".into(),
                field_path: path.into(),
            }),
            ..EnvVarSource::default()
        }
    }

    fn resource(container: &str, resource: &str, divisor: Option<&str>) -> EnvVarSource {
        EnvVarSource {
            resource_field_ref: Some(ResourceFieldSelector {
                container_name: container.into(),
                resource: resource.into(),
                divisor: divisor.map(Quantity::from),
            }),
            ..EnvVarSource::default()
        }
    }

    #[test]
    fn env_names() {
        let env = vec![
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
            paths(&check(env, vec![])),
            ["spec.containers[0].env[1].name"]
        );
    }

    #[test]
    fn env_sources_name_exactly_one_valid_object() {
        let env = vec![
            from(
                "FROM_CM",
                EnvVarSource {
                    config_map_key_ref: Some(key("settings", "level")),
                    ..EnvVarSource::default()
                },
            ),
            EnvVar {
                value: "x".into(),
                ..from(
                    "BOTH",
                    EnvVarSource {
                        config_map_key_ref: Some(key("a", "k")),
                        field_ref: field("metadata.name").field_ref,
                        ..EnvVarSource::default()
                    },
                )
            },
            from(
                "BAD_REF",
                EnvVarSource {
                    secret_key_ref: Some(key("Not_Valid", "")),
                    ..EnvVarSource::default()
                },
            ),
            from("NONE", EnvVarSource::default()),
        ];
        let env_from = vec![
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
        let errors = check(env, env_from);
        assert_eq!(
            paths(&errors),
            [
                "spec.containers[0].env[1].valueFrom",
                "spec.containers[0].env[1].valueFrom",
                "spec.containers[0].env[2].valueFrom.secretKeyRef.key",
                "spec.containers[0].env[2].valueFrom.secretKeyRef.name",
                "spec.containers[0].env[3].valueFrom",
                "spec.containers[0].envFrom[1]",
            ]
        );
        assert_eq!(
            errors[4].message,
            "exactly one of configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef is required"
        );
        assert_eq!(
            errors[5].message,
            "exactly one of configMapRef, secretRef is required"
        );
    }

    #[test]
    fn field_refs_take_the_pod_fields_kubernetes_exposes() {
        let mut old_version = field("metadata.name");
        if let Some(selector) = &mut old_version.field_ref {
            selector.api_version = "v2".into();
        }
        let env = vec![
            from("NAME", field("metadata.name")),
            from("IPS", field("status.podIPs")),
            from("APP", field("metadata.labels['app.kubernetes.io/name']")),
            from("NOTE", field("metadata.annotations['Example.COM/Note']")),
            from("PHASE", field("status.phase")),
            from("LABELS", field("metadata.labels")),
            from("BAD_KEY", field("metadata.labels['a b']")),
            from("SUBSCRIPT", field("metadata.name['x']")),
            from("OLD", old_version),
            from("EMPTY", field("")),
        ];
        let errors = check(env, vec![]);
        let at = |index: usize, field: &str| format!("spec.containers[0].env[{index}].{field}");
        assert_eq!(
            paths(&errors),
            [
                at(4, "valueFrom.fieldRef.fieldPath"),
                at(5, "valueFrom.fieldRef.fieldPath"),
                at(6, "valueFrom.fieldRef.fieldPath"),
                at(7, "valueFrom.fieldRef.fieldPath"),
                at(8, "valueFrom.fieldRef.apiVersion"),
                at(9, "valueFrom.fieldRef.fieldPath"),
            ]
        );
        assert_eq!(
            errors[0].message,
            "Unsupported value: \"status.phase\": supported values: \"metadata.name\", \
             \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \
             \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \
             \"status.podIP\", \"status.podIPs\", \"metadata.annotations['<KEY>']\", \
             \"metadata.labels['<KEY>']\""
        );
        assert!(
            errors[2]
                .message
                .starts_with("Invalid value: \"metadata.labels['a b']\": name part of \"a b\""),
            "{}",
            errors[2].message
        );
        assert_eq!(
            errors[4].message,
            "Unsupported value: \"v2\": supported values: \"v1\""
        );
        assert_eq!(errors[5].message, "Required value");
    }

    #[test]
    fn resource_field_refs_name_a_resource_a_container_and_a_unit() {
        let env = vec![
            from("CPU", resource("", "limits.cpu", Some("1m"))),
            from("MEM", resource("setup", "requests.memory", Some("1Mi"))),
            from("MEM_MILLI", resource("app", "limits.memory", Some("1000m"))),
            from("UNSET", resource("", "limits.ephemeral-storage", Some("0"))),
            from("GPU", resource("", "limits.nvidia.com/gpu", None)),
            from("OTHER", resource("db", "limits.cpu", None)),
            from("CPU_UNIT", resource("", "requests.cpu", Some("10m"))),
            from(
                "DISK_UNIT",
                resource("", "limits.ephemeral-storage", Some("2Ki")),
            ),
            from("BAD_UNIT", resource("", "limits.memory", Some("lots"))),
            from("NOTHING", resource("", "", None)),
        ];
        let errors = check(env, vec![]);
        let at = |index: usize, field: &str| {
            format!("spec.containers[0].env[{index}].valueFrom.resourceFieldRef.{field}")
        };
        assert_eq!(
            paths(&errors),
            [
                at(4, "resource"),
                at(5, "containerName"),
                at(6, "divisor"),
                at(7, "divisor"),
                at(8, "divisor"),
                at(9, "resource"),
            ]
        );
        assert!(
            errors[0].message.starts_with(
                "Unsupported value: \"limits.nvidia.com/gpu\": supported values: \"limits.cpu\""
            ),
            "{}",
            errors[0].message
        );
        assert_eq!(
            errors[1].message,
            "Not found: \"db\": the pod has no container of that name"
        );
        assert_eq!(
            errors[2].message,
            "Invalid value: \"10m\": only divisor's values 1m and 1 are supported with the cpu \
             resource"
        );
        assert!(
            errors[3]
                .message
                .ends_with("are supported with the local ephemeral storage resource"),
            "{}",
            errors[3].message
        );
        assert_eq!(errors[5].message, "Required value");
    }
}
