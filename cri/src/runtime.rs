//! [`CriRuntime`]: the containers and sandboxes the agent made through a CRI runtime, and the
//! calls that make, stop, inspect and remove them.
//!
//! The agent's [`flotilla_node_os::Runtime`] calls are synchronous and some come from its one
//! async thread, so the gRPC client lives on a thread of its own (`cri`, with a small tokio
//! runtime): a synchronous call hands its work there and waits, an async one awaits it. What
//! the agent asks often (a container's state, the list) is answered from the [`Book`], which
//! the poller ([`crate::poller`]) keeps current.

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::runtime::Handle;
use tokio::sync::mpsc::{self, UnboundedReceiver};

use flotilla_node_os::runtime::{Adoption, ExecProcess, ExecRequest, connect_in};
use flotilla_node_os::{CgroupUsage, ContainerState, ExitEvent, RuntimeError, Signal};

use crate::book::{Book, Sandbox, Tracked, lock};
use crate::calls::{
    CALL_TIMEOUT, container_state, cri_error, grpc, info_pid, managed_containers, removal,
    remove_container,
};
use crate::client::{CriClient, CriError, socket_path};
use crate::config::{
    CONTAINER_ID_LABEL, ContainerRequest, POD_UID_LABEL, PodSandboxRequest, container_config,
    managed, sandbox_config,
};
use crate::poller::poll_exits;
use crate::proto::{
    AuthConfig, ContainerStatsRequest, CreateContainerRequest, ImageSpec, ImageStatusRequest,
    ListPodSandboxRequest, PodSandboxFilter, PodSandboxState, PodSandboxStatusRequest,
    PodSandboxStatusResponse, PullImageRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
};

/// How long a pull may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);
/// A SIGTERM's stop waits this long before the runtime kills; the agent sends its own kill
/// when the pod's grace period ends.
const TERM_WAIT_SECONDS: i64 = 24 * 3600;

/// Why an image could not be had: the runtime's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUnavailable {
    pub message: String,
}

