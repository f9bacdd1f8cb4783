//! An in-memory [`Runtime`] for the node agent's unit tests. It validates specs, creates
//! cgroups and keeps state exactly like [`super::NativeRuntime`] (same table, same errors), but
//! runs nothing: a test ends a container with [`FakeRuntime::exit`], and SIGKILL ends it at once
//! as the kernel would.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use tokio::sync::mpsc::UnboundedReceiver;

use super::adopt::Adoption;
use super::native::REMOVE_TIMEOUT;
use super::stale::remove_stale_cgroups;
use super::table::{ContainerTable, Exit};
use super::{
    ContainerSpec, ContainerState, ExecProcess, ExecRequest, ExitEvent, Runtime, RuntimeError,
    Signal,
};
use crate::cgroups::{CgroupUsage, Cgroups};
use crate::sandbox::SandboxSpec;

/// First pid handed out, well above the pids of a fresh system.
const FIRST_PID: u32 = 10_000;

/// Containers that exist only in memory.
pub struct FakeRuntime {
    cgroups: Arc<dyn Cgroups>,
    state: Mutex<FakeState>,
    next_pid: AtomicU32,
}

#[derive(Default)]
struct FakeState {
    table: ContainerTable,
    specs: BTreeMap<String, ContainerSpec>,
    signals: Vec<(String, Signal)>,
    sandboxes: BTreeSet<String>,
}

impl FakeRuntime {
    /// Containers get their cgroups from `cgroups` (normally a `FakeCgroups`).
    pub fn new(cgroups: Arc<dyn Cgroups>) -> Self {
        Self {
            cgroups,
            state: Mutex::default(),
            next_pid: AtomicU32::new(FIRST_PID),
        }
    }

    /// Ends the running container `id` with `exit_code`, as if its main process exited.
    pub fn exit(&self, id: &str, exit_code: i32) -> Result<ExitEvent, RuntimeError> {
        let mut state = self.lock();
        state.table.running_pid(id)?;
        state
            .table
            .exited(id, Exit::with_code(exit_code), SystemTime::now())
            .ok_or_else(|| RuntimeError::NotRunning { id: id.to_string() })
    }

    /// The spec the container `id` was started with.
    pub fn spec(&self, id: &str) -> Option<ContainerSpec> {
        self.lock().specs.get(id).cloned()
    }

