//! The native runtime: each container is a process in its own cgroup (named after the
//! container id), its own session and process group. A host-image container gets new UTS and
//! IPC namespaces on the host's root; an image container is started through the container
//! init (`flotilla container-init`), which isolates it in its pod's sandbox, or by the OCI
//! runtime its spec names (see `oci`). The runtime's directory holds the sandboxes
//! (`sandboxes/POD`) and the containers' writable layers and init configs (`containers/ID`).
//!
//! A tokio task per container waits for the main process (tokio reaps it) and records the
//! exit in the shared table, which tells the subscribers. The trait's methods are synchronous
//! because they are quick system calls; `remove` may block briefly while killed processes
//! disappear from the cgroup.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::killpg;
use nix::unistd::{Pid, pipe2};
use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedReceiver;

use super::adopt::{Adoption, ProcFacts, main_process, read_facts, start_time, still_running};
use super::child_setup::ChildSetup;
use super::oci::{self, OciStart};
use super::oom::{OomWatch, oom_killed};
use super::stale::remove_stale_cgroups;
use super::table::{ContainerTable, Exit};
use super::{
    ContainerSpec, ContainerState, ExecProcess, ExecRequest, ExitEvent, Runtime, RuntimeError,
    Signal, exec_stdio,
};
use crate::cgroups::{CgroupPaths, CgroupUsage, Cgroups};
use crate::component::component_problem;
use crate::sandbox::config::{InitConfig, Overlay};
use crate::sandbox::exec::{ExecConfig, HOST_NAMESPACES, ISOLATED_NAMESPACES};
use crate::sandbox::pod::{self, ETC_FILES};
use crate::sandbox::{Isolation, Namespace, SandboxSpec};

/// How long `remove` waits for killed leftovers to leave the cgroup.
pub(crate) const REMOVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an adopted container (not our child, so not awaitable) is checked for exit.
const ADOPTED_POLL: Duration = Duration::from_millis(200);

/// Permissions of a newly created log file: the agent writes, its group may read.
const LOG_FILE_MODE: u32 = 0o640;

/// Permissions of a termination log's host file, set past the umask.
const TERMINATION_LOG_MODE: u32 = 0o666;

/// The binary the container init runs from: this one, even if replaced on disk since.
const INIT_PROGRAM: &str = "/proc/self/exe";

/// How long the container init may take to set a container up before it counts as failed.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A started container: the process to wait for, the container's main process when that is
/// another (under an OCI runtime, the runtime's child), and how to learn of an OOM kill when
/// the cgroup will be gone by the exit.
struct Launched {
    child: Child,
    main: Option<u32>,
    oom: Option<OomWatch>,
}

impl Launched {
    fn child(child: Child) -> Self {
        Self {
            child,
            main: None,
            oom: None,
        }
    }
}

/// Runs containers as processes on this host.
pub struct NativeRuntime {
    cgroups: Arc<dyn Cgroups>,
    /// Holds `sandboxes/` and `containers/`.
    root: PathBuf,
    table: Arc<Mutex<ContainerTable>>,
    tokio: Handle,
}

impl NativeRuntime {
    /// A runtime whose containers get their cgroups from `cgroups` and whose sandboxes and
    /// container layers live under `root`.
    ///
    /// # Panics
    /// Outside a tokio runtime: the exit waiters run on the runtime that created this.
    pub fn new(cgroups: Arc<dyn Cgroups>, root: PathBuf) -> Self {
        Self {
            cgroups,
            root,
            table: Arc::default(),
            tokio: Handle::current(),
        }
    }

    fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.root.join("sandboxes").join(id)
    }

    fn container_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    fn table(&self) -> MutexGuard<'_, ContainerTable> {
        lock(&self.table)
    }

    /// Creates the log file and cgroup, then spawns the process in them.
    fn launch(&self, spec: &ContainerSpec, program: &Path) -> Result<Launched, RuntimeError> {
        let log = open_log(&spec.log_path).map_err(|source| RuntimeError::LogFile {
            id: spec.id.clone(),
            path: spec.log_path.clone(),
            source,
        })?;
        let stderr = log.try_clone().map_err(|source| RuntimeError::LogFile {
            id: spec.id.clone(),
            path: spec.log_path.clone(),
            source,
        })?;
        let paths = self
            .cgroups
            .create(&spec.id, &spec.limits)
            .map_err(|source| RuntimeError::Cgroup {
                id: spec.id.clone(),
                source,
            })?;
        let spawn_error = |source| RuntimeError::Spawn {
            id: spec.id.clone(),
            program: program.to_path_buf(),
            source,
        };
        let spawned = match &spec.isolation {
            None => ChildSetup::new(&paths.procs_files, &spec.hostname)
                .map_err(|error| spawn_error(io::Error::new(io::ErrorKind::InvalidInput, error)))
                .and_then(|setup| self.spawn_on_host(spec, program, setup, log, stderr))
                .map(Launched::child),
            Some(isolation) => self.spawn_isolated(spec, isolation, &paths, log, stderr),
        };
        if spawned.is_err() {
            // The child never got to exec the container's command, so its cgroup holds
            // nothing of the container.
            if let Err(error) = self.cgroups.kill_and_remove(&spec.id, REMOVE_TIMEOUT) {
                tracing::warn!(id = %spec.id, %error, "cannot remove the cgroup of a failed start");
            }
            if spec.isolation.is_some() {
                let dir = self.container_dir(&spec.id);
                if let Err(error) = remove_container_dir(&dir) {
                    tracing::warn!(dir = %dir.display(), %error, "cannot remove the directory of a failed start");
                }
            }
        }
        spawned
    }

    /// A host-image container: the command itself, on the host's root.
    fn spawn_on_host(
        &self,
        spec: &ContainerSpec,
        program: &Path,
        setup: ChildSetup,
        log: File,
        stderr: File,
    ) -> Result<Child, RuntimeError> {
        let spawn_error = |source| RuntimeError::Spawn {
            id: spec.id.clone(),
            program: program.to_path_buf(),
            source,
        };
        {
            let (arg0, args) = spec
                .command
                .split_first()
                .ok_or(RuntimeError::InvalidSpec {
                    id: spec.id.clone(),
                    field: "command",
                    reason: "must not be empty",
                })?;
            let mut command = Command::new(program);
            command
                .arg0(arg0)
                .args(args)
                .env_clear()
                .envs(spec.process_env())
                .current_dir(spec.working_dir.as_deref().unwrap_or(Path::new("/")))
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(stderr);
            setup.install(&mut command);
            let _runtime = self.tokio.enter();
            command.spawn().map_err(spawn_error)
        }
    }

    /// An image container: the container init (or the OCI runtime), told what to do by a
    /// config file in the container's fresh directory; returns once the command executes or
    /// the init says why it cannot.
    fn spawn_isolated(
        &self,
        spec: &ContainerSpec,
        isolation: &Isolation,
        cgroup: &CgroupPaths,
        log: File,
        stderr: File,
    ) -> Result<Launched, RuntimeError> {
        let sandbox = self.sandbox_dir(&isolation.sandbox);
        if !pod::is_complete(&sandbox) {
            return Err(RuntimeError::NoSandbox {
                id: spec.id.clone(),
                sandbox: isolation.sandbox.clone(),
            });
        }
        let dir = self.container_dir(&spec.id);
        let dir_error = |path: &Path| {
            let path = path.to_path_buf();
            |source| RuntimeError::ContainerDir {
                id: spec.id.clone(),
                path,
                source,
            }
        };
        let rootfs = Overlay::in_dir(&dir, &isolation.layers);
        remove_container_dir(&dir).map_err(dir_error(&dir))?;
        for layer_dir in [&rootfs.upper, &rootfs.work, &rootfs.merged] {
            fs::create_dir_all(layer_dir).map_err(dir_error(layer_dir))?;
        }
        if let Some(file) = &isolation.termination_log {
            empty_termination_log(&file.source).map_err(dir_error(&file.source))?;
        }
        let config = InitConfig {
            id: spec.id.clone(),
            argv: spec.command.clone(),
            env: spec.env.clone(),
            working_dir: spec
                .working_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("/")),
            join: [
                Namespace::Network,
                Namespace::Ipc,
                Namespace::Uts,
                Namespace::Pid,
            ]
            .into_iter()
            .map(|ns| (ns, sandbox.join(ns.file_name())))
            .filter(|(_, path)| path.exists())
            .collect(),
            rootfs,
            etc: ETC_FILES
                .iter()
                .map(|name| (name.to_string(), sandbox.join(name)))
                .collect(),
            termination_log: isolation.termination_log.clone(),
            user: isolation.user.clone(),
            security: isolation.security.clone(),
        };
        let config_path = dir.join("config.json");
        config.save(&config_path).map_err(dir_error(&config_path))?;
        if let Some(binary) = &isolation.oci_runtime {
            let _runtime = self.tokio.enter();
            let oci = OciStart {
                binary,
                dir: &dir,
                config: &config,
                cgroups_path: &cgroup.relative,
            };
            let oom = OomWatch::start(cgroup, &self.tokio);
            return oci
                .run(log, stderr)
                .map(|(child, main)| Launched {
                    child,
                    main: Some(main),
                    oom: Some(oom),
                })
                .map_err(|message| RuntimeError::Sandbox {
                    id: spec.id.clone(),
                    message,
                });
        }

        let spawn_error = |source| RuntimeError::Spawn {
            id: spec.id.clone(),
            program: PathBuf::from(INIT_PROGRAM),
            source,
        };
        let (report, errors) =
            pipe2(OFlag::O_CLOEXEC).map_err(|errno| spawn_error(errno.into()))?;
        let setup = ChildSetup::container_init(&cgroup.procs_files, errors)
            .map_err(|error| spawn_error(io::Error::new(io::ErrorKind::InvalidInput, error)))?;
        let child = {
            // Dropped before the report is read: it holds the pipe's write end.
            let mut command = Command::new(INIT_PROGRAM);
            command
                .arg0("flotilla")
                .arg("container-init")
                .arg(&config_path)
                .env_clear()
                .current_dir("/")
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(stderr);
            setup.install(&mut command);
            let _runtime = self.tokio.enter();
            command.spawn().map_err(spawn_error)?
        };
        match read_report(report) {
            Ok(message) if message.is_empty() => Ok(Launched::child(child)),
            Ok(message) => Err(RuntimeError::Sandbox {
                id: spec.id.clone(),
                message,
            }),
            Err(source) => Err(spawn_error(source)),
        }
    }

    /// Waits for the launched process in the background and records its exit, and whether
    /// the OOM killer was behind it.
    fn watch(&self, id: String, launched: Launched) {
        let Launched { mut child, oom, .. } = launched;
        let table = Arc::clone(&self.table);
        let cgroups = Arc::clone(&self.cgroups);
        self.tokio.spawn(async move {
            let mut exit = match child.wait().await {
                Ok(status) => Exit::from_status(status),
                Err(error) => {
                    tracing::error!(%id, %error, "cannot wait for container process");
                    Exit::with_code(-1)
                }
            };
            exit.oom_killed = match oom {
                Some(watch) => watch.oom_killed(exit.killed()).await,
                None => {
                    let cgroup = id.clone();
                    tokio::task::spawn_blocking(move || oom_killed(cgroups.as_ref(), &cgroup))
                        .await
                        .unwrap_or(false)
                }
            };
            let event = lock(&table).exited(&id, exit, SystemTime::now());
            if let Some(event) = event {
                tracing::info!(%id, exit_code = event.exit_code, signal = ?event.signal, "container exited");
            }
        });
    }
}

