//! The node agent (kubelet): registers its Node, watches the pods bound to it and makes the
//! runtime match them, reporting pod status back through the API. The decisions are in
//! [`sync`] and [`terminate`]; this actor only gathers observations and performs effects.
//!
//! The runtime outlives the actor: a restarted agent finds its containers still running and
//! adopts them (restart counts come back from the pods' status).

mod container_spec;
mod env;
mod lease;
mod logs;
mod node_status;
mod sync;
mod terminate;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use flotilla_kernel::api::{
    ApiClient, ClientError, EventType, NodeCall, NodeLinks, NodeRequest, Watched,
};
use flotilla_kernel::object::{ConfigMap, Container, Kind, Node, Pod, PodSpec, Secret, Time};
use flotilla_node_os::{ContainerState, ExitEvent, Inventory, Runtime, Signal, read_inventory};

pub use node_status::AGENT_VERSION;
use sync::{Now, PodRecord, container_id};
use terminate::Step;

pub struct NodeAgent;

#[derive(Clone)]
pub struct NodeAgentArgs {
    pub node_name: String,
    /// The address other machines reach this node at.
    pub address: String,
    pub api: ApiClient,
    pub runtime: Arc<dyn Runtime>,
    pub links: NodeLinks,
    pub proc_root: PathBuf,
    pub log_dir: PathBuf,
    /// How often the Node's status is refreshed.
    pub heartbeat: Duration,
    /// How often the node's Lease is renewed: what the control plane judges liveness by.
    pub lease_renew: Duration,
}

pub enum AgentMsg {
    /// Boxed: a pod is far larger than the other messages.
    Pod(Box<Watched<Pod>>),
    WatchEnded(String),
    Exited(ExitEvent),
    Sync(String),
    Heartbeat,
    Node(NodeCall),
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
        let inventory = read_inventory(&args.proc_root)?;
        // Before anything starts: take over what a previous agent process left running.
        let adoption = args.runtime.adopt_running()?;
        if !adoption.adopted.is_empty() || !adoption.removed.is_empty() {
            tracing::info!(
                adopted = adoption.adopted.len(),
                removed = adoption.removed.len(),
                "took over containers left by a previous agent"
            );
        }
        register(&args, &inventory).await?;
        let (pods, revision) = args.api.pods_on_node(&args.node_name).await?;
        let pods: HashMap<String, PodEntry> = pods
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
        remove_orphans(args.runtime.as_ref(), &pods);
        let mut tasks = vec![
            watch_pods(&myself, &args, revision).await?,
            forward_exits(&myself, args.runtime.as_ref()),
            serve_node_calls(&myself, &args),
        ];
        let heartbeat = myself.send_interval(args.heartbeat, || AgentMsg::Heartbeat);
        tasks.push(heartbeat);
        let node = args.node_name.clone();
        tasks.push(lease::renew_forever(
            &myself,
            args.api.clone(),
            node,
            args.lease_renew,
        ));
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
            AgentMsg::Pod(watched) => on_pod_event(&myself, state, *watched),
            AgentMsg::WatchEnded(why) => return Err(format!("pod watch ended: {why}").into()),
            AgentMsg::Exited(exit) => {
                if let Some(uid) = owner_of(&state.pods, &exit.id) {
                    sync_pod(&myself, state, &uid).await;
                }
            }
            AgentMsg::Sync(uid) => sync_pod(&myself, state, &uid).await,
            AgentMsg::Heartbeat => heartbeat(state).await,
            AgentMsg::Node(call) => serve_node_call(state, call),
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
    match args.api.find::<Node>("", &args.node_name).await? {
        None => {
            let node =
                node_status::new_node(&args.node_name, inventory, &args.address, Time::now());
            args.api.create(&node).await?;
        }
        Some(mut node) => {
            node_status::refresh(&mut node, inventory, &args.address, Time::now());
            args.api.update_status(&node).await?;
        }
    }
    Ok(())
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
    node_status::refresh(&mut node, &state.inventory, &args.address, Time::now());
    node.metadata.resource_version.clear();
    if let Err(error) = args.api.update_status(&node).await {
        tracing::warn!(%error, "heartbeat failed");
    }
}