    /// Every signal sent so far, in order.
    pub fn signals(&self) -> Vec<(String, Signal)> {
        self.lock().signals.clone()
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Runtime for FakeRuntime {
    fn start(&self, spec: &ContainerSpec) -> Result<u32, RuntimeError> {
        spec.validate()?;
        if let Some(isolation) = &spec.isolation
            && !self.lock().sandboxes.contains(&isolation.sandbox)
        {
            return Err(RuntimeError::NoSandbox {
                id: spec.id.clone(),
                sandbox: isolation.sandbox.clone(),
            });
        }
        self.lock().table.reserve(&spec.id)?;
        if let Err(source) = self.cgroups.create(&spec.id, &spec.limits) {
            self.lock().table.abandon(&spec.id);
            return Err(RuntimeError::Cgroup {
                id: spec.id.clone(),
                source,
            });
        }
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        state.table.started(&spec.id, pid, SystemTime::now());
        state.specs.insert(spec.id.clone(), spec.clone());
        Ok(pid)
    }

    fn state(&self, id: &str) -> Option<ContainerState> {
        self.lock().table.state(id)
    }

    fn signal(&self, id: &str, signal: Signal) -> Result<(), RuntimeError> {
        let mut state = self.lock();
        state.table.running_pid(id)?;
        state.signals.push((id.to_string(), signal));
        if signal == Signal::Kill {
            let signo = nix::sys::signal::Signal::SIGKILL as i32;
            state
                .table
                .exited(id, Exit::by_signal(signo), SystemTime::now());
        }
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.lock().table.check_removable(id)?;
        self.cgroups
            .kill_and_remove(id, REMOVE_TIMEOUT)
            .map_err(|source| RuntimeError::Cgroup {
                id: id.to_string(),
                source,
            })?;
        let mut state = self.lock();
        state.table.forget(id);
        state.specs.remove(id);
        Ok(())
    }

    fn list(&self) -> Vec<(String, ContainerState)> {
        self.lock().table.list()
    }

    fn subscribe(&self) -> UnboundedReceiver<ExitEvent> {
        self.lock().table.subscribe()
    }

    /// The fake runs no processes, so there is never anything to adopt: every unknown cgroup
    /// is a left-over.
    fn adopt_running(&self) -> Result<Adoption, RuntimeError> {
        let known = self.lock().table.known_ids();
        Ok(Adoption {
            adopted: Vec::new(),
            removed: remove_stale_cgroups(self.cgroups.as_ref(), &known, REMOVE_TIMEOUT)?,
        })
    }

    fn run_pod_sandbox(&self, sandbox: &SandboxSpec) -> Result<(), RuntimeError> {
        self.lock().sandboxes.insert(sandbox.id.clone());
        Ok(())
    }

    fn remove_pod_sandbox(&self, id: &str) -> Result<(), RuntimeError> {
        self.lock().sandboxes.remove(id);
        Ok(())
    }

    /// Fake sandboxes have no namespaces: pods keep the host's network.
    fn pod_netns(&self, _id: &str) -> Option<std::path::PathBuf> {
        None
    }

    fn list_pod_sandboxes(&self) -> Result<Vec<String>, RuntimeError> {
        Ok(self.lock().sandboxes.iter().cloned().collect())
    }

    /// Runs the command on the host, with piped output: tests script probes with `true`,
    /// `false` or `sh -c`.
    fn exec(&self, id: &str, request: &ExecRequest) -> Result<ExecProcess, RuntimeError> {
        self.lock().table.running_pid(id)?;
        let program = request.command.first().ok_or(RuntimeError::InvalidSpec {
            id: id.to_string(),
            field: "command",
            reason: "must not be empty",
        })?;
        let child = tokio::process::Command::new(program)
            .args(&request.command[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| RuntimeError::Spawn {
                id: id.to_string(),
                program: program.into(),
                source,
            })?;
        Ok(ExecProcess {
            child,
            terminal: None,
        })
    }

    /// Connects on the host: tests probe listeners of their own.
    fn usage(&self, id: &str) -> Result<CgroupUsage, RuntimeError> {
        if self.lock().table.state(id).is_none() {
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
        _sandbox: &str,
        address: std::net::SocketAddr,
        timeout: std::time::Duration,
    ) -> std::io::Result<std::net::TcpStream> {
        std::net::TcpStream::connect_timeout(&address, timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::cgroups::{FakeCgroups, ResourceLimits};

    fn spec(id: &str) -> ContainerSpec {
        ContainerSpec {
            id: id.to_string(),
            command: vec!["/bin/app".to_string()],
            env: Vec::new(),
            working_dir: None,
            hostname: id.to_string(),
            limits: ResourceLimits {
                memory_bytes: Some(1 << 20),
                ..ResourceLimits::default()
            },
            log_path: PathBuf::from(format!("/logs/{id}.log")),
            isolation: None,
        }
    }

    fn runtime() -> (Arc<FakeCgroups>, FakeRuntime) {
        let cgroups = Arc::new(FakeCgroups::new());
        (cgroups.clone(), FakeRuntime::new(cgroups))
    }

    #[test]
    fn start_records_the_spec_and_creates_the_cgroup() {
        let (cgroups, runtime) = runtime();
        let pid = runtime.start(&spec("a")).unwrap();
        assert!(matches!(
            runtime.state("a"),
            Some(ContainerState::Running { pid: p, .. }) if p == pid
        ));
        assert_eq!(runtime.spec("a"), Some(spec("a")));
        assert_eq!(cgroups.limits("a").unwrap(), spec("a").limits);
        assert!(matches!(
            runtime.start(&spec("a")),
            Err(RuntimeError::AlreadyExists { .. })
        ));
        assert_ne!(runtime.start(&spec("b")).unwrap(), pid);
        assert_eq!(
            runtime
                .list()
                .into_iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>(),
            vec!["a".to_string(), "b".to_string()]
        );
    }

    #[test]
    fn exit_is_reported_and_then_the_container_can_be_removed() {
        let (cgroups, runtime) = runtime();
        let mut exits = runtime.subscribe();
        runtime.start(&spec("a")).unwrap();
        assert!(matches!(
            runtime.remove("a"),
            Err(RuntimeError::StillRunning { .. })
        ));
        let event = runtime.exit("a", 3).unwrap();
        assert_eq!((event.exit_code, event.signal), (3, None));
        assert_eq!(exits.try_recv().unwrap(), event);
        assert!(matches!(
            runtime.exit("a", 0),
            Err(RuntimeError::NotRunning { .. })
        ));
        runtime.remove("a").unwrap();
        assert_eq!(runtime.state("a"), None);
        assert_eq!(runtime.spec("a"), None);
        assert!(cgroups.list().unwrap().is_empty());
    }

    #[test]
    fn usage_comes_from_the_containers_cgroup() {
        let (cgroups, runtime) = runtime();
        runtime.start(&spec("a")).unwrap();
        let usage = CgroupUsage {
            cpu_usage_nanos: 7,
            memory_bytes: 1 << 20,
        };
        cgroups.set_usage("a", usage).unwrap();
        assert_eq!(runtime.usage("a").unwrap(), usage);
        assert!(matches!(
            runtime.usage("b"),
            Err(RuntimeError::NotFound { .. })
        ));
    }

    #[test]
    fn term_is_recorded_and_kill_ends_the_container() {
        let (_, runtime) = runtime();
        let mut exits = runtime.subscribe();
        runtime.start(&spec("a")).unwrap();
        runtime.signal("a", Signal::Term).unwrap();
        assert!(exits.try_recv().is_err());
        runtime.signal("a", Signal::Kill).unwrap();
        let event = exits.try_recv().unwrap();
        assert_eq!((event.exit_code, event.signal), (137, Some(9)));
        assert_eq!(
            runtime.signals(),
            vec![
                ("a".to_string(), Signal::Term),
                ("a".to_string(), Signal::Kill)
            ]
        );
        assert!(matches!(
            runtime.signal("a", Signal::Term),
            Err(RuntimeError::NotRunning { .. })
        ));
    }

    #[test]
    fn invalid_specs_leave_nothing_behind() {
        let (cgroups, runtime) = runtime();
        let mut bad = spec("a");
        bad.command.clear();
        assert!(matches!(
            runtime.start(&bad),
            Err(RuntimeError::InvalidSpec { .. })
        ));
        assert!(runtime.list().is_empty());
        assert!(cgroups.list().unwrap().is_empty());
        runtime.start(&spec("a")).unwrap();
    }

    #[test]
    fn adopt_running_removes_unknown_cgroups() {
        let (cgroups, runtime) = runtime();
        cgroups
            .create("orphan", &ResourceLimits::default())
            .unwrap();
        runtime.start(&spec("a")).unwrap();
        let adoption = runtime.adopt_running().unwrap();
        assert_eq!(adoption.removed, vec!["orphan".to_string()]);
        assert!(adoption.adopted.is_empty());
        assert_eq!(cgroups.list().unwrap(), vec!["a".to_string()]);
    }
}