impl NativeRuntime {
    /// Follows an adopted container's main process until it exits. It is not our child, so
    /// its exit status went to whoever reaped it: the exit is reported with code -1.
    fn watch_adopted(&self, id: String, main: ProcFacts) {
        let table = Arc::clone(&self.table);
        self.tokio.spawn(async move {
            loop {
                tokio::time::sleep(ADOPTED_POLL).await;
                let ours = matches!(
                    lock(&table).state(&id),
                    Some(ContainerState::Running { pid, .. }) if pid == main.pid
                );
                if !ours {
                    return;
                }
                if !still_running(main.pid, main.start_ticks) {
                    lock(&table).exited(&id, Exit::with_code(-1), SystemTime::now());
                    tracing::info!(%id, "an adopted container exited; its exit status is unknown");
                    return;
                }
            }
        });
    }
}

impl Runtime for NativeRuntime {
    fn start(&self, spec: &ContainerSpec) -> Result<u32, RuntimeError> {
        spec.validate()?;
        let program = match spec.isolation {
            None => spec.resolve_program()?,
            Some(_) => PathBuf::from(INIT_PROGRAM),
        };
        self.table().reserve(&spec.id)?;
        let launched = match self.launch(spec, &program) {
            Ok(launched) => launched,
            Err(error) => {
                self.table().abandon(&spec.id);
                return Err(error);
            }
        };
        // tokio gives the pid until the child has been awaited, which has not happened yet.
        let Some(pid) = launched.main.or_else(|| launched.child.id()) else {
            self.table().abandon(&spec.id);
            return Err(RuntimeError::Spawn {
                id: spec.id.clone(),
                program,
                source: io::Error::other("the process vanished before its pid was read"),
            });
        };
        self.table().started(&spec.id, pid, SystemTime::now());
        tracing::info!(id = %spec.id, pid, program = %program.display(), "container started");
        self.watch(spec.id.clone(), launched);
        Ok(pid)
    }

