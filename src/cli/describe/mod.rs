//! `flotilla describe`: a readable, multi-line view of objects, one view per kind. The views
//! are pure functions of the object and of what it relates to (a node's pods, a workload's
//! ReplicaSets or pods), so they are tested without a server; the driver here only fetches.

mod conditions;
mod container;
mod daemon_sets;
mod data;
mod disruption_budget;
mod jobs;
mod layout;
mod meta;
mod namespace;
mod network_policies;
mod node;
mod pod;
mod priority_class;
mod resources;
mod runtime_class;
mod services;
mod stateful_sets;
mod workload;

use std::process::ExitCode;
use std::time::SystemTime;

use flotilla_kernel::api::{ApiClient, ClientError};
use flotilla_kernel::object::{
    EndpointSlice, Object, Pod, ReplicaSet, Resource, SERVICE_NAME_LABEL,
};

use super::{exit_code, lookup, namespace as chosen_namespace, resource_arg, terminal};

#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// KIND[,KIND...] [NAME...] or KIND/NAME...; without a name, every object of the kind.
    #[arg(required = true, value_name = "RESOURCE")]
    resources: Vec<String>,
    /// The namespace to look in (default: "default").
    #[arg(short, long)]
    namespace: Option<String>,
}

pub async fn run(args: DescribeArgs, api: &ApiClient) -> anyhow::Result<ExitCode> {
    let flag = args.namespace.as_deref();
    let now = SystemTime::now();
    let mut failed = false;
    let mut shown = 0;
    for target in resource_arg::parse_targets(&args.resources)? {
        let kind = target.kind;
        let namespace = chosen_namespace::for_kind(kind, flag);
        let mut objects = Vec::new();
        if target.names.is_empty() {
            let scope = kind.namespaced().then_some(namespace);
            let (listed, _revision) = api.list_raw(kind, scope, None).await?;
            if listed.is_empty() {
                match scope {
                    Some(namespace) => {
                        terminal::notice(format!("No resources found in {namespace} namespace."))?
                    }
                    None => terminal::notice("No resources found")?,
                }
            }
            objects = listed;
        }
        for name in &target.names {
            match lookup::get_raw(api, kind, namespace, name).await {
                Ok(raw) => objects.push(raw),
                Err(error) => {
                    failed = true;
                    terminal::print_error(&error.into())?;
                }
            }
        }
        for raw in &objects {
            let text = view(api, &lookup::decode(raw)?, now).await?;
            if shown > 0 {
                terminal::print("\n")?;
            }
            terminal::print(&text)?;
            shown += 1;
        }
    }
    Ok(exit_code(failed))
}

/// The object's view, with what it relates to fetched from the API.
async fn view(api: &ApiClient, object: &Object, now: SystemTime) -> Result<String, ClientError> {
    let text = match object {
        Object::Pod(pod) => pod::view(pod),
        Object::Namespace(namespace) => namespace::view(namespace),
        Object::ConfigMap(config_map) => data::config_map_view(config_map),
        Object::Secret(secret) => data::secret_view(secret),
        Object::Lease(lease) => data::lease_view(lease),
        Object::RuntimeClass(class) => runtime_class::view(class),
        Object::PriorityClass(class) => priority_class::view(class),
        Object::EndpointSlice(slice) => services::endpoint_slice_view(slice),
        Object::NetworkPolicy(policy) => network_policies::view(policy),
        Object::PodDisruptionBudget(pdb) => disruption_budget::view(pdb),
        Object::Service(service) => {
            let meta = &service.metadata;
            let selector = format!("{SERVICE_NAME_LABEL}={}", meta.name);
            let (slices, _revision) = api
                .list::<EndpointSlice>(Some(&meta.namespace), Some(&selector))
                .await?;
            services::service_view(service, &slices)
        }
        Object::Node(node) => {
            let (pods, _revision) = api.list::<Pod>(None, None).await?;
            let on_node: Vec<Pod> = pods
                .into_iter()
                .filter(|pod| pod.spec.node_name == node.metadata.name && !pod.is_terminal())
                .collect();
            node::view(node, &on_node, now)
        }
        Object::Deployment(deployment) => {
            let meta = &deployment.metadata;
            let (sets, _revision) = api.list::<ReplicaSet>(Some(&meta.namespace), None).await?;
            workload::deployment_view(deployment, &controlled_by(sets, &meta.uid), now)
        }
        Object::ReplicaSet(replica_set) => {
            let meta = &replica_set.metadata;
            let (pods, _revision) = api.list::<Pod>(Some(&meta.namespace), None).await?;
            workload::replica_set_view(replica_set, &controlled_by(pods, &meta.uid))
        }
        Object::Job(job) => {
            let meta = &job.metadata;
            let (pods, _revision) = api.list::<Pod>(Some(&meta.namespace), None).await?;
            jobs::view(job, &controlled_by(pods, &meta.uid))
        }
        Object::CronJob(cron_job) => jobs::cron_job_view(cron_job),
        Object::DaemonSet(daemon_set) => {
            let meta = &daemon_set.metadata;
            let (pods, _revision) = api.list::<Pod>(Some(&meta.namespace), None).await?;
            daemon_sets::view(daemon_set, &controlled_by(pods, &meta.uid))
        }
        Object::StatefulSet(set) => {
            let meta = &set.metadata;
            let (pods, _revision) = api.list::<Pod>(Some(&meta.namespace), None).await?;
            stateful_sets::view(set, &controlled_by(pods, &meta.uid))
        }
    };
    Ok(text)
}

/// The objects whose controller is the object with `uid`.
fn controlled_by<T: Resource>(objects: Vec<T>, uid: &str) -> Vec<T> {
    objects
        .into_iter()
        .filter(|object| {
            object
                .meta()
                .controller_ref()
                .is_some_and(|owner| owner.uid == uid)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::OwnerReference;

    use super::*;

    fn pod(name: &str, owner_uid: &str, controller: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = name.to_string();
        pod.metadata.owner_references.push(OwnerReference {
            kind: "ReplicaSet".to_string(),
            uid: owner_uid.to_string(),
            controller: Some(controller),
            ..OwnerReference::default()
        });
        pod
    }

    #[test]
    fn only_objects_controlled_by_the_uid_belong_to_it() {
        let pods = vec![
            pod("mine", "u1", true),
            pod("other", "u2", true),
            pod("merely-owned", "u1", false),
            Pod::default(),
        ];
        let names: Vec<String> = controlled_by(pods, "u1")
            .into_iter()
            .map(|pod| pod.metadata.name)
            .collect();
        assert_eq!(names, ["mine"]);
    }
}
