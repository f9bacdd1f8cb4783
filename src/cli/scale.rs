//! `flotilla scale`: sets the replicas of Deployments, ReplicaSets and StatefulSets. It reads the object,
//! changes only `spec.replicas` and writes it back with the resourceVersion it read, so a
//! concurrent change is never overwritten: on a Conflict it reads again and retries, a few
//! times, and then gives up with the API's error.

use std::process::ExitCode;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode};
use flotilla_kernel::object::{Deployment, Kind, ReplicaSet, Resource, StatefulSet};

use super::{exit_code, lookup, namespace, resource_arg, terminal};

/// How many times a write is tried when others keep changing the object in between.
const MAX_ATTEMPTS: usize = 5;

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// deployment/NAME, rs/NAME or sts/NAME (repeatable), or KIND NAME...
    #[arg(required = true, value_name = "RESOURCE")]
    resources: Vec<String>,
    /// The number of replicas wanted.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    replicas: i32,
    /// The namespace (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
}

/// The arguments name nothing that can be scaled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScaleError {
    #[error(
        "{kind} cannot be scaled: only deployments, replicasets and statefulsets have replicas"
    )]
    NotScalable { kind: String },
    #[error("no name given: scale {kind} NAME or {kind}/NAME")]
    NoNames { kind: String },
}

/// A workload whose replicas can be set.
trait Scalable: Resource {
    fn set_replicas(&mut self, replicas: i32);
}

impl Scalable for Deployment {
    fn set_replicas(&mut self, replicas: i32) {
        self.spec.replicas = Some(replicas);
    }
}

impl Scalable for ReplicaSet {
    fn set_replicas(&mut self, replicas: i32) {
        self.spec.replicas = Some(replicas);
    }
}

impl Scalable for StatefulSet {
    fn set_replicas(&mut self, replicas: i32) {
        self.spec.replicas = Some(replicas);
    }
}

pub async fn run(args: ScaleArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let targets = resource_arg::parse_targets(&args.resources)?;
    for target in &targets {
        let kind = resource_arg::resource_name(target.kind);
        if !matches!(
            target.kind,
            Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet
        ) {
            return Err(ScaleError::NotScalable { kind }.into());
        }
        if target.names.is_empty() {
            return Err(ScaleError::NoNames { kind }.into());
        }
    }
    let namespace = namespace::chosen(args.namespace.as_deref());
    let mut failed = false;
    for target in targets {
        for name in &target.names {
            let scaled = match target.kind {
                Kind::Deployment => scale::<Deployment>(api, namespace, name, args.replicas).await,
                Kind::StatefulSet => {
                    scale::<StatefulSet>(api, namespace, name, args.replicas).await
                }
                _ => scale::<ReplicaSet>(api, namespace, name, args.replicas).await,
            };
            match scaled {
                Ok(()) => terminal::print_line(format!(
                    "{}/{name} scaled",
                    resource_arg::type_name(target.kind)
                ))?,
                Err(error) => {
                    failed = true;
                    terminal::print_error(&lookup::worded(error, target.kind, name).into())?;
                }
            }
        }
    }
    Ok(exit_code(failed))
}

/// Reads, sets the replicas and writes back, reading again after a Conflict.
async fn scale<T: Scalable>(
    api: &ApiClient,
    namespace: &str,
    name: &str,
    replicas: i32,
) -> Result<(), ClientError> {
    let mut attempt = 1;
    loop {
        let mut object: T = api.get(namespace, name).await?;
        object.set_replicas(replicas);
        match api.update(&object).await {
            Ok(_) => return Ok(()),
            Err(error)
                if error.api_code() == Some(ErrorCode::Conflict) && attempt < MAX_ATTEMPTS =>
            {
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_replicas_touches_only_the_spec() {
        let mut deployment = Deployment::default();
        deployment.metadata.resource_version = "42".to_string();
        deployment.set_replicas(5);
        assert_eq!(deployment.spec.replicas, Some(5));
        assert_eq!(deployment.metadata.resource_version, "42");
        let mut replica_set = ReplicaSet::default();
        replica_set.set_replicas(0);
        assert_eq!(replica_set.spec.replicas, Some(0));
        let mut stateful_set = StatefulSet::default();
        stateful_set.set_replicas(2);
        assert_eq!(stateful_set.spec.replicas, Some(2));
    }
}