    fn state(&self, id: &str) -> Option<ContainerState> {
        self.table().state(id)
    }

    fn signal(&self, id: &str, signal: Signal) -> Result<(), RuntimeError> {
        let pid = self.table().running_pid(id)?;
        let signal_error = |source| RuntimeError::Signal {
            id: id.to_string(),
            pid,
            signal,
            source,
        };
        // The main process leads its own session, so its pid is also its process group id.
        let group = i32::try_from(pid)
            .map(Pid::from_raw)
            .map_err(|_| signal_error(Errno::ESRCH))?;
        match killpg(group, signal.to_nix()) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => return Err(signal_error(source)),
        }
        if signal == Signal::Kill {
            // Processes that left the group (setsid, setpgid) are still in the cgroup.
            self.cgroups
                .kill_all(id)
                .map_err(|source| RuntimeError::Cgroup {
                    id: id.to_string(),
                    source,
                })?;
        }
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.table().check_removable(id)?;
        self.cgroups
            .kill_and_remove(id, REMOVE_TIMEOUT)
            .map_err(|source| RuntimeError::Cgroup {
                id: id.to_string(),
                source,
            })?;
        let dir = self.container_dir(id);
        remove_container_dir(&dir).map_err(|source| RuntimeError::ContainerDir {
            id: id.to_string(),
            path: dir,
            source,
        })?;
        self.table().forget(id);
        Ok(())
    }

    fn list(&self) -> Vec<(String, ContainerState)> {
        self.table().list()
    }

    fn subscribe(&self) -> UnboundedReceiver<ExitEvent> {
        self.table().subscribe()
    }

    fn adopt_running(&self) -> Result<Adoption, RuntimeError> {
        let mut keep = self.table().known_ids();
        keep.insert(super::CRI_CGROUP.to_string());
        let present = self
            .cgroups
            .list()
            .map_err(|source| RuntimeError::ListCgroups { source })?;
        let unknown: Vec<String> = present
            .into_iter()
            .filter(|name| !keep.contains(name))
            .collect();
        let mut adoption = Adoption::default();
        for name in unknown {
            let procs: Vec<ProcFacts> = self
                .cgroups
                .pids(&name)
                .unwrap_or_default()
                .into_iter()
                .filter_map(read_facts)
                .collect();
            let Some(main) = main_process(&procs) else {
                continue;
            };
            self.table()
                .started(&name, main.pid, start_time(main.start_ticks));
            self.watch_adopted(name.clone(), main);
            tracing::info!(id = %name, pid = main.pid, "re-adopted a running container");
            keep.insert(name.clone());
            adoption.adopted.push((name, main.pid));
        }
        adoption.removed = remove_stale_cgroups(self.cgroups.as_ref(), &keep, REMOVE_TIMEOUT)?;
        self.remove_stale_container_dirs(&keep);
        Ok(adoption)
    }

    fn run_pod_sandbox(&self, sandbox: &SandboxSpec) -> Result<(), RuntimeError> {
        let invalid = |reason: &str| RuntimeError::PodSandbox {
            id: sandbox.id.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, reason.to_string()),
        };
        if let Some(reason) = component_problem(&sandbox.id) {
            return Err(invalid(reason));
        }
        pod::create(&self.sandbox_dir(&sandbox.id), sandbox).map_err(|source| {
            RuntimeError::PodSandbox {
                id: sandbox.id.clone(),
                source,
            }
        })
    }

    fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        if component_problem(id).is_some() {
            return Err(RuntimeError::NotFound { id: id.to_string() });
        }
        pod::remove(&self.sandbox_dir(id)).map_err(|source| RuntimeError::PodSandbox {
            id: id.to_string(),
            source,
        })
    }

    fn pod_netns(&self, id: &str) -> Option<PathBuf> {
        if component_problem(id).is_some() {
            return None;
        }
        let dir = self.sandbox_dir(id);
        pod::own_netns(&dir)
    }

    fn list_pod_sandboxes(&self) -> Result<Vec<String>, RuntimeError> {
        pod::list(&self.root.join("sandboxes")).map_err(|source| RuntimeError::PodSandbox {
            id: String::new(),
            source,
        })
    }

    fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecProcess, RuntimeError> {
        let main = self.table().running_pid(id)?;
        let config = self.exec_config(id, main, request)?;
        let spec = serde_json::to_string(&config).map_err(|error| RuntimeError::Sandbox {
            id: id.to_string(),
            message: format!("encoding the exec: {error}"),
        })?;
        let paths = self
            .cgroups
            .paths(id)
            .map_err(|source| RuntimeError::Cgroup {
                id: id.to_string(),
                source,
            })?;
        let spawn_error = |source| RuntimeError::Spawn {
            id: id.to_string(),
            program: PathBuf::from(INIT_PROGRAM),
            source,
        };
        let (report, errors) =
            pipe2(OFlag::O_CLOEXEC).map_err(|errno| spawn_error(errno.into()))?;
        let setup = ChildSetup::container_exec(&paths.procs_files, errors)
            .map_err(|error| spawn_error(io::Error::new(io::ErrorKind::InvalidInput, error)))?;
        let (child, terminal) = {
            // Dropped before the report is read: it holds the pipe's write end.
            let mut command = Command::new(INIT_PROGRAM);
            command
                .arg0("flotilla")
                .arg("container-exec")
                .arg(spec)
                .env_clear()
                .current_dir("/")
                .kill_on_drop(true);
            let terminal = exec_stdio(&mut command, request).map_err(spawn_error)?;
            setup.install(&mut command);
            let _runtime = self.tokio.enter();
            (command.spawn().map_err(spawn_error)?, terminal)
        };
        match read_report(report) {
            Ok(message) if message.is_empty() => Ok(ExecProcess { child, terminal }),
            Ok(message) => Err(RuntimeError::Sandbox {
                id: id.to_string(),
                message,
            }),
            Err(source) => Err(spawn_error(source)),
        }
    }

    fn usage(&self, id: &str) -> Result<CgroupUsage, RuntimeError> {
        if self.table().state(id).is_none() {
            return Err(RuntimeError::NotFound { id: id.to_string() });
        }
        self.cgroups
            .usage(id)
            .map_err(|source| RuntimeError::Cgroup {
                id: id.to_string(),
                source,
            })
    }

    fn connect(
        &self,
        sandbox: &str,
        address: std::net::SocketAddr,
        timeout: Duration,
    ) -> io::Result<std::net::TcpStream> {
        if component_problem(sandbox).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid pod sandbox id {sandbox:?}"),
            ));
        }
        pod::connect(&self.sandbox_dir(sandbox), address, timeout)
    }
}

