//! Defaulting: the values the API fills in before validating and storing an object, the same
//! ones Kubernetes fills in, so that controllers never have to guess what an absent field means.
//!
//! Defaulting is idempotent: applying it twice gives the same object.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::config_map::{SECRET_TYPE_OPAQUE, Secret};
use super::cron_job::default_cron_job;
use super::daemon_set::{DaemonSetSpec, DaemonSetUpdateStrategyType, RollingUpdateDaemonSet};
use super::deployment::{DeploymentSpec, RollingUpdateDeployment, StrategyType};
use super::endpoint_slice::EndpointSlice;
use super::intstr::IntOrString;
use super::job::default_job;
use super::network_policy::{NetworkPolicySpec, PolicyType};
use super::pod_spec::{Container, ContainerPort, ObjectFieldSelector, PodSpec};
use super::priority_class::PREEMPT_LOWER_PRIORITY;
use super::probe::{HttpGetAction, Lifecycle, Probe};
use super::resource::Object;
use super::service::{
    ClientIpConfig, DEFAULT_CLIENT_IP_TIMEOUT_SECONDS, IpFamily, IpFamilyPolicy, ServiceSpec,
    SessionAffinity, SessionAffinityConfig, TrafficPolicy,
};
use super::stateful_set::{RollingUpdateStatefulSetStrategy, StatefulSetSpec};

/// Seconds a pod gets between SIGTERM and SIGKILL when it does not say.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
/// Replicas of a Deployment or ReplicaSet that does not say.
pub const DEFAULT_REPLICAS: i32 = 1;
/// Old ReplicaSets a Deployment keeps when it does not say.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// `maxSurge` and `maxUnavailable` of a rolling update that does not say.
pub const DEFAULT_ROLLING_UPDATE_BOUND: &str = "25%";

/// Fills in `apiVersion`, `kind` and every defaulted field of the object's kind.
pub fn apply_defaults(object: &mut Object) {
    object.set_type_fields();
    match object {
        Object::Namespace(_)
        | Object::Node(_)
        | Object::ConfigMap(_)
        | Object::Lease(_)
        | Object::RuntimeClass(_) => {}
        Object::Secret(secret) => default_secret(secret),
        Object::Pod(pod) => default_pod_spec(&mut pod.spec),
        Object::ReplicaSet(replica_set) => {
            let spec = &mut replica_set.spec;
            spec.replicas.get_or_insert(DEFAULT_REPLICAS);
            default_pod_spec(&mut spec.template.spec);
        }
        Object::Deployment(deployment) => default_deployment_spec(&mut deployment.spec),
        Object::Service(service) => default_service_spec(&mut service.spec),
        Object::EndpointSlice(slice) => default_endpoint_slice(slice),
        Object::NetworkPolicy(policy) => default_network_policy_spec(&mut policy.spec),
        Object::PriorityClass(class) => {
            class
                .preemption_policy
                .get_or_insert_with(|| PREEMPT_LOWER_PRIORITY.to_string());
        }
        Object::PodDisruptionBudget(_) => {}
        Object::Job(job) => {
            default_job(job);
            default_pod_spec(&mut job.spec.template.spec);
        }
        Object::CronJob(cron_job) => {
            default_cron_job(cron_job);
            default_pod_spec(&mut cron_job.spec.job_template.spec.template.spec);
        }
        Object::DaemonSet(daemon_set) => default_daemon_set_spec(&mut daemon_set.spec),
        Object::StatefulSet(set) => default_stateful_set_spec(&mut set.spec),
    }
}

/// `restartPolicy` is `Always` by the type's own default; the grace period and the
/// containers' fields are filled in here.
fn default_pod_spec(spec: &mut PodSpec) {
    spec.termination_grace_period_seconds
        .get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    if spec.dns_policy.is_empty() {
        spec.dns_policy = "ClusterFirst".into();
    }
    for container in spec.all_containers_mut() {
        default_container(container);
    }
}

