//! `Hosts`: a run of test hosts and the faults a test can inject into them.
//!
//! Building a run first sweeps what dead runs left, then creates the network planned by
//! [`plan::network`]. Every fault is applied and undone through the same planned commands.
//! Dropping the run kills every process in its hosts, removes its namespaces (and with them every
//! link and nftables table) and the cgroups it was told about, and — when the test is failing —
//! keeps the logs and quotes their ends.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{self, Command, ExitStatus, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use tempfile::TempDir;

use super::cgroup_pids::pids_in_tree;
use super::exec;
use super::host_process::{HostProcess, ProcessSpec};
use super::layout::{HostId, Layout, RunId};
use super::namespaces;
use super::netns_thread;
use super::partition::{Cuts, Partition};
use super::plan::{self, Step};
use super::proc_state::{self, STATE_PATIENCE};
use super::sweep::sweep_stale;
use crate::bounded_command::output_within;
use crate::cgroup_tree::{self, CGROUP_FS};
use crate::process::PROC;

/// How many lines of each process's log a failing test quotes.
const LOG_TAIL_LINES: usize = 40;

/// Numbers the runs of one test process.
static RUNS: AtomicU32 = AtomicU32::new(0);

/// A process started by [`Hosts::spawn`]; it names the run too, so that an id of another run
/// is refused instead of naming an unrelated process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessId {
    run: RunId,
    index: usize,
}

/// Test hosts: network namespaces joined by a bridge, the processes running in them, and the
/// partitions between them.
pub struct Hosts {
    layout: Layout,
    workdir: Option<TempDir>,
    cuts: Cuts,
    processes: Vec<HostProcess>,
    cgroups: Vec<(HostId, String)>,
}

impl fmt::Debug for Hosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hosts")
            .field("run", &self.layout.run().to_string())
            .field("hosts", &self.layout.hosts().len())
            .field("processes", &self.processes.len())
            .finish_non_exhaustive()
    }
}

impl Hosts {
    /// Removes leftovers of dead runs, then builds `count` hosts (1 to 254) on one bridge, each
    /// with loopback up and its own address.
    pub fn build(count: usize) -> Result<Self> {
        match sweep_stale() {
            Ok(swept) if !swept.is_empty() => {
                eprintln!("removed leftovers of dead test runs: {swept:?}")
            }
            Ok(_) => {}
            Err(error) => eprintln!("could not remove all leftovers of dead test runs: {error:#}"),
        }
        let run = RunId {
            owner: process::id(),
            seq: RUNS.fetch_add(1, Ordering::Relaxed),
        };
        let layout = Layout::new(run, count)?;
        let workdir = tempfile::Builder::new()
            .prefix(&format!("{run}-"))
            .tempdir()
            .context("could not create a temporary directory for the test hosts' logs")?;
        // Built only once `hosts` owns the names, so that a failure half-way is cleaned up.
        let hosts = Self {
            layout,
            workdir: Some(workdir),
            cuts: Cuts::default(),
            processes: Vec::new(),
            cgroups: Vec::new(),
        };
        exec::run_all(&plan::network(&hosts.layout))
            .with_context(|| format!("could not build {count} test hosts"))?;
        Ok(hosts)
    }

    /// The prefix of every resource name of this run (`flt<pid>r<seq>`).
    pub fn run_prefix(&self) -> String {
        self.layout.run().to_string()
    }

    /// Every host, in order.
    pub fn hosts(&self) -> Vec<HostId> {
        self.layout.hosts()
    }

    /// Host number `index`.
    pub fn host(&self, index: usize) -> Result<HostId> {
        self.layout.host(index)
    }

    /// The address of `host` on the bridge.
    pub fn address(&self, host: HostId) -> Result<Ipv4Addr> {
        self.layout.check(host)?;
        Ok(self.layout.address(host))
    }

    /// The network namespace that is `host`.
    pub fn namespace(&self, host: HostId) -> Result<String> {
        self.layout.check(host)?;
        Ok(self.layout.host_namespace(host))
    }

    /// A cgroup root name for `host`'s workloads (to pass to the program that creates them).
    /// The harness removes it, with every process in it, when the host crashes and when the run
    /// ends; a later run removes it if this one is interrupted.
    pub fn cgroup_root(&mut self, host: HostId) -> Result<String> {
        self.layout.check(host)?;
        let name = self.layout.cgroup_root(host);
        if !self.cgroups.iter().any(|(_, known)| *known == name) {
            self.cgroups.push((host, name.clone()));
        }
        Ok(name)
    }

