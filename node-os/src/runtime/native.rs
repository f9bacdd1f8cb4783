//! The native runtime: each container is a host process in its own cgroup (named after the
//! container id), its own session and process group, and new UTS and IPC namespaces.
//!
//! A tokio task per container waits for the main process (tokio reaps it) and records the
//! exit in the shared table, which tells the subscribers. The trait's methods are synchronous
//! because they are quick system calls; `remove` may block briefly while killed processes
//! disappear from the cgroup.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedReceiver;

use super::adopt::{Adoption, ProcFacts, main_process, read_facts, start_time, still_running};
use super::child_setup::ChildSetup;
use super::stale::remove_stale_cgroups;
use super::table::{ContainerTable, Exit};
use super::{ContainerSpec, ContainerState, ExitEvent, Runtime, RuntimeError, Signal};
use crate::cgroups::Cgroups;

/// How long `remove` waits for killed leftovers to leave the cgroup.
pub(crate) const REMOVE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often an adopted container (not our child, so not awaitable) is checked for exit.
const ADOPTED_POLL: Duration = Duration::from_millis(200);

/// Permissions of a newly created log file: the agent writes, its group may read.
const LOG_FILE_MODE: u32 = 0o640;

/// Runs containers as processes on this host.
pub struct NativeRuntime {
    cgroups: Arc<dyn Cgroups>,
    table: Arc<Mutex<ContainerTable>>,
    tokio: Handle,
}

impl NativeRuntime {
    /// # Panics
    /// Outside a tokio runtime: the exit waiters run on the runtime that created this.
    pub fn new(cgroups: Arc<dyn Cgroups>) -> Self {
        Self {
            cgroups,
            table: Arc::default(),
            tokio: Handle::current(),
        }
    }

    fn table(&self) -> MutexGuard<'_, ContainerTable> {
        lock(&self.table)
    }

    /// Creates the log file and cgroup, then spawns the process in them.
    fn launch(&self, spec: &ContainerSpec, program: &Path) -> Result<Child, RuntimeError> {
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
        let setup = ChildSetup::new(&paths.procs_files, &spec.hostname)
            .map_err(|error| spawn_error(io::Error::new(io::ErrorKind::InvalidInput, error)));

        let spawned = setup.and_then(|setup| {
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
        });
        if spawned.is_err() {
            // The child never got to exec (the standard library reaps it), so its cgroup
            // holds nothing of the container.
            if let Err(error) = self.cgroups.kill_and_remove(&spec.id, REMOVE_TIMEOUT) {
                tracing::warn!(id = %spec.id, %error, "cannot remove the cgroup of a failed start");
            }
        }
        spawned
    }

    /// Waits for the main process in the background and records its exit.
    fn watch(&self, id: String, mut child: Child) {
        let table = Arc::clone(&self.table);
        self.tokio.spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => Exit::from_status(status),
                Err(error) => {
                    tracing::error!(%id, %error, "cannot wait for container process");
                    Exit::with_code(-1)
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
        let program = spec.resolve_program()?;
        self.table().reserve(&spec.id)?;
        let child = match self.launch(spec, &program) {
            Ok(child) => child,
            Err(error) => {
                self.table().abandon(&spec.id);
                return Err(error);
            }
        };
        // tokio gives the pid until the child has been awaited, which has not happened yet.
        let Some(pid) = child.id() else {
            self.table().abandon(&spec.id);
            return Err(RuntimeError::Spawn {
                id: spec.id.clone(),
                program,
                source: io::Error::other("the process vanished before its pid was read"),
            });
        };
        self.table().started(&spec.id, pid, SystemTime::now());
        tracing::info!(id = %spec.id, pid, program = %program.display(), "container started");
        self.watch(spec.id.clone(), child);
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
        Ok(adoption)
    }
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
            Some(Self {
                runtime: NativeRuntime::new(cgroups),
                logs: tempfile::tempdir().unwrap(),
                root,
            })
        }
    }

    #[tokio::test]
    async fn unknown_commands_fail_before_anything_is_created() {
        let cgroups = Arc::new(FakeCgroups::new());
        let runtime = NativeRuntime::new(cgroups.clone());
        let logs = tempfile::tempdir().unwrap();
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
        let runtime = NativeRuntime::new(Arc::new(FakeCgroups::new()));
        let logs = tempfile::tempdir().unwrap();
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
        let restarted = NativeRuntime::new(Arc::new(
            crate::cgroups::SystemCgroups::new(fixture.root.name()).unwrap(),
        ));
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
