//! A long-running process in a test host: any argv and environment, started through nsenter
//! (see [`Step::in_namespace`]), with stdout and stderr appended to one log file across its
//! launches.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::layout::HostId;
use super::plan::Step;
use crate::logged_child::{read_log, spawn_logged};

/// How long a killed process may take to be reaped.
const REAP_PATIENCE: Duration = Duration::from_secs(10);

/// What to run in a test host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    name: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

impl ProcessSpec {
    /// Runs `argv` (program first, looked up on PATH) under `name`, which names its log file
    /// and must be unique within its host.
    pub fn new(name: &str, argv: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
            env: Vec::new(),
        }
    }

    /// Adds `key=value` to the environment it inherits from the test.
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The name it was given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Fails, saying what is wrong, unless the spec can be run and logged.
    pub fn validate(&self) -> Result<()> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && !self.name.starts_with('.');
        if !name_ok {
            bail!(
                "process name {:?} must be non-empty, not start with '.', and hold only letters, digits, '-', '_' and '.'",
                self.name
            );
        }
        if self.argv.first().is_none_or(String::is_empty) {
            bail!("process {} has no program to run", self.name);
        }
        if let Some((key, _)) = self
            .env
            .iter()
            .find(|(key, _)| key.is_empty() || key.contains('='))
        {
            bail!(
                "process {}: environment variable name {key:?} is empty or holds '='",
                self.name
            );
        }
        Ok(())
    }
}

/// One process of a host, running or not.
#[derive(Debug)]
pub struct HostProcess {
    host: HostId,
    spec: ProcessSpec,
    log_path: PathBuf,
    child: Option<Child>,
    last_exit: Option<ExitStatus>,
    launches: u32,
}

impl HostProcess {
    /// A process of `host` that logs to `log_path`; not started yet.
    pub fn new(host: HostId, spec: ProcessSpec, log_path: PathBuf) -> Self {
        Self {
            host,
            spec,
            log_path,
            child: None,
            last_exit: None,
            launches: 0,
        }
    }

    /// The host it runs in.
    pub fn host(&self) -> HostId {
        self.host
    }

    /// Its spec.
    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    /// Starts it in `namespace`. Fails if it is already running.
    pub fn start(&mut self, namespace: &str) -> Result<()> {
        if self.running()? {
            bail!(
                "process {} of test host {} is already running",
                self.spec.name,
                self.host
            );
        }
        self.launches += 1;
        let step = Step::in_namespace(namespace, &self.spec.argv);
        let mut command = Command::new(step.program);
        command
            .args(&step.args)
            .envs(self.spec.env.iter().map(|(key, value)| (key, value)));
        let header = format!(
            "{} on {}, launch {}",
            self.spec.name, self.host, self.launches
        );
        let child = spawn_logged(&mut command, &self.log_path, &header)
            .with_context(|| format!("could not start `{step}`"))?;
        self.child = Some(child);
        self.last_exit = None;
        Ok(())
    }

    /// Whether it is running; reaps it if it has exited.
    pub fn running(&mut self) -> Result<bool> {
        self.reap_if_exited()?;
        Ok(self.child.is_some())
    }

    /// How its last launch ended; `None` while it runs or if it never ran.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        Ok(if self.running()? {
            None
        } else {
            self.last_exit
        })
    }

    fn reap_if_exited(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        let status = child
            .try_wait()
            .with_context(|| format!("could not poll process {}", self.spec.name))?;
        if status.is_some() {
            self.last_exit = status;
            self.child = None;
        }
        Ok(())
    }

    /// Its pid while it has not been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGKILL and reaps it, within a bound. Does nothing if it is not running.
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // An error here means it has already exited, which the reaping below handles.
        let _ = child.kill();
        let deadline = Instant::now() + REAP_PATIENCE;
        loop {
            let exited = child
                .try_wait()
                .with_context(|| format!("could not poll process {}", self.spec.name))?;
            if exited.is_some() {
                self.last_exit = exited;
                return Ok(());
            }
            if Instant::now() >= deadline {
                let pid = child.id();
                // Kept so that a later kill (or the harness's Drop) tries again.
                self.child = Some(child);
                bail!(
                    "process {} (pid {pid}) of test host {} did not die within {REAP_PATIENCE:?} of SIGKILL",
                    self.spec.name,
                    self.host
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything it has printed, over all its launches.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::layout::{Layout, RunId};

    #[test]
    fn specs_are_checked_before_anything_runs() {
        assert!(
            ProcessSpec::new("server-1.x", &["sleep", "1"])
                .env("A", "b")
                .validate()
                .is_ok()
        );
        for bad in ["", "../x", "a b", ".hidden", "a/b"] {
            let error = ProcessSpec::new(bad, &["sleep"]).validate().unwrap_err();
            assert!(
                error.to_string().contains("must be non-empty"),
                "{bad}: {error}"
            );
        }
        let error = ProcessSpec::new("p", &[]).validate().unwrap_err();
        assert_eq!(error.to_string(), "process p has no program to run");
        assert!(ProcessSpec::new("p", &[""]).validate().is_err());
        let error = ProcessSpec::new("p", &["x"])
            .env("A=B", "c")
            .validate()
            .unwrap_err();
        assert!(error.to_string().contains("\"A=B\""), "{error}");
    }

    #[test]
    fn a_process_that_was_never_started_is_not_running() {
        let layout = Layout::new(RunId { owner: 1, seq: 0 }, 1).unwrap();
        let host = layout.host(0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut process = HostProcess::new(
            host,
            ProcessSpec::new("p", &["true"]),
            dir.path().join("p.log"),
        );
        assert!(!process.running().unwrap());
        assert_eq!(process.exit_status().unwrap(), None);
        assert_eq!(process.pid(), None);
        assert!(process.kill().is_ok());
        assert!(process.log().starts_with("(could not read"));
    }
}