impl NativeRuntime {
    /// What an exec into container `id`, whose main process is `main`, runs and where: the
    /// namespaces, environment and working directory of its command, and for an image
    /// container its user and restrictions from the config it was started with.
    fn exec_config(
        &self,
        id: &str,
        main: u32,
        request: &ExecRequest,
    ) -> Result<ExecConfig, RuntimeError> {
        let config_path = self.container_dir(id).join("config.json");
        let init = config_path
            .exists()
            .then(|| InitConfig::load(&config_path))
            .transpose()
            .map_err(|message| RuntimeError::Sandbox {
                id: id.to_string(),
                message,
            })?;
        // The container init's command is its only child; an OCI runtime's is the main process.
        let under_init = init.is_some() && !self.container_dir(id).join(oci::BUNDLE).exists();
        let target = if under_init {
            command_of(main).ok_or_else(|| RuntimeError::NotRunning { id: id.to_string() })?
        } else {
            main
        };
        let env = fs::read(format!("/proc/{target}/environ"))
            .map_err(|_| RuntimeError::NotRunning { id: id.to_string() })?
            .split(|byte| *byte == 0)
            .filter_map(|entry| {
                let entry = String::from_utf8_lossy(entry);
                let (key, value) = entry.split_once('=')?;
                Some((key.to_string(), value.to_string()))
            })
            .collect();
        Ok(match init {
            Some(init) => ExecConfig {
                target,
                namespaces: ISOLATED_NAMESPACES.map(str::to_string).to_vec(),
                argv: request.command.clone(),
                env,
                working_dir: init.working_dir,
                tty: request.tty.is_some(),
                isolated: Some((init.user, init.security)),
            },
            None => ExecConfig {
                target,
                namespaces: HOST_NAMESPACES.map(str::to_string).to_vec(),
                argv: request.command.clone(),
                env,
                working_dir: fs::read_link(format!("/proc/{target}/cwd"))
                    .unwrap_or_else(|_| PathBuf::from("/")),
                tty: request.tty.is_some(),
                isolated: None,
            },
        })
    }
}