    /// Starts `spec` in `host`, logging to its own file.
    pub fn spawn(&mut self, host: HostId, spec: ProcessSpec) -> Result<ProcessId> {
        let namespace = self.namespace(host)?;
        spec.validate()?;
        if self
            .processes
            .iter()
            .any(|process| process.host() == host && process.spec().name() == spec.name())
        {
            bail!(
                "test host {host} already has a process named {}",
                spec.name()
            );
        }
        let log_path = self.workdir()?.join(format!("{host}-{}.log", spec.name()));
        let mut process = HostProcess::new(host, spec, log_path);
        process.start(&namespace)?;
        self.processes.push(process);
        Ok(ProcessId {
            run: self.layout.run(),
            index: self.processes.len() - 1,
        })
    }

    /// The pid of `id` while it runs.
    pub fn pid(&mut self, id: ProcessId) -> Result<Option<u32>> {
        let process = self.process_mut(id)?;
        Ok(if process.running()? {
            process.pid()
        } else {
            None
        })
    }

    /// How the last launch of `id` ended; `None` while it runs.
    pub fn exit_status(&mut self, id: ProcessId) -> Result<Option<ExitStatus>> {
        self.process_mut(id)?.exit_status()
    }

    /// Everything `id` has printed, over all its launches.
    pub fn log(&self, id: ProcessId) -> Result<String> {
        Ok(self.process(id)?.log())
    }

    /// Kills `id` with SIGKILL and reaps it; nothing if it is not running.
    pub fn kill(&mut self, id: ProcessId) -> Result<()> {
        self.process_mut(id)?.kill()
    }

    /// Starts `id` again with the same argv and environment; it must not be running.
    pub fn start(&mut self, id: ProcessId) -> Result<()> {
        let host = self.process(id)?.host();
        let namespace = self.layout.host_namespace(host);
        self.process_mut(id)?.start(&namespace)
    }

    /// Kills `id` if it runs, then starts it again: a crash and a restart.
    pub fn restart(&mut self, id: ProcessId) -> Result<()> {
        self.kill(id)?;
        self.start(id)
    }

    /// Stops `id` with SIGSTOP and returns once the kernel has stopped it.
    pub fn pause(&mut self, id: ProcessId) -> Result<()> {
        let pid = self.running_pid(id)?;
        signal_and_wait(&[pid], Signal::SIGSTOP)
    }

    /// Continues `id` with SIGCONT and returns once it is no longer stopped.
    pub fn resume(&mut self, id: ProcessId) -> Result<()> {
        let pid = self.running_pid(id)?;
        signal_and_wait(&[pid], Signal::SIGCONT)
    }

    /// Crashes `host` as a machine would: kills every process in it and in its cgroups, and
    /// removes those cgroups. Its processes can be started again with [`Self::start`].
    pub fn crash(&mut self, host: HostId) -> Result<()> {
        let namespace = self.namespace(host)?;
        for process in self.processes.iter_mut().filter(|p| p.host() == host) {
            process.kill()?;
        }
        namespaces::kill_all(&namespace)?;
        for (_, cgroup) in self.cgroups.iter().filter(|(owner, _)| *owner == host) {
            cgroup_tree::remove_tree(Path::new(CGROUP_FS), cgroup)?;
        }
        Ok(())
    }

    /// Crashes `host` and starts all of its processes again, in the order they were spawned.
    pub fn restart_host(&mut self, host: HostId) -> Result<()> {
        self.crash(host)?;
        let namespace = self.layout.host_namespace(host);
        for process in self.processes.iter_mut().filter(|p| p.host() == host) {
            process.start(&namespace)?;
        }
        Ok(())
    }

    /// Freezes `host`: SIGSTOP to every process in it and in its cgroups.
    pub fn pause_host(&mut self, host: HostId) -> Result<()> {
        let pids = self.host_pids(host)?;
        signal_and_wait(&pids, Signal::SIGSTOP)
    }

    /// Thaws `host`: SIGCONT to every process in it and in its cgroups.
    pub fn resume_host(&mut self, host: HostId) -> Result<()> {
        let pids = self.host_pids(host)?;
        signal_and_wait(&pids, Signal::SIGCONT)
    }

    /// Cuts `host` off as `cut` says, replacing any cut it had.
    pub fn partition(&mut self, host: HostId, cut: Partition) -> Result<()> {
        self.change_cuts(|cuts, layout| cuts.set(layout, host, Some(cut)))
            .with_context(|| format!("could not partition test host {host}"))
    }

    /// Undoes `host`'s cut.
    pub fn heal(&mut self, host: HostId) -> Result<()> {
        self.change_cuts(|cuts, layout| cuts.set(layout, host, None))
            .with_context(|| format!("could not heal test host {host}"))
    }

    /// Undoes every cut.
    pub fn heal_all(&mut self) -> Result<()> {
        self.change_cuts(Cuts::clear)
            .context("could not heal the test hosts")
    }

