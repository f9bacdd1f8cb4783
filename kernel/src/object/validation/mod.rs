//! Validation: the checks the API runs on every object (after defaulting) before storing it.
//!
//! Validation is a pure function of the object. It collects every problem rather than stopping
//! at the first, and each problem carries the JSON path of the field (`spec.containers[0].image`)
//! so an operator can find it in the manifest. Checks follow Kubernetes' rules where flotilla
//! has the same field; the submodules hold one area each.

mod affinity;
mod cron_job;
mod daemon_set;
mod data;
mod endpoint_slice;
mod env;
mod job;
mod labels;
mod meta;
mod network_policy;
mod node;
mod pod;
mod pod_disruption_budget;
mod pod_dns;
mod priority_class;
mod probe;
mod runtime_class;
mod service;
mod stateful_set;
mod toleration;
mod workload;

use std::fmt;

use super::kind::Kind;
use super::resource::Object;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.containers[0].resources.limits.memory`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every problem found in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors {
    pub kind: Kind,
    /// The object's name (or its `generateName` prefix, if it has no name yet).
    pub name: String,
    pub errors: Vec<FieldError>,
}

impl fmt::Display for ValidationErrors {
    /// `<kind> <name>: <path>: <message>; <path>: <message>`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.kind, self.name)?;
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", error.path, error.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Checks the object against the rules of its kind.
pub fn validate(object: &Object) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    let kind = object.kind();
    meta::validate_type_fields(object, &mut errors);
    meta::validate_object_meta(kind, object.meta(), &mut errors);
    match object {
        Object::Namespace(_) => {}
        Object::Node(node) => node::validate_node(node, &mut errors),
        Object::Pod(pod) => pod::validate_pod_spec(&pod.spec, "spec", &mut errors),
        Object::ReplicaSet(replica_set) => {
            workload::validate_replica_set_spec(&replica_set.spec, &mut errors)
        }
        Object::Deployment(deployment) => {
            workload::validate_deployment_spec(&deployment.spec, &mut errors)
        }
        Object::ConfigMap(config_map) => data::validate_config_map(config_map, &mut errors),
        Object::Secret(secret) => data::validate_secret(secret, &mut errors),
        Object::Lease(lease) => data::validate_lease(lease, &mut errors),
        Object::RuntimeClass(class) => runtime_class::validate_runtime_class(class, &mut errors),
        Object::Service(service) => service::validate_service(service, &mut errors),
        Object::EndpointSlice(slice) => endpoint_slice::validate_endpoint_slice(slice, &mut errors),
        Object::NetworkPolicy(policy) => {
            network_policy::validate_network_policy(policy, &mut errors)
        }
        Object::PriorityClass(class) => priority_class::validate_priority_class(class, &mut errors),
        Object::PodDisruptionBudget(pdb) => {
            pod_disruption_budget::validate_pod_disruption_budget(pdb, &mut errors)
        }
        Object::Job(job) => job::validate_job(job, &mut errors),
        Object::CronJob(cron_job) => cron_job::validate_cron_job(cron_job, &mut errors),
        Object::DaemonSet(daemon_set) => {
            daemon_set::validate_daemon_set_spec(&daemon_set.spec, &mut errors)
        }
        Object::StatefulSet(set) => {
            stateful_set::validate_stateful_set_spec(&set.spec, &mut errors)
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let meta = object.meta();
    let name = if !meta.name.is_empty() {
        meta.name.clone()
    } else if !meta.generate_name.is_empty() {
        format!("{}*", meta.generate_name)
    } else {
        "(unnamed)".to_owned()
    };
    Err(ValidationErrors { kind, name, errors })
}

/// Records a problem at `path`.
fn report(errors: &mut Vec<FieldError>, path: impl Into<String>, message: impl Into<String>) {
    errors.push(FieldError {
        path: path.into(),
        message: message.into(),
    });
}

/// Kubernetes' message for a value outside a fixed set.
fn unsupported(value: &str, supported: &[&str]) -> String {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    format!(
        "Unsupported value: {value:?}: supported values: {}",
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::namespace::Namespace;
    use crate::object::pod::Pod;
    use crate::object::pod_spec::Container;

    #[test]
    fn display_lists_every_problem_with_its_path() {
        let errors = ValidationErrors {
            kind: Kind::Pod,
            name: "web-1".into(),
            errors: vec![
                FieldError {
                    path: "spec.containers[0].resources.limits.memory".into(),
                    message: "limit 64Mi is below the request 128Mi".into(),
                },
                FieldError {
                    path: "spec.containers[0].image".into(),
                    message: "required".into(),
                },
            ],
        };
        assert_eq!(
            errors.to_string(),
            "Pod web-1: spec.containers[0].resources.limits.memory: limit 64Mi is below the \
             request 128Mi; spec.containers[0].image: required"
        );
    }

    #[test]
    fn a_valid_pod_passes() {
        let mut pod = Pod::default();
        pod.metadata.name = "web-1".into();
        pod.metadata.namespace = "default".into();
        pod.spec.containers.push(Container {
            name: "web".into(),
            image: "web:1".into(),
            ..Container::default()
        });
        assert_eq!(validate(&Object::Pod(pod)), Ok(()));
    }

    #[test]
    fn unnamed_objects_are_reported_by_prefix_or_placeholder() {
        let mut pod = Pod::default();
        pod.metadata.generate_name = "web-".into();
        let error = validate(&Object::Pod(pod)).unwrap_err();
        assert_eq!(error.name, "web-*");
        let error = validate(&Object::Namespace(Namespace::default())).unwrap_err();
        assert_eq!(error.name, "(unnamed)");
        assert_eq!(error.errors[0].path, "metadata.name");
    }
}