/// Pull policy, port protocols, requests from limits, the termination message, probes, hooks
/// and the API version of downward-API fields; the same for init containers.
fn default_container(container: &mut Container) {
    if container.image_pull_policy.is_empty() && container.image != Container::HOST_IMAGE {
        container.image_pull_policy = Container::default_pull_policy(&container.image).into();
    }
    for port in &mut container.ports {
        if port.protocol.is_empty() {
            port.protocol = ContainerPort::DEFAULT_PROTOCOL.into();
        }
    }
    let resources = &mut container.resources;
    for (resource, limit) in &resources.limits {
        resources
            .requests
            .entry(resource.clone())
            .or_insert_with(|| limit.clone());
    }
    if container.termination_message_path.is_empty() {
        container.termination_message_path = Container::DEFAULT_TERMINATION_MESSAGE_PATH.into();
    }
    if container.termination_message_policy.is_empty() {
        container.termination_message_policy = Container::TERMINATION_MESSAGE_FILE.into();
    }
    for probe in [
        &mut container.liveness_probe,
        &mut container.readiness_probe,
        &mut container.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
    if let Some(lifecycle) = &mut container.lifecycle {
        default_lifecycle(lifecycle);
    }
    for source in container
        .env
        .iter_mut()
        .filter_map(|variable| variable.value_from.as_mut())
    {
        if let Some(selector) = &mut source.field_ref
            && selector.api_version.is_empty()
        {
            selector.api_version = ObjectFieldSelector::DEFAULT_API_VERSION.into();
        }
    }
}

/// Kubernetes fills in a probe's zero counts and periods (not `initialDelaySeconds`, whose
/// default is 0).
fn default_probe(probe: &mut Probe) {
    for (field, default) in [
        (&mut probe.timeout_seconds, Probe::DEFAULT_TIMEOUT_SECONDS),
        (&mut probe.period_seconds, Probe::DEFAULT_PERIOD_SECONDS),
        (
            &mut probe.success_threshold,
            Probe::DEFAULT_SUCCESS_THRESHOLD,
        ),
        (
            &mut probe.failure_threshold,
            Probe::DEFAULT_FAILURE_THRESHOLD,
        ),
    ] {
        if *field == 0 {
            *field = default;
        }
    }
    if let Some(action) = &mut probe.http_get {
        default_http_get(action);
    }
}

fn default_lifecycle(lifecycle: &mut Lifecycle) {
    for handler in [&mut lifecycle.post_start, &mut lifecycle.pre_stop]
        .into_iter()
        .flatten()
    {
        if let Some(action) = &mut handler.http_get {
            default_http_get(action);
        }
    }
}

fn default_http_get(action: &mut HttpGetAction) {
    if action.path.is_empty() {
        action.path = HttpGetAction::DEFAULT_PATH.into();
    }
    if action.scheme.is_empty() {
        action.scheme = HttpGetAction::SCHEME_HTTP.into();
    }
}

/// `type` defaults to `Opaque`; `stringData` is write-only, folded into `data` as base64.
fn default_secret(secret: &mut Secret) {
    if secret.secret_type.is_empty() {
        secret.secret_type = SECRET_TYPE_OPAQUE.to_owned();
    }
    for (key, value) in std::mem::take(&mut secret.string_data) {
        secret.data.insert(key, BASE64.encode(value));
    }
}

fn default_deployment_spec(spec: &mut DeploymentSpec) {
    spec.replicas.get_or_insert(DEFAULT_REPLICAS);
    spec.revision_history_limit
        .get_or_insert(DEFAULT_REVISION_HISTORY_LIMIT);
    if spec.strategy.type_ == StrategyType::RollingUpdate {
        let rolling_update = spec
            .strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDeployment::default);
        let bound = || IntOrString::String(DEFAULT_ROLLING_UPDATE_BOUND.to_owned());
        rolling_update.max_surge.get_or_insert_with(bound);
        rolling_update.max_unavailable.get_or_insert_with(bound);
    }
    default_pod_spec(&mut spec.template.spec);
}

/// Kubernetes' DaemonSet defaults: RollingUpdate one node at a time (`maxUnavailable` 1,
/// `maxSurge` 0) and ten old revisions.
fn default_daemon_set_spec(spec: &mut DaemonSetSpec) {
    spec.revision_history_limit
        .get_or_insert(DEFAULT_REVISION_HISTORY_LIMIT);
    let strategy = &mut spec.update_strategy;
    if strategy.type_ == DaemonSetUpdateStrategyType::RollingUpdate {
        let rolling_update = strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateDaemonSet::default);
        rolling_update
            .max_unavailable
            .get_or_insert(IntOrString::Int(1));
        rolling_update.max_surge.get_or_insert(IntOrString::Int(0));
    }
    default_pod_spec(&mut spec.template.spec);
}

