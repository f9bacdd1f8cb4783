//! The object model — flotilla's ABI. Every component speaks these types: the API stores them,
//! controllers reconcile them, the CLI reads them from manifests and prints them.
//!
//! The types are shaped like Kubernetes' (`apiVersion`, `kind`, `metadata`, `spec`, `status`,
//! camelCase field names) so existing manifests and habits carry over, but they are flotilla's
//! own serde types. They are encoded as JSON, never a positional format: every field has a
//! default and unknown fields are ignored, so objects written by an older or newer version
//! still decode, and empty fields are omitted so YAML output looks like kubectl's.
//!
//! Around the types sit pure functions the API runs on each write: manifest parsing with
//! precise errors (`manifest`), defaulting (`defaults`) and validation (`validation`).

mod affinity;
mod bootstrap_token;
mod condition;
mod config_map;
mod cron_job;
mod cron_schedule;
mod daemon_set;
mod defaults;
mod deployment;
mod endpoint_slice;
mod intstr;
mod job;
mod kind;
mod labels;
mod lease;
mod manifest;
mod meta;
mod names;
mod namespace;
mod network_policy;
mod node;
mod omit;
mod pod;
mod pod_disruption_budget;
mod pod_spec;
mod pod_status;
mod priority_class;
mod probe;
mod quantity;
mod replica_set;
mod resource;
mod runtime_class;
mod security_context;
mod selector;
mod service;
mod stateful_set;
mod time;
mod toleration;
mod validation;

