//! The node agent (kubelet): registers its Node, watches the pods bound to it and makes the
//! runtime match them, reporting pod status back through the API. The decisions are in
//! [`sync`] and [`terminate`]; this actor only gathers observations and performs effects.
//!
//! The runtime outlives the actor: a restarted agent finds its containers still running and
//! adopts them (restart counts come back from the pods' status). Runtime work that may block
//! (forks, cgroup writes, waiting for a cgroup to empty) runs on the blocking pool, and every
//! task the agent spawns is owned by it: if one ends, the agent is restarted.

mod container_spec;
mod cri_log;
mod cri_start;
mod downward;
mod env;
mod exec;
mod hooks;
mod image_gc;
mod image_import;
mod images;
mod lease;
mod logs;
mod node_calls;
mod node_status;
mod pod_network;
mod prober;
mod probes;
mod probing;
mod resolv_conf;
mod runtime_class;
mod sync;
mod terminate;
mod termination_message;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use flotilla_cri::{CriRuntime, SandboxDns};
use flotilla_images::{ImageGcPolicy, RegistryCredentials};
use flotilla_kernel::api::{AgentLink, ApiClient, ClientError, EventType, Watched};
use flotilla_kernel::object::{ConfigMap, Container, Kind, Node, Pod, PodSpec, Secret, Time};
use flotilla_kernel::supervision::spawn_owned;
use flotilla_node_os::{
    ContainerState, ExitEvent, Inventory, Runtime, SandboxSpec, Signal, read_inventory,
};

pub use images::Registries;
pub use node_status::AGENT_VERSION;
pub use pod_network::PodNetwork;
use runtime_class::ContainerEngine;
pub use runtime_class::{RuntimeHandlers, parse_oci_runtime};
use sync::{Now, PodRecord, container_id, container_ids};
use terminate::Step;

pub struct NodeAgent;

#[derive(Clone)]
pub struct NodeAgentArgs {
    pub node_name: String,
    /// The address other machines reach this node at.
    pub address: String,
    pub api: ApiClient,
    pub runtime: Arc<dyn Runtime>,
    pub proc_root: PathBuf,
    pub log_dir: PathBuf,
    /// The node's image store, opened for each use (it is locked while open, and `flotilla
    /// image import` shares it).
    pub image_dir: PathBuf,
    /// How images are pulled from registries.
    pub registries: Registries,
    /// The runtimes a RuntimeClass's handler may name on this node.
    pub runtime_handlers: RuntimeHandlers,
    /// The CRI runtime the node is connected to (`--container-runtime-endpoint`); `runtime`
    /// then answers for its containers too.
    pub cri: Option<Arc<CriRuntime>>,
    /// When unused images are removed from the image store.
    pub image_gc: ImageGcPolicy,
    /// How pods' networks are wired; `None`: pods without the host's network keep only
    /// loopback.
    pub network: Option<PodNetwork>,
    /// How often the Node's status is refreshed.
    pub heartbeat: Duration,
    /// How often the node's Lease is renewed: what the control plane judges liveness by.
    pub lease_renew: Duration,
}

pub enum AgentMsg {
    /// Boxed: a pod is far larger than the other messages.
    Pod(Box<Watched<Pod>>),
    Exited(ExitEvent),
    Sync(String),
    Heartbeat,
    /// A probe's timer fired.
    Probe(probing::ProbeTick),
    /// A probe's outcome: `Err` with why it failed.
    ProbeResult(probing::ProbeTick, Result<(), String>),
    /// Kill a run of a container, for this reason (a failed probe or postStart hook).
    Kill(hooks::RunRef, String),
    /// A run being killed has had its grace period.
    KillRun(hooks::RunRef),
    /// Time to see whether unused images must go.
    CollectImages,
}

/// A pod bound to this node, with what the agent remembers about it.
struct PodEntry {
    pod: Pod,
    record: PodRecord,
    term_sent: Option<Instant>,
}

pub struct AgentState {
    args: NodeAgentArgs,
    inventory: Inventory,
    /// By pod uid.
    pods: HashMap<String, PodEntry>,
    tasks: Vec<JoinHandle<()>>,
}

