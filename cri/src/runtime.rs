//! [`CriRuntime`]: the containers and sandboxes the agent made through a CRI runtime, and the
//! calls that make, stop, inspect and remove them.
//!
//! The agent's [`flotilla_node_os::Runtime`] calls are synchronous and some come from its one
//! async thread, so the gRPC client lives on a thread of its own (`cri`, with a small tokio
//! runtime): a synchronous call hands its work there and waits, an async one awaits it. What
//! the agent asks often (a container's state, the list) is answered from the book kept here,
//! which the poller ([`crate::watch`]) keeps current.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use tokio::runtime::Handle;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use flotilla_node_os::runtime::{Adoption, ExecProcess, ExecRequest, connect_in};
use flotilla_node_os::{CgroupUsage, ContainerState, ExitEvent, RuntimeError, Signal};

use crate::client::{CriClient, CriError, socket_path};
use crate::config::{
    CONTAINER_ID_LABEL, ContainerRequest, POD_UID_LABEL, PodSandboxRequest, container_config,
    sandbox_config,
};
use crate::proto::{
    AuthConfig, ContainerStatsRequest, ContainerStatusRequest, CreateContainerRequest, ImageSpec,
    ImageStatusRequest, ListContainersRequest, ListPodSandboxRequest, PodSandboxState,
    PodSandboxStatusRequest, PullImageRequest, RemoveContainerRequest, RemovePodSandboxRequest,
    RunPodSandboxRequest, StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
};
use crate::watch;

/// How long one call may take (the kubelet's default `--runtime-request-timeout`).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a pull may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);
/// A SIGTERM's stop waits this long before the runtime kills; the agent sends its own kill
/// when the pod's grace period ends.
const TERM_WAIT_SECONDS: i64 = 24 * 3600;

/// Why an image could not be had: the runtime's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFailure {
    pub message: String,
}

/// What the runtime says of an image it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// Its USER: a uid, or a name; `None` for root.
    pub user: Option<String>,
}

/// A container the agent made through the runtime.
#[derive(Debug, Clone)]
struct Tracked {
    cri_id: String,
    state: ContainerState,
}

#[derive(Default)]
struct Book {
    /// By the agent's container id.
    containers: BTreeMap<String, Tracked>,
    /// The runtime's sandbox id, by pod uid.
    sandboxes: BTreeMap<String, String>,
    subscribers: Vec<UnboundedSender<ExitEvent>>,
}

impl Book {
    /// Records that `id` ended as `state` says, and tells the subscribers.
    fn settle(&mut self, id: &str, state: ContainerState) {
        if let Some(exit) = watch::exit_event(id, &state) {
            self.subscribers
                .retain(|sender| sender.send(exit.clone()).is_ok());
        }
        if let Some(tracked) = self.containers.get_mut(id) {
            tracked.state = state;
        }
    }
}

/// The agent's side of one CRI runtime.
pub struct CriRuntime {
    socket: PathBuf,
    driver: Handle,
    client: CriClient,
    book: Arc<Mutex<Book>>,
    /// Where the pods' containers' cgroups go.
    cgroup_parent: String,
    /// This binary, which runs an exec's helper (`flotilla cri-exec`).
    helper: PathBuf,
}

impl CriRuntime {
    /// Connects to the runtime at `endpoint` (`unix:///…`), with the pods' cgroups under
    /// `cgroup_parent`, and starts watching for exits.
    pub async fn connect(endpoint: &str, cgroup_parent: String) -> Result<Arc<Self>, CriError> {
        let socket = socket_path(endpoint)?;
        let failed = |message: String| CriError::Connect {
            path: socket.clone(),
            message,
        };
        let driver = driver_thread()
            .map_err(|error| failed(format!("no thread for the client: {error}")))?;
        let path = socket.clone();
        let (client, version) = driver
            .spawn(async move { CriClient::connect(&path).await })
            .await
            .map_err(|error| failed(error.to_string()))??;
        tracing::info!(
            runtime = %version.runtime_name,
            version = %version.runtime_version,
            api = %version.runtime_api_version,
            socket = %socket.display(),
            "connected to the container runtime"
        );
        let helper = std::env::current_exe()
            .map_err(|error| failed(format!("cannot find this binary for exec: {error}")))?;
        let runtime = Arc::new(Self {
            socket,
            driver,
            client,
            book: Arc::default(),
            cgroup_parent,
            helper,
        });
        runtime.driver.spawn(poll_exits(
            runtime.client.clone(),
            Arc::downgrade(&runtime.book),
        ));
        Ok(runtime)
    }