/// Kubernetes' StatefulSet defaults: one replica, `OrderedReady` (the type's own default),
/// RollingUpdate from partition 0, ten old revisions.
fn default_stateful_set_spec(spec: &mut StatefulSetSpec) {
    spec.replicas.get_or_insert(DEFAULT_REPLICAS);
    spec.revision_history_limit
        .get_or_insert(DEFAULT_REVISION_HISTORY_LIMIT);
    let strategy = &mut spec.update_strategy;
    if strategy.type_ == DaemonSetUpdateStrategyType::RollingUpdate {
        strategy
            .rolling_update
            .get_or_insert_with(RollingUpdateStatefulSetStrategy::default)
            .partition
            .get_or_insert(0);
    }
    default_pod_spec(&mut spec.template.spec);
}

/// Ports get `TCP` and a target port equal to the port; `ClientIP` affinity its three hours;
/// `clusterIP` and `clusterIPs` are filled in from each other; the IP family, the traffic
/// policies of the types that have them. The ClusterIP and node ports themselves are the
/// API server's to allocate.
fn default_service_spec(spec: &mut ServiceSpec) {
    for port in &mut spec.ports {
        if port.protocol.is_empty() {
            port.protocol = ContainerPort::DEFAULT_PROTOCOL.into();
        }
        let unset = match &port.target_port {
            None => true,
            Some(IntOrString::Int(number)) => *number == 0,
            Some(IntOrString::String(name)) => name.is_empty(),
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    if spec.session_affinity == SessionAffinity::ClientIp {
        let config = spec
            .session_affinity_config
            .get_or_insert_with(SessionAffinityConfig::default);
        let client_ip = config.client_ip.get_or_insert_with(ClientIpConfig::default);
        client_ip
            .timeout_seconds
            .get_or_insert(DEFAULT_CLIENT_IP_TIMEOUT_SECONDS);
    }
    match (spec.cluster_ip.is_empty(), spec.cluster_ips.first()) {
        (false, None) => spec.cluster_ips = vec![spec.cluster_ip.clone()],
        (true, Some(first)) => spec.cluster_ip = first.clone(),
        _ => {}
    }
    if spec.type_.uses_cluster_ip() {
        if spec.ip_families.is_empty() {
            spec.ip_families = vec![IpFamily::Ipv4];
        }
        spec.ip_family_policy
            .get_or_insert(IpFamilyPolicy::SingleStack);
        spec.internal_traffic_policy
            .get_or_insert(TrafficPolicy::Cluster);
    }
    if spec.type_.uses_node_ports() {
        spec.external_traffic_policy
            .get_or_insert(TrafficPolicy::Cluster);
    }
}

/// Ports get `TCP`.
fn default_endpoint_slice(slice: &mut EndpointSlice) {
    for port in &mut slice.ports {
        if port.protocol.is_empty() {
            port.protocol = ContainerPort::DEFAULT_PROTOCOL.into();
        }
    }
}

/// Ports get `TCP`; `policyTypes`, when not given, is `Ingress`, and `Egress` too when
/// there are egress rules (so a policy with only egress rules still isolates ingress, as in
/// Kubernetes).
fn default_network_policy_spec(spec: &mut NetworkPolicySpec) {
    let ingress = spec.ingress.iter_mut().flat_map(|rule| &mut rule.ports);
    let egress = spec.egress.iter_mut().flat_map(|rule| &mut rule.ports);
    for port in ingress.chain(egress) {
        if port.protocol.is_empty() {
            port.protocol = ContainerPort::DEFAULT_PROTOCOL.into();
        }
    }
    if spec.policy_types.is_empty() {
        spec.policy_types.push(PolicyType::Ingress);
        if !spec.egress.is_empty() {
            spec.policy_types.push(PolicyType::Egress);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::deployment::Deployment;
    use crate::object::endpoint_slice::EndpointPort;
    use crate::object::network_policy::{
        NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPort,
    };
    use crate::object::pod::Pod;
    use crate::object::pod_spec::{Container, RestartPolicy};
    use crate::object::quantity::Quantity;
    use crate::object::replica_set::ReplicaSet;
    use crate::object::resource::Resource;
    use crate::object::service::{Service, ServicePort, ServiceType};

    fn container_with_limits() -> Container {
        let mut container = Container {
            name: "app".into(),
            image: "app:1".into(),
            ..Container::default()
        };
        let resources = &mut container.resources;
        resources.limits.insert("cpu".into(), Quantity::from("1"));
        resources
            .limits
            .insert("memory".into(), Quantity::from("1Gi"));
        resources
            .requests
            .insert("cpu".into(), Quantity::from("250m"));
        container
    }

    #[test]
    fn secrets_get_a_type_and_string_data_folded_into_data() {
        let mut secret = Secret::default();
        secret.data.insert("a".into(), "b2xk".into());
        secret.string_data.insert("a".into(), "new".into());
        secret.string_data.insert("b".into(), "x".into());
        let mut object = Object::Secret(secret);
        apply_defaults(&mut object);
        let Object::Secret(secret) = object else {
            unreachable!()
        };
        assert_eq!(secret.secret_type, "Opaque");
        assert!(secret.string_data.is_empty());
        assert_eq!(secret.data["a"], "bmV3");
        assert_eq!(secret.data["b"], "eA==");
    }

    #[test]
    fn pods_get_type_fields_grace_period_and_requests() {
        let mut pod = Pod::default();
        pod.spec.containers.push(container_with_limits());
        let mut object = pod.into_object();
        apply_defaults(&mut object);
        let pod = Pod::from_object(object).unwrap();
        assert_eq!((pod.api_version.as_str(), pod.kind.as_str()), ("v1", "Pod"));
        assert_eq!(pod.spec.restart_policy, RestartPolicy::Always);
        assert_eq!(pod.spec.termination_grace_period_seconds, Some(30));
        let requests = &pod.spec.containers[0].resources.requests;
        assert_eq!(requests["cpu"], Quantity::from("250m"));
        assert_eq!(requests["memory"], Quantity::from("1Gi"));
    }

    #[test]
    fn pull_policies_follow_the_tag_and_ports_default_to_tcp() {
        for (image, policy) in [
            ("busybox", "Always"),
            ("busybox:latest", "Always"),
            ("busybox:1.36", "IfNotPresent"),
            ("localhost:5000/app", "Always"),
            ("localhost:5000/app:v2", "IfNotPresent"),
            ("app@sha256:0123", "IfNotPresent"),
        ] {
            assert_eq!(Container::default_pull_policy(image), policy, "{image}");
        }
        let mut spec = PodSpec {
            containers: vec![
                Container {
                    name: "web".into(),
                    image: "nginx".into(),
                    ports: vec![ContainerPort {
                        container_port: 80,
                        ..ContainerPort::default()
                    }],
                    ..Container::default()
                },
                Container {
                    name: "tool".into(),
                    image: Container::HOST_IMAGE.into(),
                    image_pull_policy: String::new(),
                    ..Container::default()
                },
            ],
            ..PodSpec::default()
        };
        default_pod_spec(&mut spec);
        assert_eq!(spec.containers[0].image_pull_policy, "Always");
        assert_eq!(spec.containers[0].ports[0].protocol, "TCP");
        assert_eq!(
            spec.containers[1].image_pull_policy, "",
            "the host is not pulled"
        );
    }

    #[test]
    fn containers_and_init_containers_get_probe_hook_message_and_field_ref_defaults() {
        use crate::object::intstr::IntOrString;
        use crate::object::pod_spec::{EnvVar, EnvVarSource};
        use crate::object::probe::{Lifecycle, LifecycleHandler};

        let http_get = || {
            Some(HttpGetAction {
                port: IntOrString::Int(8080),
                ..HttpGetAction::default()
            })
        };
        let probe = Probe {
            http_get: http_get(),
            initial_delay_seconds: 0,
            period_seconds: 5,
            ..Probe::default()
        };
        let container = Container {
            name: "app".into(),
            image: "app".into(),
            ports: vec![ContainerPort {
                container_port: 8080,
                ..ContainerPort::default()
            }],
            liveness_probe: Some(probe.clone()),
            startup_probe: Some(probe),
            lifecycle: Some(Lifecycle {
                pre_stop: Some(LifecycleHandler {
                    http_get: http_get(),
                    ..LifecycleHandler::default()
                }),
                ..Lifecycle::default()
            }),
            env: vec![EnvVar {
                name: "POD".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.name".into(),
                        ..ObjectFieldSelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            }],
            ..Container::default()
        };
        let mut spec = PodSpec {
            init_containers: vec![Container {
                name: "sidecar".into(),
                restart_policy: Some(Container::RESTART_ALWAYS.into()),
                ..container.clone()
            }],
            containers: vec![container],
            ..PodSpec::default()
        };
        default_pod_spec(&mut spec);
        let once = spec.clone();
        default_pod_spec(&mut spec);
        assert_eq!(spec, once, "defaulting is idempotent");

        for container in spec.all_containers() {
            let name = &container.name;
            assert_eq!(container.image_pull_policy, "Always", "{name}");
            assert_eq!(container.ports[0].protocol, "TCP", "{name}");
            assert_eq!(
                container.termination_message_path, "/dev/termination-log",
                "{name}"
            );
            assert_eq!(container.termination_message_policy, "File", "{name}");
            for probe in [&container.liveness_probe, &container.startup_probe] {
                let probe = probe.as_ref().unwrap();
                assert_eq!(
                    (
                        probe.initial_delay_seconds,
                        probe.timeout_seconds,
                        probe.period_seconds,
                        probe.success_threshold,
                        probe.failure_threshold,
                    ),
                    (0, 1, 5, 1, 3),
                    "{name}"
                );
                let http = probe.http_get.as_ref().unwrap();
                assert_eq!((http.path.as_str(), http.scheme.as_str()), ("/", "HTTP"));
            }
            let lifecycle = container.lifecycle.as_ref().unwrap();
            let hook = lifecycle.pre_stop.as_ref().unwrap().http_get.as_ref();
            assert_eq!(hook.map(|http| http.scheme.as_str()), Some("HTTP"));
            let source = container.env[0].value_from.as_ref().unwrap();
            assert_eq!(source.field_ref.as_ref().unwrap().api_version, "v1");
        }
    }

    #[test]
    fn explicit_values_are_kept() {
        let mut pod = Pod::default();
        pod.spec.termination_grace_period_seconds = Some(0);
        pod.spec.restart_policy = RestartPolicy::Never;
        let mut object = pod.into_object();
        apply_defaults(&mut object);
        let pod = Pod::from_object(object).unwrap();
        assert_eq!(pod.spec.termination_grace_period_seconds, Some(0));
        assert_eq!(pod.spec.restart_policy, RestartPolicy::Never);
    }

    #[test]
    fn deployments_get_replicas_strategy_and_history() {
        let mut deployment = Deployment::default();
        deployment
            .spec
            .template
            .spec
            .containers
            .push(container_with_limits());
        let mut object = deployment.into_object();
        apply_defaults(&mut object);
        let once = object.clone();
        apply_defaults(&mut object);
        assert_eq!(object, once, "defaulting is idempotent");

        let deployment = Deployment::from_object(object).unwrap();
        assert_eq!(deployment.api_version, "apps/v1");
        assert_eq!(deployment.spec.replicas, Some(1));
        assert_eq!(deployment.spec.revision_history_limit, Some(10));
        let rolling = deployment.spec.strategy.rolling_update.unwrap();
        assert_eq!(rolling.max_surge, Some(IntOrString::String("25%".into())));
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("25%".into()))
        );
        let template = &deployment.spec.template.spec;
        assert_eq!(template.termination_grace_period_seconds, Some(30));
        assert!(
            template.containers[0]
                .resources
                .requests
                .contains_key("memory")
        );
    }

    #[test]
    fn partial_rolling_update_is_completed_and_recreate_left_alone() {
        let mut deployment = Deployment::default();
        deployment.spec.replicas = Some(0);
        deployment.spec.strategy.rolling_update = Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(0)),
            max_unavailable: None,
        });
        let mut object = deployment.into_object();
        apply_defaults(&mut object);
        let deployment = Deployment::from_object(object).unwrap();
        assert_eq!(deployment.spec.replicas, Some(0));
        let rolling = deployment.spec.strategy.rolling_update.unwrap();
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));
        assert_eq!(
            rolling.max_unavailable,
            Some(IntOrString::String("25%".into()))
        );

        let mut recreate = Deployment::default();
        recreate.spec.strategy.type_ = StrategyType::Recreate;
        let mut object = recreate.into_object();
        apply_defaults(&mut object);
        let recreate = Deployment::from_object(object).unwrap();
        assert_eq!(recreate.spec.strategy.rolling_update, None);
    }

    #[test]
    fn daemon_sets_roll_one_node_at_a_time_by_default() {
        use crate::object::daemon_set::{DaemonSet, DaemonSetUpdateStrategyType};
        let mut object = DaemonSet::default().into_object();
        apply_defaults(&mut object);
        let once = object.clone();
        apply_defaults(&mut object);
        assert_eq!(object, once, "defaulting is idempotent");
        let daemon_set = DaemonSet::from_object(object).unwrap();
        assert_eq!(daemon_set.api_version, "apps/v1");
        assert_eq!(daemon_set.spec.revision_history_limit, Some(10));
        let strategy = &daemon_set.spec.update_strategy;
        assert_eq!(strategy.type_, DaemonSetUpdateStrategyType::RollingUpdate);
        let rolling = strategy.rolling_update.clone().unwrap();
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));

        let mut on_delete = DaemonSet::default();
        on_delete.spec.update_strategy.type_ = DaemonSetUpdateStrategyType::OnDelete;
        let mut object = on_delete.into_object();
        apply_defaults(&mut object);
        let on_delete = DaemonSet::from_object(object).unwrap();
        assert_eq!(on_delete.spec.update_strategy.rolling_update, None);
    }

    #[test]
    fn stateful_sets_get_kubernetes_defaults() {
        use crate::object::stateful_set::{PodManagementPolicy, StatefulSet};
        let mut object = StatefulSet::default().into_object();
        apply_defaults(&mut object);
        let once = object.clone();
        apply_defaults(&mut object);
        assert_eq!(object, once, "defaulting is idempotent");
        let set = StatefulSet::from_object(object).unwrap();
        assert_eq!(set.api_version, "apps/v1");
        assert_eq!(set.spec.replicas, Some(1));
        assert_eq!(set.spec.revision_history_limit, Some(10));
        assert_eq!(
            set.spec.pod_management_policy,
            PodManagementPolicy::OrderedReady
        );
        let rolling = set.spec.update_strategy.rolling_update.unwrap();
        assert_eq!(rolling.partition, Some(0));
    }

    #[test]
    fn replica_sets_get_replicas_and_template_defaults() {
        let mut object = ReplicaSet::default().into_object();
        apply_defaults(&mut object);
        let replica_set = ReplicaSet::from_object(object).unwrap();
        assert_eq!(replica_set.kind, "ReplicaSet");
        assert_eq!(replica_set.spec.replicas, Some(1));
        assert_eq!(
            replica_set
                .spec
                .template
                .spec
                .termination_grace_period_seconds,
            Some(30)
        );
    }

    fn defaulted_service(spec: ServiceSpec) -> Service {
        let mut object = Service {
            spec,
            ..Service::default()
        }
        .into_object();
        apply_defaults(&mut object);
        let once = object.clone();
        apply_defaults(&mut object);
        assert_eq!(object, once, "defaulting is idempotent");
        Service::from_object(object).unwrap()
    }

    #[test]
    fn services_get_protocols_target_ports_affinity_families_and_policies() {
        let service = defaulted_service(ServiceSpec {
            type_: ServiceType::NodePort,
            session_affinity: SessionAffinity::ClientIp,
            cluster_ip: "10.43.0.10".into(),
            ports: vec![
                ServicePort {
                    port: 80,
                    ..ServicePort::default()
                },
                ServicePort {
                    name: "dns".into(),
                    protocol: "UDP".into(),
                    port: 53,
                    target_port: Some(IntOrString::String("dns".into())),
                    ..ServicePort::default()
                },
            ],
            ..ServiceSpec::default()
        });
        assert_eq!(
            (service.api_version.as_str(), service.kind.as_str()),
            ("v1", "Service")
        );
        let spec = &service.spec;
        assert_eq!(spec.ports[0].protocol, "TCP");
        assert_eq!(spec.ports[0].target_port, Some(IntOrString::Int(80)));
        assert_eq!(spec.ports[1].protocol, "UDP");
        assert_eq!(
            spec.ports[1].target_port,
            Some(IntOrString::String("dns".into()))
        );
        assert_eq!(spec.client_ip_timeout_seconds(), Some(10_800));
        assert!(spec.session_affinity_config.is_some());
        assert_eq!(spec.cluster_ips, ["10.43.0.10"]);
        assert_eq!(spec.ip_families, [IpFamily::Ipv4]);
        assert_eq!(spec.ip_family_policy, Some(IpFamilyPolicy::SingleStack));
        assert_eq!(spec.internal_traffic_policy, Some(TrafficPolicy::Cluster));
        assert_eq!(spec.external_traffic_policy, Some(TrafficPolicy::Cluster));
    }

    #[test]
    fn a_cluster_ip_service_has_no_external_policy_and_an_external_name_one_no_address() {
        let plain = defaulted_service(ServiceSpec {
            cluster_ips: vec!["10.43.0.20".into()],
            ..ServiceSpec::default()
        });
        assert_eq!(plain.spec.cluster_ip, "10.43.0.20");
        assert_eq!(plain.spec.external_traffic_policy, None);
        assert_eq!(plain.spec.session_affinity_config, None);

        let alias = defaulted_service(ServiceSpec {
            type_: ServiceType::ExternalName,
            external_name: "db.example.com".into(),
            ..ServiceSpec::default()
        });
        assert!(alias.spec.ip_families.is_empty());
        assert_eq!(alias.spec.ip_family_policy, None);
        assert_eq!(alias.spec.internal_traffic_policy, None);
        assert!(alias.spec.cluster_ips.is_empty());
    }

    #[test]
    fn endpoint_slice_ports_get_tcp() {
        let mut object = EndpointSlice {
            ports: vec![EndpointPort {
                port: Some(80),
                ..EndpointPort::default()
            }],
            ..EndpointSlice::default()
        }
        .into_object();
        apply_defaults(&mut object);
        let slice = EndpointSlice::from_object(object).unwrap();
        assert_eq!(slice.api_version, "discovery.k8s.io/v1");
        assert_eq!(slice.ports[0].protocol, "TCP");
    }

    fn defaulted_policy(spec: NetworkPolicySpec) -> NetworkPolicySpec {
        let mut object = NetworkPolicy {
            spec,
            ..NetworkPolicy::default()
        }
        .into_object();
        apply_defaults(&mut object);
        let once = object.clone();
        apply_defaults(&mut object);
        assert_eq!(object, once, "defaulting is idempotent");
        let policy = NetworkPolicy::from_object(object).unwrap();
        assert_eq!(policy.api_version, "networking.k8s.io/v1");
        policy.spec
    }

    #[test]
    fn network_policies_isolate_ingress_and_egress_when_they_have_egress_rules() {
        let spec = defaulted_policy(NetworkPolicySpec::default());
        assert_eq!(spec.policy_types, [PolicyType::Ingress]);

        let port = NetworkPolicyPort {
            port: Some(IntOrString::Int(53)),
            ..NetworkPolicyPort::default()
        };
        let spec = defaulted_policy(NetworkPolicySpec {
            ingress: vec![NetworkPolicyIngressRule {
                ports: vec![port.clone()],
                ..NetworkPolicyIngressRule::default()
            }],
            egress: vec![NetworkPolicyEgressRule {
                ports: vec![NetworkPolicyPort {
                    protocol: "UDP".into(),
                    ..port
                }],
                ..NetworkPolicyEgressRule::default()
            }],
            ..NetworkPolicySpec::default()
        });
        assert_eq!(spec.policy_types, [PolicyType::Ingress, PolicyType::Egress]);
        assert_eq!(spec.ingress[0].ports[0].protocol, "TCP");
        assert_eq!(spec.egress[0].ports[0].protocol, "UDP");

        // Given types are kept, even when they leave out a direction with rules.
        let spec = defaulted_policy(NetworkPolicySpec {
            egress: vec![NetworkPolicyEgressRule::default()],
            policy_types: vec![PolicyType::Ingress],
            ..NetworkPolicySpec::default()
        });
        assert_eq!(spec.policy_types, [PolicyType::Ingress]);
    }
}