impl Actor for NodeAgent {
    type Msg = AgentMsg;
    type State = AgentState;
    type Arguments = NodeAgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<AgentMsg>,
        args: NodeAgentArgs,
    ) -> Result<AgentState, ActorProcessingErr> {
        let proc_root = args.proc_root.clone();
        let inventory = tokio::task::spawn_blocking(move || read_inventory(&proc_root)).await??;
        // Before anything starts: take over what a previous agent process left running.
        let adoption = blocking(&args.runtime, |runtime| runtime.adopt_running()).await?;
        if !adoption.adopted.is_empty() || !adoption.removed.is_empty() {
            tracing::info!(
                adopted = adoption.adopted.len(),
                removed = adoption.removed.len(),
                "took over containers left by a previous agent"
            );
        }
        register(&args, &inventory).await?;
        let (pods, revision) = args.api.pods_on_node(&args.node_name).await?;
        let mut pods: HashMap<String, PodEntry> = pods
            .into_iter()
            .map(|pod| {
                let entry = PodEntry {
                    record: PodRecord::adopt(&pod),
                    pod,
                    term_sent: None,
                };
                (entry.pod.metadata.uid.clone(), entry)
            })
            .collect();
        let owned = owned_ids(&pods);
        let owned_sandboxes: BTreeSet<String> = pods.keys().cloned().collect();
        adopt_networks(args.network.as_ref(), &mut pods).await;
        blocking(&args.runtime, move |runtime| {
            remove_orphans(runtime, &owned, &owned_sandboxes);
        })
        .await;
        // Everything that can fail first, so a failed start leaves no task behind.
        let events = args
            .api
            .watch::<Pod>(None, revision, Some(&args.node_name))
            .await?;
        let calls = node_calls::node_calls(
            args.log_dir.clone(),
            args.image_dir.clone(),
            Arc::clone(&args.runtime),
        );
        let link = args.api.serve_node(&args.node_name, calls).await?;
        let tasks = vec![
            watch_pods(&myself, events),
            forward_exits(&myself, args.runtime.as_ref()),
            serve_node_calls(&myself, link),
            lease::renew_forever(
                &myself,
                args.api.clone(),
                args.node_name.clone(),
                args.lease_renew,
            ),
            myself.send_interval(args.heartbeat, || AgentMsg::Heartbeat),
            myself.send_interval(image_gc::PERIOD, || AgentMsg::CollectImages),
        ];
        for uid in pods.keys() {
            myself.cast(AgentMsg::Sync(uid.clone()))?;
        }
        tracing::info!(node = %args.node_name, pods = pods.len(), "node agent ready");
        Ok(AgentState {
            args,
            inventory,
            pods,
            tasks,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<AgentMsg>,
        msg: AgentMsg,
        state: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AgentMsg::Pod(watched) => on_pod_event(&myself, state, *watched).await,
            AgentMsg::Exited(exit) => {
                if let Some(uid) = owner_of(&state.pods, &exit.id) {
                    sync_pod(&myself, state, &uid).await;
                }
            }
            AgentMsg::Sync(uid) => sync_pod(&myself, state, &uid).await,
            AgentMsg::Heartbeat => heartbeat(state).await,
            AgentMsg::Probe(tick) => probing::tick(&myself, state, tick),
            AgentMsg::ProbeResult(tick, outcome) => probing::outcome(&myself, state, tick, outcome),
            AgentMsg::Kill(run, message) => probing::kill(&myself, state, run, message),
            AgentMsg::KillRun(run) => probing::kill_run(state, run).await,
            AgentMsg::CollectImages => image_gc::collect(state),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _: ActorRef<AgentMsg>,
        state: &mut AgentState,
    ) -> Result<(), ActorProcessingErr> {
        for task in state.tasks.drain(..) {
            task.abort();
        }
        Ok(())
    }
}

/// Creates this node's Node object, or refreshes its status if it exists.
async fn register(args: &NodeAgentArgs, inventory: &Inventory) -> Result<(), ClientError> {
    let reported = reported(args, inventory);
    match args.api.find::<Node>("", &args.node_name).await? {
        None => {
            let node = node_status::new_node(&args.node_name, &reported, Time::now());
            args.api.create(&node).await?;
        }
        Some(mut node) => {
            node_status::refresh(&mut node, &reported, Time::now());
            args.api.update_status(&node).await?;
        }
    }
    Ok(())
}

fn reported<'a>(args: &'a NodeAgentArgs, inventory: &'a Inventory) -> node_status::Reported<'a> {
    node_status::Reported {
        inventory,
        address: &args.address,
        runtime_handlers: &args.runtime_handlers,
    }
}

async fn heartbeat(state: &AgentState) {
    let args = &state.args;
    let mut node = match args.api.find::<Node>("", &args.node_name).await {
        Ok(Some(current)) => current,
        Ok(None) => {
            tracing::warn!(node = %args.node_name, "the Node object is gone; registering again");
            if let Err(error) = register(args, &state.inventory).await {
                tracing::warn!(%error, "registering the node failed");
            }
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "heartbeat: reading the Node failed");
            return;
        }
    };
    node_status::refresh(&mut node, &reported(args, &state.inventory), Time::now());
    node.metadata.resource_version.clear();
    if let Err(error) = args.api.update_status(&node).await {
        tracing::warn!(%error, "heartbeat failed");
    }
}