pub use self::affinity::{
    Affinity, FIELD_METADATA_NAME, LABEL_HOSTNAME, LABEL_ZONE, NodeAffinity, NodeInclusionPolicy,
    NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, PodAffinity,
    PodAffinityTerm, PreferredSchedulingTerm, TopologySpreadConstraint,
    UnsatisfiableConstraintAction, WeightedPodAffinityTerm,
};
pub use self::bootstrap_token::{
    BOOTSTRAP_TOKEN_TYPE, BootstrapToken, SYSTEM_NAMESPACE, TokenError, TokenRecord,
    mark_token_used,
};
pub use self::condition::ConditionStatus;
pub use self::config_map::{ConfigMap, MAX_DATA_BYTES, SECRET_TYPE_OPAQUE, Secret};
pub use self::cron_job::{
    ConcurrencyPolicy, CronJob, CronJobSpec, CronJobStatus, DEFAULT_FAILED_JOBS_HISTORY_LIMIT,
    DEFAULT_SUCCESSFUL_JOBS_HISTORY_LIMIT, INSTANTIATE_ANNOTATION, JobTemplateSpec,
    MAX_CRON_JOB_NAME_LENGTH, SCHEDULED_TIMESTAMP_ANNOTATION, job_from_template,
    scheduled_job_name,
};
pub use self::cron_schedule::{CronSchedule, ScheduleError};
pub use self::daemon_set::{
    DaemonSet, DaemonSetSpec, DaemonSetStatus, DaemonSetUpdateStrategy,
    DaemonSetUpdateStrategyType, RollingUpdateDaemonSet,
};
pub use self::defaults::{
    DEFAULT_REPLICAS, DEFAULT_REVISION_HISTORY_LIMIT, DEFAULT_ROLLING_UPDATE_BOUND,
    DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS, apply_defaults,
};
pub use self::deployment::{
    Deployment, DeploymentCondition, DeploymentSpec, DeploymentStatus, DeploymentStrategy,
    RollingUpdateDeployment, StrategyType,
};
pub use self::endpoint_slice::{
    AddressType, Endpoint, EndpointConditions, EndpointPort, EndpointSlice, ObjectReference,
    SERVICE_NAME_LABEL,
};
pub use self::intstr::{IntOrString, IntOrStringError};
pub use self::job::{
    CONTROLLER_UID_LABEL, CompletionMode, DEFAULT_BACKOFF_LIMIT, ExitCodeOperator,
    JOB_COMPLETION_INDEX, JOB_COMPLETION_INDEX_ENV, JOB_IMMUTABLE_FIELDS, JOB_NAME_LABEL, Job,
    JobCondition, JobSpec, JobStatus, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
    PodFailurePolicy, PodFailurePolicyAction, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
pub use self::kind::{Kind, UnknownKind};
pub use self::labels::{LabelSelector, LabelSelectorOperator, LabelSelectorRequirement};
pub use self::lease::{Lease, LeaseSpec, NODE_LEASE_NAMESPACE};
pub use self::manifest::{ManifestError, SourcePosition, parse_manifests};
pub use self::meta::{ObjectMeta, OwnerReference};
pub use self::names::{
    check_dns1123_label, check_dns1123_subdomain, check_env_var_name, check_label_value,
    check_qualified_name,
};
pub use self::namespace::{Namespace, NamespacePhase, NamespaceSpec, NamespaceStatus};
pub use self::network_policy::{
    IpBlock, NAMESPACE_NAME_LABEL, NetworkPolicy, NetworkPolicyEgressRule,
    NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
    NetworkPolicyStatus, PeerPath, PolicyType, ResolvedNamedPort, ResolvedPeer,
};
pub use self::node::{
    Node, NodeAddress, NodeCondition, NodeDisk, NodeHardware, NodeNic, NodeRuntimeHandler,
    NodeSpec, NodeStatus, NodeSystemInfo, Taint, TaintEffect,
};
pub use self::pod::{Pod, PodTemplateSpec};
pub use self::pod_disruption_budget::{
    Condition, PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
    UnhealthyPodEvictionPolicy,
};
pub use self::pod_spec::{
    Container, ContainerPort, EnvFromSource, EnvVar, EnvVarSource, KNOWN_RESOURCES, KeySelector,
    LocalObjectReference, ObjectFieldSelector, ObjectSelector, PodDnsConfig, PodDnsConfigOption,
    PodReferences, PodSchedulingGate, PodSpec, RESOURCE_CPU, RESOURCE_EPHEMERAL_STORAGE,
    RESOURCE_MEMORY, RESOURCE_PIDS, ResourceFieldSelector, ResourceRequirements, RestartPolicy,
};
pub use self::pod_status::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, PodCondition, PodIp, PodPhase, PodStatus,
};
pub use self::priority_class::{
    HIGHEST_USER_PRIORITY, PREEMPT_LOWER_PRIORITY, PREEMPT_NEVER, PriorityClass,
    SYSTEM_CLUSTER_CRITICAL, SYSTEM_NODE_CRITICAL,
};
pub use self::probe::{
    ExecAction, GrpcAction, HttpGetAction, HttpHeader, Lifecycle, LifecycleHandler, Probe,
    SleepAction, TcpSocketAction,
};
pub use self::quantity::{ParsedQuantity, Quantity, QuantityError};
pub use self::replica_set::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
pub use self::resource::{Object, ObjectError, Resource};
pub use self::runtime_class::{Overhead, RuntimeClass, Scheduling};
pub use self::security_context::{
    CAPABILITY_NAMES, Capabilities, PodSecurityContext, SeccompProfile, SecurityContext,
    capability_name,
};
pub use self::selector::{Selector, SelectorError};
pub use self::service::{
    CLUSTER_IP_NONE, ClientIpConfig, DEFAULT_CLIENT_IP_TIMEOUT_SECONDS, IpFamily, IpFamilyPolicy,
    LoadBalancerIngress, LoadBalancerStatus, MAX_CLIENT_IP_TIMEOUT_SECONDS, Service, ServicePort,
    ServiceSpec, ServiceStatus, ServiceType, SessionAffinity, SessionAffinityConfig, TrafficPolicy,
};
pub use self::stateful_set::{
    PodManagementPolicy, RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetOrdinals,
    StatefulSetSpec, StatefulSetStatus, StatefulSetUpdateStrategy,
};
pub use self::time::{Time, TimeParseError};
pub use self::toleration::{Toleration, tolerated};
pub use self::validation::{FieldError, ValidationErrors, validate};