    /// Plans a change of the cuts on a copy and keeps it only once all its commands have
    /// succeeded, so that a failed change is not recorded as in force.
    fn change_cuts(
        &mut self,
        change: impl FnOnce(&mut Cuts, &Layout) -> Result<Vec<Step>>,
    ) -> Result<()> {
        let mut next = self.cuts.clone();
        let steps = change(&mut next, &self.layout)?;
        exec::run_all(&steps)?;
        self.cuts = next;
        Ok(())
    }

    /// Runs a short command `argv` in `host` and captures its output; kills it after `limit`.
    pub fn run_in(&self, host: HostId, argv: &[&str], limit: Duration) -> Result<Output> {
        let argv: Vec<String> = argv.iter().map(|arg| (*arg).to_owned()).collect();
        let step = Step::in_namespace(&self.namespace(host)?, &argv);
        output_within(Command::new(step.program).args(&step.args), limit)
    }

    /// Runs `work` on a thread whose network is `host`'s: sockets it opens are in the host and
    /// stay there when handed back. `work` must bound its own waits (socket timeouts).
    pub fn in_host<T: Send>(
        &self,
        host: HostId,
        work: impl FnOnce() -> Result<T> + Send,
    ) -> Result<T> {
        netns_thread::run_in(&self.namespace(host)?, work)
    }

    fn process(&self, id: ProcessId) -> Result<&HostProcess> {
        let index = self.index_of(id)?;
        Ok(&self.processes[index])
    }

    fn process_mut(&mut self, id: ProcessId) -> Result<&mut HostProcess> {
        let index = self.index_of(id)?;
        Ok(&mut self.processes[index])
    }

    fn index_of(&self, id: ProcessId) -> Result<usize> {
        let run = self.layout.run();
        if id.run != run || id.index >= self.processes.len() {
            bail!(
                "process {} of test run {} is not one of test run {run}",
                id.index,
                id.run
            );
        }
        Ok(id.index)
    }

    fn running_pid(&mut self, id: ProcessId) -> Result<u32> {
        let process = self.process_mut(id)?;
        match (process.running()?, process.pid()) {
            (true, Some(pid)) => Ok(pid),
            _ => bail!(
                "process {} of test host {} is not running",
                process.spec().name(),
                process.host()
            ),
        }
    }

    fn host_pids(&self, host: HostId) -> Result<Vec<u32>> {
        let mut pids = namespaces::pids(&self.namespace(host)?)?;
        // A process spawned a moment ago may not have joined the namespace yet.
        pids.extend(
            self.processes
                .iter()
                .filter(|process| process.host() == host)
                .filter_map(HostProcess::pid),
        );
        for (_, cgroup) in self.cgroups.iter().filter(|(owner, _)| *owner == host) {
            pids.extend(pids_in_tree(Path::new(CGROUP_FS), cgroup)?);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    fn workdir(&self) -> Result<PathBuf> {
        self.workdir
            .as_ref()
            .map(|dir| dir.path().to_path_buf())
            .context("the test hosts' log directory is gone")
    }

    /// Quotes the end of every process's log, for a failing test.
    fn quote_logs(&self, kept: &Path) {
        for process in &self.processes {
            let log = process.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "---- last lines of {} (kept in {}) ----\n{}\n---- end ----",
                process.spec().name(),
                kept.display(),
                lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
            );
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let mut failures = Vec::new();
        for process in &mut self.processes {
            if let Err(error) = process.kill() {
                failures.push(format!("{error:#}"));
            }
        }
        for namespace in self.layout.namespaces() {
            if let Err(error) = namespaces::remove(&namespace) {
                failures.push(format!("{error:#}"));
            }
        }
        for (_, cgroup) in &self.cgroups {
            if let Err(error) = cgroup_tree::remove_tree(Path::new(CGROUP_FS), cgroup) {
                failures.push(format!("cgroup root {cgroup}: {error:#}"));
            }
        }
        if thread::panicking()
            && let Some(workdir) = self.workdir.take()
        {
            let kept = workdir.keep();
            self.quote_logs(&kept);
        }
        for failure in failures {
            eprintln!("cleanup of test run {}: {failure}", self.layout.run());
        }
    }
}

/// Sends `signal` (SIGSTOP or SIGCONT) to `pids` and waits until the kernel has acted on it.
fn signal_and_wait(pids: &[u32], signal: Signal) -> Result<()> {
    for &pid in pids {
        namespaces::send(pid, signal);
    }
    proc_state::wait_all(
        Path::new(PROC),
        pids,
        signal == Signal::SIGSTOP,
        STATE_PATIENCE,
    )
}