/// Runs runtime work that may block — forking, cgroup writes, waiting for a cgroup to empty —
/// on the blocking pool, never on the process's one runtime thread. A panic in it is the
/// agent's, as if it had happened inline.
async fn blocking<T: Send + 'static>(
    runtime: &Arc<dyn Runtime>,
    work: impl FnOnce(&dyn Runtime) -> T + Send + 'static,
) -> T {
    let runtime = Arc::clone(runtime);
    match tokio::task::spawn_blocking(move || work(runtime.as_ref())).await {
        Ok(done) => done,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("runtime work was cancelled: {error}"),
        },
    }
}

/// The runtime ids of every container and init container of `pods`.
fn owned_ids(pods: &HashMap<String, PodEntry>) -> BTreeSet<String> {
    pods.values()
        .flat_map(|entry| container_ids(&entry.pod))
        .collect()
}

/// Takes over the pod networks a previous agent attached: checks those of pods still bound
/// here (CHECK) and recovers their addresses if the pod's status lacks them, and detaches
/// the others (DEL) while their sandboxes still exist.
async fn adopt_networks(network: Option<&PodNetwork>, pods: &mut HashMap<String, PodEntry>) {
    let Some(network) = network else {
        return;
    };
    for id in network.cni.attached() {
        let Some(entry) = pods.get_mut(&id) else {
            match pod_network::detach(Some(network), &id).await {
                Ok(()) => {
                    tracing::info!(sandbox = %id, "detached the network of a pod no longer here")
                }
                Err(error) => {
                    tracing::warn!(sandbox = %id, %error, "could not detach an orphaned pod network")
                }
            }
            continue;
        };
        if entry.record.pod_ips.is_empty() {
            entry.record.pod_ips = network
                .cni
                .addresses(&id)
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        if let Err(error) = network.cni.check(&id).await {
            tracing::warn!(pod = %entry.pod.metadata.name, %error, "the pod's network failed its CNI CHECK");
        }
    }
}

/// Kills and forgets runtime containers, then pod sandboxes, that belong to no pod bound here
/// any more.
fn remove_orphans(runtime: &dyn Runtime, owned: &BTreeSet<String>, sandboxes: &BTreeSet<String>) {
    for (id, state) in runtime.list() {
        if owned.contains(&id) {
            continue;
        }
        if matches!(state, ContainerState::Running { .. }) {
            let _ = runtime.signal(&id, Signal::Kill);
        }
        match runtime.remove(&id) {
            Ok(()) => {
                tracing::info!(container = %id, "removed a container of a pod no longer here")
            }
            Err(error) => {
                tracing::warn!(container = %id, %error, "could not remove an orphaned container")
            }
        }
    }
    let present = runtime.list_pod_sandboxes().unwrap_or_else(|error| {
        tracing::warn!(%error, "could not list pod sandboxes");
        Vec::new()
    });
    for id in present.iter().filter(|id| !sandboxes.contains(*id)) {
        if let Err(error) = runtime.remove_pod_sandbox(id) {
            tracing::warn!(sandbox = %id, %error, "could not remove an orphaned pod sandbox");
        }
    }
}

fn owner_of(pods: &HashMap<String, PodEntry>, id: &str) -> Option<String> {
    pods.iter()
        .find(|(_, entry)| container_ids(&entry.pod).iter().any(|own| own == id))
        .map(|(uid, _)| uid.clone())
}

/// Hands the pod watch's events to the agent.
fn watch_pods(
    myself: &ActorRef<AgentMsg>,
    mut events: mpsc::Receiver<Result<Watched<Pod>, ClientError>>,
) -> JoinHandle<()> {
    let me = myself.clone();
    spawn_owned(myself.get_cell(), "pod watch", async move {
        loop {
            match events.recv().await {
                Some(Ok(event)) => {
                    if me.cast(AgentMsg::Pod(Box::new(event))).is_err() {
                        return;
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "the pod watch failed");
                    return;
                }
                None => {
                    tracing::warn!("the API server ended the pod watch");
                    return;
                }
            }
        }
    })
}

fn forward_exits(myself: &ActorRef<AgentMsg>, runtime: &dyn Runtime) -> JoinHandle<()> {
    let mut exits = runtime.subscribe();
    let me = myself.clone();
    spawn_owned(myself.get_cell(), "exit relay", async move {
        while let Some(exit) = exits.recv().await {
            if me.cast(AgentMsg::Exited(exit)).is_err() {
                return;
            }
        }
    })
}

/// Keeps serving the API server's calls to this node (logs) while the link holds; a lost link
/// restarts the agent, which links again.
fn serve_node_calls(myself: &ActorRef<AgentMsg>, mut link: AgentLink) -> JoinHandle<()> {
    spawn_owned(myself.get_cell(), "API link", async move {
        let error = link.lost().await;
        tracing::warn!(%error, "the link for the API server's calls was lost");
    })
}

async fn on_pod_event(myself: &ActorRef<AgentMsg>, state: &mut AgentState, watched: Watched<Pod>) {
    let uid = watched.object.metadata.uid.clone();
    match watched.event {
        EventType::Added | EventType::Modified => {
            let pod = watched.object;
            match state.pods.get_mut(&uid) {
                Some(entry) => entry.pod = pod,
                None => {
                    let entry = PodEntry {
                        record: PodRecord::adopt(&pod),
                        pod,
                        term_sent: None,
                    };
                    state.pods.insert(uid.clone(), entry);
                }
            }
            let _ = myself.cast(AgentMsg::Sync(uid));
        }
        EventType::Deleted => {
            // Deleted without this agent stopping it first (a forced delete): stop it now.
            if let Some(entry) = state.pods.remove(&uid) {
                let ids = container_ids(&entry.pod);
                if let Err(error) = pod_network::detach(state.args.network.as_ref(), &uid).await {
                    tracing::warn!(pod = %entry.pod.metadata.name, %error, "network teardown failed");
                }
                blocking(&state.args.runtime, move |runtime| {
                    for id in &ids {
                        let _ = runtime.signal(id, Signal::Kill);
                        let _ = runtime.remove(id);
                    }
                    if let Err(error) = runtime.remove_pod_sandbox(&uid) {
                        tracing::warn!(sandbox = %uid, %error, "could not remove the pod sandbox");
                    }
                })
                .await;
            }
        }
    }
}

fn now() -> Now {
    Now {
        instant: Instant::now(),
        wall: SystemTime::now(),
    }
}

/// Brings one pod one step closer to what its object says.
async fn sync_pod(myself: &ActorRef<AgentMsg>, state: &mut AgentState, uid: &str) {
    let Some(entry) = state.pods.get_mut(uid) else {
        return;
    };
    if entry.pod.metadata.deletion_timestamp.is_some() {
        if terminate_pod(myself, &state.args, entry).await {
            state.pods.remove(uid);
        }
        return;
    }
    entry.record.host_ip.clone_from(&state.args.address);
    let runtime = state.args.runtime.as_ref();
    let observed: BTreeMap<String, ContainerState> = entry
        .pod
        .spec
        .all_containers()
        .filter_map(|c| Some((c.name.clone(), runtime.state(&container_id(uid, &c.name))?)))
        .collect();
    termination_message::observe(
        &state.args.log_dir,
        &entry.pod,
        &observed,
        &mut entry.record,
    );
    let now = now();
    let plan = sync::plan(&entry.pod, &mut entry.record, &observed, now);
    for (container, run) in &plan.probe {
        probing::start(myself, state, uid, container, *run);
    }
    let Some(entry) = state.pods.get_mut(uid) else {
        return;
    };
    let (exited, stop) = (plan.remove.clone(), plan.stop.clone());
    blocking(&state.args.runtime, move |runtime| {
        for id in &exited {
            if let Err(error) = runtime.remove(id) {
                tracing::warn!(container = %id, %error, "cleaning up an exited container failed");
            }
        }
        for id in &stop {
            let _ = runtime.signal(id, Signal::Term);
        }
    })
    .await;
    if let Some(after) = plan.requeue_after {
        let uid = uid.to_string();
        myself.send_after(after, move || AgentMsg::Sync(uid));
    }
    if !plan.start.is_empty() {
        for name in &plan.start {
            start_container(myself, &state.args, &state.inventory, entry, name, now).await;
        }
        // Report once the runtime has them; the next sync sees them running or failed.
        let _ = myself.cast(AgentMsg::Sync(uid.to_string()));
        return;
    }
    if plan.status != entry.pod.status {
        let mut pod = entry.pod.clone();
        pod.status = plan.status;
        match state.args.api.update_status(&pod).await {
            Ok(updated) => entry.pod = updated,
            Err(error) => {
                tracing::debug!(pod = %pod.metadata.name, %error, "status update failed; retrying");
                let uid = uid.to_string();
                myself.send_after(Duration::from_millis(500), move || AgentMsg::Sync(uid));
            }
        }
    }
}

async fn start_container(
    myself: &ActorRef<AgentMsg>,
    args: &NodeAgentArgs,
    inventory: &Inventory,
    entry: &mut PodEntry,
    name: &str,
    now: Now,
) {
    let Some(container) = entry.pod.spec.all_containers().find(|c| c.name == name) else {
        return;
    };
    let pod_name = &entry.pod.metadata.name;
    let node = downward::NodeFacts {
        host_ip: &args.address,
        cpu_millis: inventory.cpu_millis,
        memory_bytes: inventory.memory_bytes,
    };
    let declared = match container_env(&args.api, &entry.pod, container, node).await {
        Ok(declared) => declared,
        Err(message) => {
            tracing::warn!(pod = %pod_name, container = name, %message, "environment unavailable");
            sync::config_failed(&mut entry.record, name, message, now);
            return;
        }
    };
    let image = if container.image == Container::HOST_IMAGE {
        // On the host's network, as its root.
        entry.record.pod_ips = vec![args.address.clone()];
        None
    } else {
        let oci_runtime =
            match runtime_class::engine(&args.api, &args.runtime_handlers, &entry.pod).await {
                Ok(ContainerEngine::Native) => None,
                Ok(ContainerEngine::Oci(binary)) => Some(binary),
                Ok(ContainerEngine::Cri) => {
                    let container = container.clone();
                    start_in_cri(myself, args, entry, &container, declared, now).await;
                    return;
                }
                Err(message) => {
                    tracing::warn!(pod = %pod_name, container = name, %message, "no pod sandbox");
                    sync::sandbox_failed(&mut entry.record, name, message, now);
                    return;
                }
            };
        match prepare_image(args, &entry.pod, container).await {
            Ok(image) => {
                sync::image_ready(&mut entry.record, name);
                let network = args.network.as_ref();
                match pod_network::attach(network, &args.runtime, &entry.pod, &args.address).await {
                    Ok(ips) => entry.record.pod_ips = ips,
                    Err(message) => {
                        tracing::warn!(pod = %pod_name, container = name, %message, "no pod network");
                        sync::sandbox_failed(&mut entry.record, name, message, now);
                        return;
                    }
                }
                Some((image, oci_runtime))
            }
            Err(failure) => {
                tracing::warn!(pod = %pod_name, container = name, reason = failure.reason, message = %failure.message, "image unavailable");
                sync::image_failed(
                    &mut entry.record,
                    name,
                    failure.reason,
                    failure.message,
                    now,
                );
                return;
            }
        }
    };
    let spec = match container_spec::container_spec(
        &entry.pod,
        container,
        declared,
        &args.log_dir,
        image
            .as_ref()
            .map(|(image, oci_runtime)| (image, oci_runtime.clone())),
    ) {
        Ok(spec) => spec,
        Err(message) => {
            tracing::warn!(pod = %pod_name, container = name, %message, "cannot create the container");
            sync::config_failed(&mut entry.record, name, message, now);
            return;
        }
    };
    match blocking(&args.runtime, move |runtime| runtime.start(&spec)).await {
        Ok(pid) => {
            tracing::info!(pod = %pod_name, container = name, pid, "started");
            post_start(myself, args, &entry.pod, container);
        }
        Err(error) => {
            tracing::warn!(pod = %pod_name, container = name, %error, "start failed");
            sync::start_failed(&entry.pod, &mut entry.record, name, error.to_string(), now);
        }
    }
}

/// Runs the postStart hook of `container`, just started, while its run is still running.
fn post_start(myself: &ActorRef<AgentMsg>, args: &NodeAgentArgs, pod: &Pod, container: &Container) {
    let id = container_id(&pod.metadata.uid, &container.name);
    if let Some(ContainerState::Running { started_at, .. }) = args.runtime.state(&id) {
        hooks::post_start(myself, &args.runtime, pod, container, started_at);
    }
}

/// Starts `container` of `entry`'s pod through the node's CRI runtime.
async fn start_in_cri(
    myself: &ActorRef<AgentMsg>,
    args: &NodeAgentArgs,
    entry: &mut PodEntry,
    container: &Container,
    declared: Vec<(String, String)>,
    now: Now,
) {
    let name = container.name.as_str();
    let pod_name = entry.pod.metadata.name.clone();
    let Some(cri) = &args.cri else {
        let message = "the node has no CRI runtime".to_string();
        sync::sandbox_failed(&mut entry.record, name, message, now);
        return;
    };
    let attempt = entry
        .record
        .containers
        .get(name)
        .map_or(0, |record| u32::try_from(record.restart_count).unwrap_or(0));
    let dns = pod_dns(args, &entry.pod).await;
    let start = cri_start::Start {
        pod: &entry.pod,
        container,
        declared,
        attempt,
        credentials: pull_credentials(&args.api, &entry.pod).await,
        dns: SandboxDns {
            options: dns.option_words(),
            servers: dns.nameservers,
            searches: dns.searches,
        },
    };
    match cri_start::start(cri, &args.log_dir, start).await {
        Ok(started) => {
            let pid = started.pid;
            entry.record.pod_ips = if entry.pod.spec.host_network {
                vec![args.address.clone()]
            } else {
                started.pod_ips
            };
            tracing::info!(pod = %pod_name, container = name, pid, "started by the CRI runtime");
            sync::image_ready(&mut entry.record, name);
            post_start(myself, args, &entry.pod, container);
        }
        Err(failure) => {
            tracing::warn!(pod = %pod_name, container = name, ?failure, "CRI start failed");
            let record = &mut entry.record;
            match failure {
                cri_start::Failure::Sandbox(message) => {
                    sync::sandbox_failed(record, name, message, now);
                }
                cri_start::Failure::Image(failure) => {
                    sync::image_failed(record, name, failure.reason, failure.message, now);
                }
                cri_start::Failure::Config(message) => {
                    sync::config_failed(record, name, message, now);
                }
                cri_start::Failure::Start(message) => {
                    sync::start_failed(&entry.pod, record, name, message, now);
                }
            }
        }
    }
}

/// Gets `container`'s image ready (pulling it with the pod's image pull secrets if its policy
/// says so) and the pod's sandbox made, off the runtime thread.
async fn prepare_image(
    args: &NodeAgentArgs,
    pod: &Pod,
    container: &Container,
) -> Result<images::ReadyImage, images::ImageFailure> {
    let credentials = pull_credentials(&args.api, pod).await;
    let ready = images::prepare(
        &args.image_dir,
        &container.image,
        &container.image_pull_policy,
        &args.registries,
        credentials,
    )
    .await?;
    let sandbox = SandboxSpec {
        id: pod.metadata.uid.clone(),
        hostname: container_spec::pod_hostname(pod),
        host_network: pod.spec.host_network,
        share_process_namespace: pod.spec.share_process_namespace == Some(true),
        resolv_conf: Some(pod_resolv_conf(args, pod).await),
    };
    blocking(&args.runtime, move |runtime| {
        runtime.run_pod_sandbox(&sandbox)
    })
    .await
    .map_err(|error| images::ImageFailure {
        reason: "CreateContainerError",
        message: error.to_string(),
    })?;
    Ok(ready)
}

/// The pod's `/etc/resolv.conf`, from the node's and its DNS policy.
async fn pod_resolv_conf(args: &NodeAgentArgs, pod: &Pod) -> String {
    pod_dns(args, pod).await.render()
}

/// The pod's DNS settings, from the node's and its DNS policy.
async fn pod_dns(args: &NodeAgentArgs, pod: &Pod) -> resolv_conf::Resolv {
    let host = tokio::fs::read_to_string("/etc/resolv.conf")
        .await
        .unwrap_or_default();
    resolv_conf::pod_dns(pod, cluster_dns(args).await.as_ref(), &host)
}

/// The node's cluster DNS server, on its pods' gateway, once the node has its pod range.
async fn cluster_dns(args: &NodeAgentArgs) -> Option<resolv_conf::ClusterDns> {
    let domain = args.network.as_ref()?.cluster_domain.clone()?;
    let node = match args.api.find::<Node>("", &args.node_name).await {
        Ok(node) => node?,
        Err(error) => {
            tracing::warn!(%error, "reading the node's pod range for its pods' DNS");
            return None;
        }
    };
    let range: ipnet::Ipv4Net = node.spec.pod_cidr.parse().ok()?;
    Some(resolv_conf::ClusterDns {
        nameserver: crate::node_network::pod_gateway(range).to_string(),
        domain,
    })
}

/// The registry credentials of the pod's image pull secrets. As the kubelet does, a secret
/// that is missing or unreadable is passed over with a warning: the pull may not need it.
async fn pull_credentials(api: &ApiClient, pod: &Pod) -> RegistryCredentials {
    let mut credentials = RegistryCredentials::default();
    let namespace = &pod.metadata.namespace;
    for reference in &pod.spec.image_pull_secrets {
        let name = &reference.name;
        let found = match api.find::<Secret>(namespace, name).await {
            Ok(Some(secret)) => secret,
            Ok(None) => {
                tracing::warn!(pod = %pod.metadata.name, secret = %name, "image pull secret not found");
                continue;
            }
            Err(error) => {
                tracing::warn!(pod = %pod.metadata.name, secret = %name, %error, "image pull secret unreadable");
                continue;
            }
        };
        match docker_config(&found).and_then(|json| {
            RegistryCredentials::from_docker_config(&json).map_err(|error| error.to_string())
        }) {
            Ok(more) => credentials.extend(more),
            Err(why) => {
                tracing::warn!(pod = %pod.metadata.name, secret = %name, %why, "image pull secret unusable");
            }
        }
    }
    credentials
}

/// The Docker config a pull secret holds: `.dockerconfigjson`, or the older `.dockercfg`.
fn docker_config(secret: &Secret) -> Result<Vec<u8>, String> {
    let encoded = secret
        .data
        .get(".dockerconfigjson")
        .or_else(|| secret.data.get(".dockercfg"))
        .ok_or_else(|| "it has neither .dockerconfigjson nor .dockercfg".to_string())?;
    BASE64
        .decode(encoded)
        .map_err(|error| format!("its Docker config is not base64: {error}"))
}

/// Fetches the ConfigMaps and Secrets `container` names and resolves its environment.
async fn container_env(
    api: &ApiClient,
    pod: &Pod,
    container: &Container,
    node: downward::NodeFacts<'_>,
) -> Result<Vec<(String, String)>, env::EnvError> {
    let namespace = &pod.metadata.namespace;
    let single = PodSpec {
        containers: vec![container.clone()],
        ..PodSpec::default()
    };
    let references = single.references();
    let mut sources = env::Sources::default();
    let unreadable = |what: &str, name: &str, error: ClientError| {
        format!("could not read {what} {namespace}/{name}: {error}")
    };
    for name in references.config_maps {
        let found = api
            .find::<ConfigMap>(namespace, &name)
            .await
            .map_err(|error| unreadable("configmap", &name, error))?;
        sources.config_maps.insert(name, found);
    }
    for name in references.secrets {
        let found = api
            .find::<Secret>(namespace, &name)
            .await
            .map_err(|error| unreadable("secret", &name, error))?;
        sources.secrets.insert(name, found);
    }
    env::resolve(pod, container, node, &sources)
}

/// One step of stopping a pod being deleted; true once it is gone from node and API.
async fn terminate_pod(
    myself: &ActorRef<AgentMsg>,
    args: &NodeAgentArgs,
    entry: &mut PodEntry,
) -> bool {
    let uid = entry.pod.metadata.uid.clone();
    let ids = container_ids(&entry.pod);
    let running: Vec<String> = ids
        .iter()
        .filter(|id| matches!(args.runtime.state(id), Some(ContainerState::Running { .. })))
        .cloned()
        .collect();
    let grace = Duration::from_secs(
        u64::try_from(
            entry
                .pod
                .metadata
                .deletion_grace_period_seconds
                .unwrap_or(30),
        )
        .unwrap_or(0),
    );
    let again = |after: Duration| {
        let uid = uid.clone();
        myself.send_after(after, move || AgentMsg::Sync(uid));
    };
    match terminate::next_step(running, entry.term_sent, grace, Instant::now()) {
        Step::Terminate(ids) => {
            for container in entry.pod.spec.all_containers() {
                if ids.contains(&container_id(&uid, &container.name)) {
                    hooks::pre_stop_then_term(&args.runtime, &entry.pod, container);
                }
            }
            entry.term_sent = Some(Instant::now());
            again(Duration::from_millis(100));
            false
        }
        Step::Wait(after) => {
            again(after);
            false
        }
        Step::Kill(ids) => {
            blocking(&args.runtime, move |runtime| {
                for id in &ids {
                    let _ = runtime.signal(id, Signal::Kill);
                }
            })
            .await;
            again(Duration::from_millis(100));
            false
        }
        Step::Done => {
            if let Err(error) = pod_network::detach(args.network.as_ref(), &uid).await {
                tracing::warn!(pod = %entry.pod.metadata.name, %error, "retrying");
                again(Duration::from_millis(500));
                return false;
            }
            let sandbox = uid.clone();
            let removed = blocking(&args.runtime, move |runtime| {
                ids.iter()
                    .filter(|id| runtime.state(id).is_some())
                    .try_for_each(|id| runtime.remove(id))?;
                runtime.remove_pod_sandbox(&sandbox)
            })
            .await;
            if let Err(error) = removed {
                tracing::warn!(%error, "cleanup failed; retrying");
                again(Duration::from_millis(500));
                return false;
            }
            let meta = &entry.pod.metadata;
            match args
                .api
                .delete(Kind::Pod, &meta.namespace, &meta.name, Some(0))
                .await
            {
                Ok(_) => true,
                Err(e) if e.api_code() == Some(flotilla_kernel::api::ErrorCode::NotFound) => true,
                Err(error) => {
                    tracing::warn!(pod = %meta.name, %error, "deleting the stopped pod failed; retrying");
                    again(Duration::from_millis(500));
                    false
                }
            }
        }
    }
}

/// Stops every container the runtime runs: SIGTERM, up to `grace` to exit, then SIGKILL, and
/// removes them, their networks and the pod sandboxes. Used when the whole node process shuts
/// down and is asked to take its containers along.
pub async fn stop_all_containers(
    runtime: &Arc<dyn Runtime>,
    network: Option<&PodNetwork>,
    grace: Duration,
) {
    let running = |runtime: &dyn Runtime| -> Vec<String> {
        runtime
            .list()
            .into_iter()
            .filter(|(_, s)| matches!(s, ContainerState::Running { .. }))
            .map(|(id, _)| id)
            .collect()
    };
    let signal_all = |signal: Signal| {
        blocking(runtime, move |runtime| {
            for id in running(runtime) {
                let _ = runtime.signal(&id, signal);
            }
        })
    };
    signal_all(Signal::Term).await;
    let deadline = Instant::now() + grace;
    while !running(runtime.as_ref()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal_all(Signal::Kill).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !running(runtime.as_ref()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(network) = network {
        for id in network.cni.attached() {
            if let Err(error) = pod_network::detach(Some(network), &id).await {
                tracing::warn!(sandbox = %id, %error, "could not detach a pod network at shutdown");
            }
        }
    }
    blocking(runtime, |runtime| {
        for (id, _) in runtime.list() {
            if let Err(error) = runtime.remove(&id) {
                tracing::warn!(container = %id, %error, "could not remove at shutdown");
            }
        }
        for sandbox in runtime.list_pod_sandboxes().unwrap_or_default() {
            if let Err(error) = runtime.remove_pod_sandbox(&sandbox) {
                tracing::warn!(%sandbox, %error, "could not remove a pod sandbox at shutdown");
            }
        }
    })
    .await;
}