    /// The cgroup parent of the pods' containers.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        lock(&self.book)
    }

    /// Runs `work` on the CRI thread and waits for it, from any thread.
    fn block<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, RuntimeError>> + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let (done, answer) = std::sync::mpsc::sync_channel(1);
        self.driver.spawn(async move {
            let _ = done.send(work.await);
        });
        answer
            .recv()
            .map_err(|_| cri_error("runtime", "call", "the CRI thread dropped the call"))?
    }

    /// Runs `work` on the CRI thread and awaits it.
    async fn off<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, RuntimeError>> + Send + 'static,
    ) -> Result<T, RuntimeError> {
        self.driver
            .spawn(work)
            .await
            .map_err(|error| cri_error("runtime", "call", &error.to_string()))?
    }

    /// Whether this runtime made container `id`.
    pub fn knows(&self, id: &str) -> bool {
        self.book().containers.contains_key(id)
    }

    /// Whether this runtime made the sandbox of pod `uid`.
    pub fn has_sandbox(&self, uid: &str) -> bool {
        self.book().sandboxes.contains_key(uid)
    }

    /// What the runtime knows of `image`, `None` when it does not have it.
    pub async fn image(&self, image: &str) -> Result<Option<ImageFacts>, ImageFailure> {
        let mut images = self.client.images.clone();
        let request = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.to_string(),
            }),
            verbose: false,
        };
        let status = self
            .off(grpc(
                image.to_string(),
                "ImageStatus",
                CALL_TIMEOUT,
                async move { images.image_status(request).await },
            ))
            .await
            .map_err(image_failure)?;
        Ok(status.image.map(|found| ImageFacts {
            user: match (found.uid, found.username) {
                (Some(uid), _) => Some(uid.value.to_string()),
                (None, name) if !name.is_empty() => Some(name),
                (None, _) => None,
            },
        }))
    }

    /// Pulls `image` for the sandbox of `pod`, with `auth` for its registry; the image's
    /// reference once pulled.
    pub async fn pull_image(
        &self,
        image: &str,
        auth: Option<AuthConfig>,
        pod: &PodSandboxRequest,
    ) -> Result<String, ImageFailure> {
        let mut images = self.client.images.clone();
        let request = PullImageRequest {
            image: Some(ImageSpec {
                image: image.to_string(),
            }),
            auth,
            sandbox_config: Some(sandbox_config(pod)),
        };
        let pulled = self
            .off(grpc(
                image.to_string(),
                "PullImage",
                PULL_TIMEOUT,
                async move { images.pull_image(request).await },
            ))
            .await
            .map_err(image_failure)?;
        Ok(pulled.image_ref)
    }

    /// Makes the sandbox of `pod` unless it is up.
    pub async fn run_pod_sandbox(&self, pod: &PodSandboxRequest) -> Result<(), RuntimeError> {
        if self.has_sandbox(&pod.uid) {
            return Ok(());
        }
        let mut runtime = self.client.runtime.clone();
        let request = RunPodSandboxRequest {
            config: Some(sandbox_config(pod)),
            runtime_handler: pod.runtime_handler.clone(),
        };
        let made = self
            .off(grpc(
                pod.uid.clone(),
                "RunPodSandbox",
                CALL_TIMEOUT,
                async move { runtime.run_pod_sandbox(request).await },
            ))
            .await?;
        self.book()
            .sandboxes
            .insert(pod.uid.clone(), made.pod_sandbox_id);
        Ok(())
    }

    /// Creates and starts `container` in the sandbox of `pod`; its main pid. A container that
    /// fails to start is removed, so nothing is left half-made.
    pub async fn start_container(
        &self,
        pod: &PodSandboxRequest,
        container: &ContainerRequest,
    ) -> Result<u32, RuntimeError> {
        let id = container.id.clone();
        if self.knows(&id) {
            return Err(RuntimeError::AlreadyExists { id });
        }
        let sandbox_id = self
            .book()
            .sandboxes
            .get(&pod.uid)
            .cloned()
            .ok_or_else(|| RuntimeError::NoSandbox {
                id: id.clone(),
                sandbox: pod.uid.clone(),
            })?;
        let mut runtime = self.client.runtime.clone();
        let create = CreateContainerRequest {
            pod_sandbox_id: sandbox_id,
            config: Some(container_config(pod, container)),
            sandbox_config: Some(sandbox_config(pod)),
        };
        let cri_id = self
            .off(grpc(
                id.clone(),
                "CreateContainer",
                CALL_TIMEOUT,
                async move { runtime.create_container(create).await },
            ))
            .await?
            .container_id;
        let mut runtime = self.client.runtime.clone();
        let start = StartContainerRequest {
            container_id: cri_id.clone(),
        };
        let started = self
            .off(grpc(
                id.clone(),
                "StartContainer",
                CALL_TIMEOUT,
                async move { runtime.start_container(start).await },
            ))
            .await;
        if let Err(error) = started {
            let remove = remove_container(self.client.clone(), &id, cri_id);
            if let Err(left) = self.off(remove).await {
                tracing::warn!(container = %id, error = %left, "cannot remove a failed container");
            }
            return Err(error);
        }
        let (state, pid) = self
            .off(status(self.client.clone(), id.clone(), cri_id.clone()))
            .await?;
        self.book().containers.insert(id, Tracked { cri_id, state });
        Ok(pid)
    }

    pub fn state(&self, id: &str) -> Option<ContainerState> {
        self.book()
            .containers
            .get(id)
            .map(|tracked| tracked.state.clone())
    }

    pub fn list(&self) -> Vec<(String, ContainerState)> {
        self.book()
            .containers
            .iter()
            .map(|(id, tracked)| (id.clone(), tracked.state.clone()))
            .collect()
    }

    pub fn subscribe(&self) -> UnboundedReceiver<ExitEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.book().subscribers.push(sender);
        receiver
    }

    /// Asks the runtime to stop container `id`: a SIGTERM (the runtime would kill it only
    /// after a day; the agent kills sooner) or a kill. The stop runs on; this does not wait.
    pub fn signal(&self, id: &str, signal: Signal) -> Result<(), RuntimeError> {
        let cri_id = self.running_cri_id(id)?;
        let timeout = match signal {
            Signal::Term => TERM_WAIT_SECONDS,
            Signal::Kill => 0,
        };
        let mut runtime = self.client.runtime.clone();
        let id = id.to_string();
        self.driver.spawn(async move {
            let request = StopContainerRequest {
                container_id: cri_id,
                timeout,
            };
            if let Err(status) = runtime.stop_container(request).await {
                tracing::warn!(container = %id, error = %status.message(), "stopping failed");
            }
        });
        Ok(())
    }

    fn running_cri_id(&self, id: &str) -> Result<String, RuntimeError> {
        match self.book().containers.get(id) {
            None => Err(RuntimeError::NotFound { id: id.to_string() }),
            Some(Tracked {
                state: ContainerState::Exited { .. },
                ..
            }) => Err(RuntimeError::NotRunning { id: id.to_string() }),
            Some(tracked) => Ok(tracked.cri_id.clone()),
        }
    }

    /// Forgets the exited container `id`, removing it from the runtime.
    pub fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let cri_id = match self.book().containers.get(id) {
            None => return Err(RuntimeError::NotFound { id: id.to_string() }),
            Some(Tracked {
                state: ContainerState::Running { .. },
                ..
            }) => return Err(RuntimeError::StillRunning { id: id.to_string() }),
            Some(tracked) => tracked.cri_id.clone(),
        };
        self.block(remove_container(self.client.clone(), id, cri_id))?;
        self.book().containers.remove(id);
        Ok(())
    }

    /// Takes over the sandboxes and running containers a previous agent made; exited
    /// containers and stopped sandboxes are removed.
    pub fn adopt_running(&self) -> Result<Adoption, RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let sandboxes = self
            .block(grpc(
                "sandboxes".to_string(),
                "ListPodSandbox",
                CALL_TIMEOUT,
                async move {
                    runtime
                        .list_pod_sandbox(ListPodSandboxRequest::default())
                        .await
                },
            ))?
            .items;
        for sandbox in sandboxes {
            let Some(uid) = sandbox.labels.get(POD_UID_LABEL) else {
                continue;
            };
            if sandbox.state() == PodSandboxState::SandboxReady {
                self.book().sandboxes.insert(uid.clone(), sandbox.id);
            } else {
                self.remove_cri_sandbox(uid, sandbox.id)?;
            }
        }
        let mut runtime = self.client.runtime.clone();
        let containers = self
            .block(grpc(
                "containers".to_string(),
                "ListContainers",
                CALL_TIMEOUT,
                async move {
                    runtime
                        .list_containers(ListContainersRequest::default())
                        .await
                },
            ))?
            .containers;
        let mut adoption = Adoption::default();
        for container in containers {
            let Some(id) = container.labels.get(CONTAINER_ID_LABEL).cloned() else {
                continue;
            };
            let cri_id = container.id;
            let (state, pid) =
                self.block(status(self.client.clone(), id.clone(), cri_id.clone()))?;
            if matches!(state, ContainerState::Running { .. }) {
                tracing::info!(%id, pid, "re-adopted a running container");
                adoption.adopted.push((id.clone(), pid));
                self.book().containers.insert(id, Tracked { cri_id, state });
            } else {
                self.block(remove_container(self.client.clone(), &id, cri_id))?;
                adoption.removed.push(id);
            }
        }
        Ok(adoption)
    }

    /// Stops and removes the sandbox of pod `uid` (and whatever containers it still has); a
    /// missing one is fine.
    pub fn remove_pod_sandbox(&self, uid: &str) -> Result<(), RuntimeError> {
        let Some(sandbox_id) = self.book().sandboxes.get(uid).cloned() else {
            return Ok(());
        };
        self.remove_cri_sandbox(uid, sandbox_id)?;
        self.book().sandboxes.remove(uid);
        Ok(())
    }

    fn remove_cri_sandbox(&self, uid: &str, sandbox_id: String) -> Result<(), RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let stop = StopPodSandboxRequest {
            pod_sandbox_id: sandbox_id.clone(),
        };
        self.block(grpc(
            uid.to_string(),
            "StopPodSandbox",
            CALL_TIMEOUT,
            async move { runtime.stop_pod_sandbox(stop).await },
        ))?;
        let mut runtime = self.client.runtime.clone();
        let remove = RemovePodSandboxRequest {
            pod_sandbox_id: sandbox_id,
        };
        self.block(grpc(
            uid.to_string(),
            "RemovePodSandbox",
            CALL_TIMEOUT,
            async move { runtime.remove_pod_sandbox(remove).await },
        ))?;
        Ok(())
    }

    pub fn list_pod_sandboxes(&self) -> Vec<String> {
        self.book().sandboxes.keys().cloned().collect()
    }

    /// Starts `request`'s command in container `id` through the runtime, by a helper process
    /// (`flotilla cri-exec`) whose output and exit are the command's.
    pub fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecProcess, RuntimeError> {
        let cri_id = self.running_cri_id(id)?;
        crate::exec::spawn(&self.helper, &self.socket, id, &cri_id, request)
    }

    /// What container `id` has used, from the runtime's stats.
    pub fn usage(&self, id: &str) -> Result<CgroupUsage, RuntimeError> {
        let cri_id = self.running_cri_id(id)?;
        let mut runtime = self.client.runtime.clone();
        let stats = self
            .block(grpc(
                id.to_string(),
                "ContainerStats",
                CALL_TIMEOUT,
                async move {
                    runtime
                        .container_stats(ContainerStatsRequest {
                            container_id: cri_id,
                        })
                        .await
                },
            ))?
            .stats
            .unwrap_or_default();
        let value = |field: Option<crate::proto::UInt64Value>| field.map_or(0, |v| v.value);
        Ok(CgroupUsage {
            cpu_usage_nanos: value(stats.cpu.and_then(|cpu| cpu.usage_core_nano_seconds)),
            memory_bytes: value(stats.memory.and_then(|memory| memory.working_set_bytes)),
        })
    }

    /// Connects to `address` from inside the network of pod `uid`'s sandbox.
    pub fn connect_in_sandbox(
        &self,
        uid: &str,
        address: SocketAddr,
        timeout: Duration,
    ) -> std::io::Result<TcpStream> {
        let sandbox_id = self
            .book()
            .sandboxes
            .get(uid)
            .cloned()
            .ok_or_else(|| std::io::Error::other(format!("no pod sandbox for pod {uid}")))?;
        let mut runtime = self.client.runtime.clone();
        let answer = self
            .block(grpc(
                uid.to_string(),
                "PodSandboxStatus",
                CALL_TIMEOUT,
                async move {
                    runtime
                        .pod_sandbox_status(PodSandboxStatusRequest {
                            pod_sandbox_id: sandbox_id,
                            verbose: true,
                        })
                        .await
                },
            ))
            .map_err(std::io::Error::other)?;
        let pid = info_pid(&answer.info).ok_or_else(|| {
            std::io::Error::other(format!("the runtime gives no pid for pod {uid}'s sandbox"))
        })?;
        connect_in(
            &Path::new("/proc").join(pid.to_string()).join("ns/net"),
            address,
            timeout,
        )
    }

    /// Runs `work` on the CRI thread (the router forwards the native runtime's exits there).
    pub(crate) fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.driver.spawn(work);
    }
}