/// Kills and forgets runtime containers that belong to no pod bound here any more.
fn remove_orphans(runtime: &dyn Runtime, pods: &HashMap<String, PodEntry>) {
    for (id, state) in runtime.list() {
        if owner_of(pods, &id).is_some() {
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
}

fn owner_of(pods: &HashMap<String, PodEntry>, id: &str) -> Option<String> {
    pods.iter()
        .find(|(uid, entry)| {
            entry
                .pod
                .spec
                .containers
                .iter()
                .any(|c| container_id(uid, &c.name) == id)
        })
        .map(|(uid, _)| uid.clone())
}

async fn watch_pods(
    myself: &ActorRef<AgentMsg>,
    args: &NodeAgentArgs,
    revision: u64,
) -> Result<JoinHandle<()>, ClientError> {
    let mut events = args
        .api
        .watch::<Pod>(None, revision, Some(&args.node_name))
        .await?;
    let me = myself.clone();
    Ok(tokio::spawn(async move {
        let why = loop {
            match events.recv().await {
                Some(Ok(event)) => {
                    if me.cast(AgentMsg::Pod(Box::new(event))).is_err() {
                        return;
                    }
                }
                Some(Err(error)) => break error.to_string(),
                None => break "the API server closed the stream".to_string(),
            }
        };
        let _ = me.cast(AgentMsg::WatchEnded(why));
    }))
}

fn forward_exits(myself: &ActorRef<AgentMsg>, runtime: &dyn Runtime) -> JoinHandle<()> {
    let mut exits = runtime.subscribe();
    let me = myself.clone();
    tokio::spawn(async move {
        while let Some(exit) = exits.recv().await {
            if me.cast(AgentMsg::Exited(exit)).is_err() {
                return;
            }
        }
    })
}

/// Registers this agent's link for API-server calls (logs) and forwards them to the actor.
fn serve_node_calls(myself: &ActorRef<AgentMsg>, args: &NodeAgentArgs) -> JoinHandle<()> {
    let (link, mut calls) = mpsc::channel(64);
    args.links.register(&args.node_name, link);
    let me = myself.clone();
    tokio::spawn(async move {
        while let Some(call) = calls.recv().await {
            if me.cast(AgentMsg::Node(call)).is_err() {
                return;
            }
        }
    })
}

fn serve_node_call(state: &AgentState, call: NodeCall) {
    match call.request {
        NodeRequest::Logs {
            pod_uid,
            namespace,
            pod,
            container,
            follow,
            tail_lines,
        } => {
            let path = logs::log_path(&state.args.log_dir, &namespace, &pod, &pod_uid, &container);
            tokio::spawn(logs::serve(path, follow, tail_lines, call.reply));
        }
    }
}

fn on_pod_event(myself: &ActorRef<AgentMsg>, state: &mut AgentState, watched: Watched<Pod>) {
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
                for c in &entry.pod.spec.containers {
                    let id = container_id(&uid, &c.name);
                    let _ = state.args.runtime.signal(&id, Signal::Kill);
                    let _ = state.args.runtime.remove(&id);
                }
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
    let runtime = state.args.runtime.as_ref();
    let observed: BTreeMap<String, ContainerState> = entry
        .pod
        .spec
        .containers
        .iter()
        .filter_map(|c| Some((c.name.clone(), runtime.state(&container_id(uid, &c.name))?)))
        .collect();
    let now = now();
    let plan = sync::plan(&entry.pod, &mut entry.record, &observed, now);
    for id in &plan.remove {
        if let Err(error) = runtime.remove(id) {
            tracing::warn!(container = %id, %error, "cleaning up an exited container failed");
        }
    }
    if let Some(after) = plan.requeue_after {
        let uid = uid.to_string();
        myself.send_after(after, move || AgentMsg::Sync(uid));
    }
    if !plan.start.is_empty() {
        for name in &plan.start {
            start_container(&state.args, entry, name, now).await;
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

async fn start_container(args: &NodeAgentArgs, entry: &mut PodEntry, name: &str, now: Now) {
    let Some(container) = entry.pod.spec.containers.iter().find(|c| c.name == name) else {
        return;
    };
    let pod_name = &entry.pod.metadata.name;
    let declared = match container_env(&args.api, &entry.pod, container).await {
        Ok(declared) => declared,
        Err(message) => {
            tracing::warn!(pod = %pod_name, container = name, %message, "environment unavailable");
            sync::config_failed(&mut entry.record, name, message, now);
            return;
        }
    };
    let spec = container_spec::container_spec(&entry.pod, container, declared, &args.log_dir);
    match args.runtime.start(&spec) {
        Ok(pid) => tracing::info!(pod = %pod_name, container = name, pid, "started"),
        Err(error) => {
            tracing::warn!(pod = %pod_name, container = name, %error, "start failed");
            sync::start_failed(&entry.pod, &mut entry.record, name, error.to_string(), now);
        }
    }
}

/// Fetches the ConfigMaps and Secrets `container` names and resolves its environment.
async fn container_env(
    api: &ApiClient,
    pod: &Pod,
    container: &Container,
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
    env::resolve(container, namespace, &sources)
}

/// One step of stopping a pod being deleted; true once it is gone from node and API.
async fn terminate_pod(
    myself: &ActorRef<AgentMsg>,
    args: &NodeAgentArgs,
    entry: &mut PodEntry,
) -> bool {
    let uid = entry.pod.metadata.uid.clone();
    let ids: Vec<String> = entry
        .pod
        .spec
        .containers
        .iter()
        .map(|c| container_id(&uid, &c.name))
        .collect();
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
            for id in &ids {
                let _ = args.runtime.signal(id, Signal::Term);
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
            for id in &ids {
                let _ = args.runtime.signal(id, Signal::Kill);
            }
            again(Duration::from_millis(100));
            false
        }
        Step::Done => {
            for id in &ids {
                if args.runtime.state(id).is_some()
                    && let Err(error) = args.runtime.remove(id)
                {
                    tracing::warn!(container = %id, %error, "cleanup failed; retrying");
                    again(Duration::from_millis(500));
                    return false;
                }
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
/// removes them. Used when the whole node process shuts down.
pub async fn stop_all_containers(runtime: &dyn Runtime, grace: Duration) {
    let running = |runtime: &dyn Runtime| -> Vec<String> {
        runtime
            .list()
            .into_iter()
            .filter(|(_, s)| matches!(s, ContainerState::Running { .. }))
            .map(|(id, _)| id)
            .collect()
    };
    for id in running(runtime) {
        let _ = runtime.signal(&id, Signal::Term);
    }
    let deadline = Instant::now() + grace;
    while !running(runtime).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in running(runtime) {
        let _ = runtime.signal(&id, Signal::Kill);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !running(runtime).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (id, _) in runtime.list() {
        if let Err(error) = runtime.remove(&id) {
            tracing::warn!(container = %id, %error, "could not remove at shutdown");
        }
    }
}