/// The container's command: the only child of its init.
fn command_of(init: u32) -> Option<u32> {
    fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl NativeRuntime {
    /// The directories of containers that no longer run (a crash between start and remove).
    fn remove_stale_container_dirs(&self, keep: &std::collections::BTreeSet<String>) {
        let Ok(entries) = fs::read_dir(self.root.join("containers")) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_some_and(|name| keep.contains(name)) {
                continue;
            }
            if let Err(error) = remove_container_dir(&entry.path()) {
                tracing::warn!(dir = %entry.path().display(), %error, "cannot remove a stale container directory");
            }
        }
    }
}

/// Reads what the container init reports until it closes the pipe: nothing when the command
/// is executing, else why it could not start.
fn read_report(report: OwnedFd) -> io::Result<String> {
    let deadline = std::time::Instant::now() + INIT_TIMEOUT;
    let mut message = Vec::new();
    let mut pipe = File::from(report);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the container init did not finish setting up within {} s",
                        INIT_TIMEOUT.as_secs()
                    ),
                ));
            }
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
        let mut chunk = [0u8; 4096];
        match pipe.read(&mut chunk) {
            Ok(0) => return Ok(String::from_utf8_lossy(&message).into_owned()),
            Ok(read) => message.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Removes a container's directory, after unmounting the root an OCI runtime's container had.
fn remove_container_dir(dir: &Path) -> io::Result<()> {
    oci::unmount_root(dir);
    match fs::remove_dir_all(dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Creates (with its directory) or empties the host file of a run's termination message,
/// writable by whichever user the container runs as (the kubelet's mode); before each run of a
/// container that mounts it, under any runtime.
pub fn empty_termination_log(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    File::create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(TERMINATION_LOG_MODE))
}

fn lock(table: &Mutex<ContainerTable>) -> MutexGuard<'_, ContainerTable> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens `path` for appending, creating it and its parent directories.
fn open_log(path: &Path) -> io::Result<File> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs::create_dir_all(parent)?;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_FILE_MODE)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Instant;

    use tokio::time::timeout;

    use super::*;
    use crate::cgroups::test_root::TestRoot;
    use crate::cgroups::{FakeCgroups, ResourceLimits};

    /// Where a test container writes, in a directory `start` has to create.
    fn log_in(dir: &Path, id: &str) -> PathBuf {
        dir.join("logs").join(format!("{id}.log"))
    }

    fn spec(id: &str, command: &[&str], logs: &Path) -> ContainerSpec {
        ContainerSpec {
            id: id.to_string(),
            command: command.iter().map(|arg| arg.to_string()).collect(),
            env: Vec::new(),
            working_dir: None,
            hostname: format!("{id}-host"),
            limits: ResourceLimits {
                memory_bytes: Some(128 << 20),
                pids_max: Some(64),
                ..ResourceLimits::default()
            },
            log_path: log_in(logs, id),
            isolation: None,
        }
    }

    /// Waits until `check` holds, failing the test after `limit`.
    fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Owns a test's cgroup root and runtime; dropping it kills what the test left running.
    struct Fixture {
        runtime: NativeRuntime,
        logs: tempfile::TempDir,
        root: TestRoot,
    }

    impl Fixture {
        fn new() -> Option<Self> {
            let root = TestRoot::new()?;
            let cgroups =
                Arc::new(crate::cgroups::SystemCgroups::new(root.name()).expect("root was usable"));
            let logs = tempfile::tempdir().unwrap();
            Some(Self {
                runtime: NativeRuntime::new(cgroups, logs.path().join("runtime")),
                logs,
                root,
            })
        }
    }

    #[tokio::test]
    async fn unknown_commands_fail_before_anything_is_created() {
        let cgroups = Arc::new(FakeCgroups::new());
        let logs = tempfile::tempdir().unwrap();
        let runtime = NativeRuntime::new(cgroups.clone(), logs.path().join("runtime"));
        let error = runtime
            .start(&spec("ghost", &["no-such-command-flotilla"], logs.path()))
            .unwrap_err();
        match error {
            RuntimeError::CommandNotFound { id, command, .. } => {
                assert_eq!(id, "ghost");
                assert_eq!(command, "no-such-command-flotilla");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(cgroups.list().unwrap().is_empty());
        assert!(runtime.list().is_empty());
        assert!(!log_in(logs.path(), "ghost").exists());
    }

    #[tokio::test]
    async fn invalid_specs_are_refused() {
        let logs = tempfile::tempdir().unwrap();
        let runtime = NativeRuntime::new(Arc::new(FakeCgroups::new()), logs.path().join("runtime"));
        assert!(matches!(
            runtime.start(&spec("../escape", &["true"], logs.path())),
            Err(RuntimeError::InvalidId { .. })
        ));
        assert!(matches!(
            runtime.signal("nothing", Signal::Term),
            Err(RuntimeError::NotFound { .. })
        ));
        assert!(matches!(
            runtime.remove("nothing"),
            Err(RuntimeError::NotFound { .. })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_in_its_cgroup_and_namespaces_and_reports_sigterm() {
        let Some(fixture) = Fixture::new() else {
            return;
        };
        let runtime = &fixture.runtime;
        let mut exits = runtime.subscribe();
        let container = spec(
            "term",
            &[
                "/bin/sh",
                "-c",
                "echo hi; cat /proc/sys/kernel/hostname; sleep 30",
            ],
            fixture.logs.path(),
        );
        let pid = runtime.start(&container).unwrap();

        assert!(matches!(
            runtime.state("term"),
            Some(ContainerState::Running { pid: p, .. }) if p == pid
        ));
        let cgroups = fixture.root.cgroups();
        assert!(cgroups.pids("term").unwrap().contains(&pid));
        let own_cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(
            own_cgroup.contains(&format!("/{}/term", fixture.root.name())),
            "{own_cgroup}"
        );
        let uts = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
        assert_ne!(uts(&pid.to_string()), uts("self"));
        let ipc = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/ipc")).unwrap();
        assert_ne!(ipc(&pid.to_string()), ipc("self"));

        let log_path = container.log_path.clone();
        wait_until(Duration::from_secs(10), "the log", || {
            fs::read_to_string(&log_path).is_ok_and(|log| log.contains("term-host"))
        });
        assert_eq!(fs::read_to_string(&log_path).unwrap(), "hi\nterm-host\n");

        assert!(matches!(
            runtime.remove("term"),
            Err(RuntimeError::StillRunning { .. })
        ));
        runtime.signal("term", Signal::Term).unwrap();
        let event = timeout(Duration::from_secs(10), exits.recv())
            .await
            .expect("exit within 10 s")
            .expect("runtime alive");
        assert_eq!(event.id, "term");
        assert_eq!(event.exit_code, 143);
        assert_eq!(event.signal, Some(15));
        assert!(matches!(
            runtime.state("term"),
            Some(ContainerState::Exited {
                exit_code: 143,
                signal: Some(15),
                ..
            })
        ));
        assert!(matches!(
            runtime.signal("term", Signal::Term),
            Err(RuntimeError::NotRunning { .. })
        ));

        runtime.remove("term").unwrap();
        assert_eq!(runtime.state("term"), None);
        assert!(!cgroups.list().unwrap().contains(&"term".to_string()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_reaches_processes_that_left_the_group_and_remove_cleans_up() {
        let Some(fixture) = Fixture::new() else {
            return;
        };
        let runtime = &fixture.runtime;
        let mut exits = runtime.subscribe();
        // The background `setsid sleep` leaves the process group but not the cgroup.
        let container = spec(
            "kill",
            &["/bin/sh", "-c", "setsid sleep 60 & exec sleep 60"],
            fixture.logs.path(),
        );
        runtime.start(&container).unwrap();
        let cgroups = fixture.root.cgroups();
        wait_until(Duration::from_secs(10), "both processes", || {
            cgroups.pids("kill").is_ok_and(|pids| pids.len() == 2)
        });

        runtime.signal("kill", Signal::Kill).unwrap();
        let event = timeout(Duration::from_secs(10), exits.recv())
            .await
            .expect("exit within 10 s")
            .expect("runtime alive");
        assert_eq!((event.exit_code, event.signal), (137, Some(9)));
        runtime.remove("kill").unwrap();
        assert!(cgroups.list().unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn start_failures_name_the_container_and_leave_nothing_behind() {
        let Some(fixture) = Fixture::new() else {
            return;
        };
        let runtime = &fixture.runtime;
        let logs = fixture.logs.path();

        let missing = spec("missing", &["/nonexistent/program"], logs);
        match runtime.start(&missing) {
            Err(RuntimeError::Spawn { id, source, .. }) => {
                assert_eq!(id, "missing");
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("unexpected {other:?}"),
        }

        let not_executable = logs.join("data.txt");
        fs::write(&not_executable, "not a program").unwrap();
        let denied = spec("denied", &[not_executable.to_str().unwrap()], logs);
        match runtime.start(&denied) {
            Err(RuntimeError::Spawn { id, source, .. }) => {
                assert_eq!(id, "denied");
                assert_eq!(source.kind(), io::ErrorKind::PermissionDenied);
            }
            other => panic!("unexpected {other:?}"),
        }

        let mut bad_dir = spec("bad-dir", &["/bin/true"], logs);
        bad_dir.working_dir = Some(PathBuf::from("/nonexistent/dir"));
        match runtime.start(&bad_dir) {
            Err(RuntimeError::Spawn { id, .. }) => assert_eq!(id, "bad-dir"),
            other => panic!("unexpected {other:?}"),
        }

        assert!(runtime.list().is_empty());
        assert!(fixture.root.cgroups().list().unwrap().is_empty());
        // The id is free again after a failed start.
        let retry = spec("missing", &["/bin/true"], logs);
        runtime.start(&retry).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_runtime_adopts_running_containers_and_removes_left_overs() {
        let Some(fixture) = Fixture::new() else {
            return;
        };
        let cgroups = fixture.root.cgroups();
        cgroups
            .create("left-over", &ResourceLimits::default())
            .unwrap();
        let container = spec("kept", &["/bin/sh", "-c", "sleep 30"], fixture.logs.path());
        let pid = fixture.runtime.start(&container).unwrap();

        // A restarted agent: a new runtime over the same cgroup root.
        let restarted = NativeRuntime::new(
            Arc::new(crate::cgroups::SystemCgroups::new(fixture.root.name()).unwrap()),
            fixture.logs.path().join("runtime"),
        );
        let mut exits = restarted.subscribe();
        let adoption = restarted.adopt_running().unwrap();
        assert_eq!(adoption.adopted, vec![("kept".to_string(), pid)]);
        assert_eq!(adoption.removed, vec!["left-over".to_string()]);
        assert!(matches!(
            restarted.state("kept"),
            Some(ContainerState::Running { pid: p, .. }) if p == pid
        ));
        // Adopting again takes nothing twice.
        assert_eq!(restarted.adopt_running().unwrap(), Adoption::default());

        restarted.signal("kept", Signal::Kill).unwrap();
        let exit = tokio::time::timeout(Duration::from_secs(10), exits.recv())
            .await
            .expect("the adopted container's exit is noticed")
            .unwrap();
        assert_eq!((exit.id.as_str(), exit.exit_code), ("kept", -1));
        restarted.remove("kept").unwrap();
        assert!(cgroups.list().unwrap().is_empty());
    }
}