/// What the runtime says of an image it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// Its USER: a uid, or a name; `None` for root.
    pub user: Option<String>,
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

    /// Runs `work` on the CRI thread and waits for it, from any thread but that one.
    fn block<T: Send + 'static>(
        &self,
        id: &str,
        work: impl Future<Output = Result<T, RuntimeError>> + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let (done, answer) = std::sync::mpsc::sync_channel(1);
        self.driver.spawn(async move {
            let _ = done.send(work.await);
        });
        answer
            .recv()
            .map_err(|_| cri_error(id, "call", "the CRI thread dropped the call"))?
    }

    /// Runs `work` on the CRI thread and awaits it.
    async fn off<T: Send + 'static>(
        &self,
        id: &str,
        work: impl Future<Output = Result<T, RuntimeError>> + Send + 'static,
    ) -> Result<T, RuntimeError> {
        self.driver
            .spawn(work)
            .await
            .map_err(|error| cri_error(id, "call", &error.to_string()))?
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
    pub async fn image(&self, image: &str) -> Result<Option<ImageFacts>, ImageUnavailable> {
        let mut images = self.client.images.clone();
        let request = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.to_string(),
            }),
            verbose: false,
        };
        let status = grpc(image.to_string(), "ImageStatus", CALL_TIMEOUT, async move {
            images.image_status(request).await
        });
        let status = self.off(image, status).await.map_err(unavailable)?;
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
    ) -> Result<String, ImageUnavailable> {
        let mut images = self.client.images.clone();
        let request = PullImageRequest {
            image: Some(ImageSpec {
                image: image.to_string(),
            }),
            auth,
            sandbox_config: Some(sandbox_config(pod)),
        };
        let pull = grpc(image.to_string(), "PullImage", PULL_TIMEOUT, async move {
            images.pull_image(request).await
        });
        let pulled = self.off(image, pull).await.map_err(unavailable)?;
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
        let run = grpc(pod.uid.clone(), "RunPodSandbox", CALL_TIMEOUT, async move {
            runtime.run_pod_sandbox(request).await
        });
        let made = self.off(&pod.uid, run).await?;
        self.book().sandboxes.insert(
            pod.uid.clone(),
            Sandbox {
                cri_id: made.pod_sandbox_id,
                pid: None,
                ips: None,
            },
        );
        Ok(())
    }

    /// Creates and starts `container` in the sandbox of `pod`; its main pid (0 if the runtime
    /// does not say). A container that fails to start is removed, so nothing is left
    /// half-made; one that started is the poller's to watch from then on.
    pub async fn start_container(
        &self,
        pod: &PodSandboxRequest,
        container: &ContainerRequest,
    ) -> Result<u32, RuntimeError> {
        let id = container.id.clone();
        if self.knows(&id) {
            return Err(RuntimeError::AlreadyExists { id });
        }
        let sandbox = self
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
            pod_sandbox_id: sandbox.cri_id,
            config: Some(container_config(pod, container)),
            sandbox_config: Some(sandbox_config(pod)),
        };
        let create = grpc(id.clone(), "CreateContainer", CALL_TIMEOUT, async move {
            runtime.create_container(create).await
        });
        let cri_id = self.off(&id, create).await?.container_id;
        let mut runtime = self.client.runtime.clone();
        let start = StartContainerRequest {
            container_id: cri_id.clone(),
        };
        let start = grpc(id.clone(), "StartContainer", CALL_TIMEOUT, async move {
            runtime.start_container(start).await
        });
        if let Err(error) = self.off(&id, start).await {
            let remove = remove_container(&self.client, &id, cri_id);
            if let Err(left) = self.off(&id, remove).await {
                tracing::warn!(container = %id, error = %left, "cannot remove a failed container");
            }
            return Err(error);
        }
        self.book().containers.insert(
            id.clone(),
            Tracked {
                cri_id: cri_id.clone(),
                pod: pod.uid.clone(),
                state: ContainerState::Running {
                    pid: 0,
                    started_at: SystemTime::now(),
                },
            },
        );
        match self.off(&id, self.status(&id, cri_id)).await {
            Ok((state @ ContainerState::Running { pid, .. }, _)) => {
                if let Some(tracked) = self.book().containers.get_mut(&id) {
                    tracked.state = state;
                }
                Ok(pid)
            }
            Ok((exited, _)) => {
                self.book().settle(&id, exited);
                Ok(0)
            }
            Err(error) => {
                tracing::debug!(container = %id, %error, "no status yet; the poller will ask");
                Ok(0)
            }
        }
    }

    /// The state and pid of the container `cri_id` (the agent's `id`), to run on the CRI
    /// thread.
    fn status(
        &self,
        id: &str,
        cri_id: String,
    ) -> impl Future<Output = Result<(ContainerState, u32), RuntimeError>> + Send + 'static {
        let (client, id) = (self.client.clone(), id.to_string());
        async move {
            container_state(&client, cri_id)
                .await
                .map_err(|status| cri_error(&id, "ContainerStatus", status.message()))
        }
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
                tracing::warn!(container = %id, %signal, error = %status.message(), "StopContainer failed");
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
        self.block(id, remove_container(&self.client, id, cri_id))?;
        self.book().containers.remove(id);
        Ok(())
    }

    /// Takes over the sandboxes and running containers a previous agent made; containers
    /// that no longer run and sandboxes that are not ready are removed. One that cannot be
    /// looked at or removed is left for the next start, not a reason to fail this one.
    pub fn adopt_running(&self) -> Result<Adoption, RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let list = grpc(
            "sandboxes".to_string(),
            "ListPodSandbox",
            CALL_TIMEOUT,
            async move {
                runtime
                    .list_pod_sandbox(ListPodSandboxRequest {
                        filter: Some(PodSandboxFilter {
                            label_selector: managed(),
                            ..PodSandboxFilter::default()
                        }),
                    })
                    .await
            },
        );
        for sandbox in self.block("sandboxes", list)?.items {
            let Some(uid) = sandbox.labels.get(POD_UID_LABEL) else {
                continue;
            };
            if self.has_sandbox(uid) {
                continue;
            }
            if sandbox.state() == PodSandboxState::SandboxReady {
                let entry = Sandbox {
                    cri_id: sandbox.id,
                    pid: None,
                    ips: None,
                };
                self.book().sandboxes.insert(uid.clone(), entry);
            } else if let Err(error) = self.remove_cri_sandbox(uid, sandbox.id) {
                tracing::warn!(sandbox = %uid, %error, "cannot remove a stopped pod sandbox");
            }
        }
        let mut runtime = self.client.runtime.clone();
        let list = grpc(
            "containers".to_string(),
            "ListContainers",
            CALL_TIMEOUT,
            async move { runtime.list_containers(managed_containers()).await },
        );
        let mut adoption = Adoption::default();
        for container in self.block("containers", list)?.containers {
            let Some(id) = container.labels.get(CONTAINER_ID_LABEL).cloned() else {
                continue;
            };
            let pod = container
                .labels
                .get(POD_UID_LABEL)
                .cloned()
                .unwrap_or_default();
            if self.knows(&id) {
                continue;
            }
            if container.state() != crate::proto::ContainerState::ContainerRunning {
                match self.block(&id, remove_container(&self.client, &id, container.id)) {
                    Ok(()) => adoption.removed.push(id),
                    Err(error) => tracing::warn!(%id, %error, "cannot remove a stopped container"),
                }
                continue;
            }
            let status = self.status(&id, container.id.clone());
            let (state, pid) = self.block(&id, status).unwrap_or_else(|error| {
                tracing::warn!(%id, %error, "adopting without its status; the poller will ask");
                let started_at = SystemTime::now();
                (ContainerState::Running { pid: 0, started_at }, 0)
            });
            tracing::info!(%id, pid, "re-adopted a running container");
            adoption.adopted.push((id.clone(), pid));
            let tracked = Tracked {
                cri_id: container.id,
                pod,
                state,
            };
            self.book().containers.insert(id, tracked);
        }
        Ok(adoption)
    }

    /// Stops and removes the sandbox of pod `uid` and forgets its containers, which go with
    /// it; a missing one is fine.
    pub fn remove_pod_sandbox(&self, uid: &str) -> Result<(), RuntimeError> {
        let Some(sandbox) = self.book().sandboxes.get(uid).cloned() else {
            return Ok(());
        };
        self.remove_cri_sandbox(uid, sandbox.cri_id)?;
        self.book().forget_pod(uid);
        Ok(())
    }

    fn remove_cri_sandbox(&self, uid: &str, sandbox_id: String) -> Result<(), RuntimeError> {
        let mut runtime = self.client.runtime.clone();
        let stop = StopPodSandboxRequest {
            pod_sandbox_id: sandbox_id.clone(),
        };
        self.block(
            uid,
            removal(uid.to_string(), "StopPodSandbox", async move {
                runtime.stop_pod_sandbox(stop).await
            }),
        )?;
        let mut runtime = self.client.runtime.clone();
        let remove = RemovePodSandboxRequest {
            pod_sandbox_id: sandbox_id,
        };
        self.block(
            uid,
            removal(uid.to_string(), "RemovePodSandbox", async move {
                runtime.remove_pod_sandbox(remove).await
            }),
        )
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
        let stats = grpc(id.to_string(), "ContainerStats", CALL_TIMEOUT, async move {
            runtime
                .container_stats(ContainerStatsRequest {
                    container_id: cri_id,
                })
                .await
        });
        let stats = self.block(id, stats)?.stats.unwrap_or_default();
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
        let pid = self.sandbox_pid(uid).map_err(std::io::Error::other)?;
        connect_in(
            &Path::new("/proc").join(pid.to_string()).join("ns/net"),
            address,
            timeout,
        )
    }

    /// The addresses the runtime's network gave pod `uid`'s sandbox (IPv4 first, as it
    /// reports them), asked of the runtime once; none for a pod on the host's network.
    pub async fn pod_ips(&self, uid: &str) -> Result<Vec<String>, RuntimeError> {
        let sandbox = self.sandbox(uid)?;
        if let Some(ips) = sandbox.ips {
            return Ok(ips);
        }
        let status = self.sandbox_status(uid, sandbox, false);
        let network = self
            .off(uid, status)
            .await?
            .status
            .and_then(|status| status.network)
            .unwrap_or_default();
        let ips: Vec<String> = std::iter::once(network.ip)
            .chain(network.additional_ips.into_iter().map(|extra| extra.ip))
            .filter(|ip| !ip.is_empty())
            .collect();
        if let Some(sandbox) = self.book().sandboxes.get_mut(uid) {
            sandbox.ips = Some(ips.clone());
        }
        Ok(ips)
    }

    /// The process of pod `uid`'s sandbox, asked of the runtime once.
    fn sandbox_pid(&self, uid: &str) -> Result<u32, RuntimeError> {
        let sandbox = self.sandbox(uid)?;
        if let Some(pid) = sandbox.pid {
            return Ok(pid);
        }
        let status = self.sandbox_status(uid, sandbox, true);
        let pid = info_pid(&self.block(uid, status)?.info)
            .ok_or_else(|| cri_error(uid, "PodSandboxStatus", "the runtime gives no pid"))?;
        if let Some(sandbox) = self.book().sandboxes.get_mut(uid) {
            sandbox.pid = Some(pid);
        }
        Ok(pid)
    }

    /// What the agent knows of pod `uid`'s sandbox.
    fn sandbox(&self, uid: &str) -> Result<Sandbox, RuntimeError> {
        self.book()
            .sandboxes
            .get(uid)
            .cloned()
            .ok_or_else(|| cri_error(uid, "PodSandboxStatus", "no pod sandbox for this pod"))
    }

    /// The runtime's PodSandboxStatus of `sandbox`; `verbose` adds its `info` (the pid).
    fn sandbox_status(
        &self,
        uid: &str,
        sandbox: Sandbox,
        verbose: bool,
    ) -> impl Future<Output = Result<PodSandboxStatusResponse, RuntimeError>> + Send + 'static {
        let mut runtime = self.client.runtime.clone();
        grpc(
            uid.to_string(),
            "PodSandboxStatus",
            CALL_TIMEOUT,
            async move {
                runtime
                    .pod_sandbox_status(PodSandboxStatusRequest {
                        pod_sandbox_id: sandbox.cri_id,
                        verbose,
                    })
                    .await
            },
        )
    }

    /// Runs `work` on the CRI thread (the router forwards the native runtime's exits there).
    pub(crate) fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.driver.spawn(work);
    }
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

fn unavailable(error: RuntimeError) -> ImageUnavailable {
    let message = match error {
        RuntimeError::Cri { message, .. } => message,
        other => other.to_string(),
    };
    ImageUnavailable { message }
}