/// One gRPC call's answer, or its failure named for `id`.
async fn grpc<T>(
    id: String,
    call: &'static str,
    limit: Duration,
    work: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, RuntimeError> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(answer)) => Ok(answer.into_inner()),
        Ok(Err(status)) => Err(cri_error(&id, call, status.message())),
        Err(_) => Err(cri_error(&id, call, "the runtime did not answer in time")),
    }
}

fn remove_container(
    client: CriClient,
    id: &str,
    cri_id: String,
) -> impl Future<Output = Result<(), RuntimeError>> + Send + 'static {
    let id = id.to_string();
    async move {
        let mut runtime = client.runtime;
        let request = RemoveContainerRequest {
            container_id: cri_id,
        };
        grpc(
            id.clone(),
            "RemoveContainer",
            CALL_TIMEOUT,
            runtime.remove_container(request),
        )
        .await?;
        Ok(())
    }
}

/// The state of the container `cri_id` and its main pid (0 when the runtime does not say).
async fn status(
    client: CriClient,
    id: String,
    cri_id: String,
) -> Result<(ContainerState, u32), RuntimeError> {
    let mut runtime = client.runtime;
    let request = ContainerStatusRequest {
        container_id: cri_id,
        verbose: true,
    };
    let answer = grpc(
        id.clone(),
        "ContainerStatus",
        CALL_TIMEOUT,
        runtime.container_status(request),
    )
    .await?;
    let pid = info_pid(&answer.info).unwrap_or(0);
    let mut state = answer
        .status
        .as_ref()
        .map(watch::state_of)
        .ok_or_else(|| cri_error(&id, "ContainerStatus", "no status in the answer"))?;
    if let ContainerState::Running { pid: known, .. } = &mut state {
        *known = pid;
    }
    Ok((state, pid))
}

/// Lists the runtime's containers every [`watch::POLL`] and settles those that ended, until
/// the runtime is dropped.
async fn poll_exits(client: CriClient, book: Weak<Mutex<Book>>) {
    let mut ticks = tokio::time::interval(watch::POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unreachable = false;
    loop {
        ticks.tick().await;
        let Some(book) = book.upgrade() else {
            return;
        };
        // Only containers running before the listing is asked for can be judged by it.
        let running: Vec<(String, String)> = lock(&book)
            .containers
            .iter()
            .filter(|(_, tracked)| matches!(tracked.state, ContainerState::Running { .. }))
            .map(|(id, tracked)| (tracked.cri_id.clone(), id.clone()))
            .collect();
        if running.is_empty() {
            continue;
        }
        let mut runtime = client.runtime.clone();
        let listing = grpc(
            "containers".to_string(),
            "ListContainers",
            CALL_TIMEOUT,
            runtime.list_containers(ListContainersRequest::default()),
        );
        let listed = match listing.await {
            Ok(answer) => {
                if std::mem::take(&mut unreachable) {
                    tracing::info!("the container runtime answers again");
                }
                answer.containers
            }
            Err(error) => {
                // Said once, not every tick, while the runtime is away.
                if !std::mem::replace(&mut unreachable, true) {
                    tracing::warn!(%error, "listing the runtime's containers failed");
                }
                continue;
            }
        };
        let states: HashMap<String, crate::proto::ContainerState> = listed
            .into_iter()
            .map(|container| (container.id.clone(), container.state()))
            .collect();
        let ended = watch::ended(
            running
                .iter()
                .map(|(cri_id, id)| (cri_id.as_str(), id.as_str())),
            &states,
        );
        for (cri_id, id) in running.into_iter().filter(|(_, id)| ended.contains(id)) {
            let state = match status(client.clone(), id.clone(), cri_id).await {
                Ok((state, _)) => state,
                // Gone from the runtime altogether: it ended, how is lost.
                Err(error) => {
                    tracing::warn!(container = %id, %error, "a container vanished from the runtime");
                    ContainerState::Exited {
                        exit_code: 137,
                        signal: Some(9),
                        oom_killed: false,
                        started_at: SystemTime::UNIX_EPOCH,
                        finished_at: SystemTime::now(),
                    }
                }
            };
            if matches!(state, ContainerState::Exited { .. }) {
                lock(&book).settle(&id, state);
            }
        }
    }
}

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The CRI thread: a current-thread tokio runtime that lives as long as the process.
fn driver_thread() -> std::io::Result<Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("cri".to_string())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

fn cri_error(id: &str, call: &'static str, message: &str) -> RuntimeError {
    RuntimeError::Cri {
        id: id.to_string(),
        call,
        message: message.to_string(),
    }
}

fn image_failure(error: RuntimeError) -> ImageFailure {
    let message = match error {
        RuntimeError::Cri { message, .. } => message,
        other => other.to_string(),
    };
    ImageFailure { message }
}

/// The pid in a verbose status's `info`: containerd's JSON has it as `pid`.
fn info_pid(info: &HashMap<String, String>) -> Option<u32> {
    let json: serde_json::Value = serde_json::from_str(info.get("info")?).ok()?;
    json.get("pid")?
        .as_u64()
        .and_then(|pid| u32::try_from(pid).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_comes_from_verbose_info() {
        let info = HashMap::from([(
            "info".to_string(),
            r#"{"sandboxID":"abc","pid":4242,"runtimeSpec":{}}"#.to_string(),
        )]);
        assert_eq!(info_pid(&info), Some(4242));
        assert_eq!(info_pid(&HashMap::new()), None);
        let broken = HashMap::from([("info".to_string(), "{".to_string())]);
        assert_eq!(info_pid(&broken), None);
    }
}
