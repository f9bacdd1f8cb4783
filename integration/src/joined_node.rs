//! A `flotilla node` process joined to a test [`Cluster`] as a second node, with its own data
//! dir and cgroup root, run directly or as PID 1 of a PID namespace of its own (`unshare`).
//! Dropping it kills the process and removes its cgroups (and so its containers); a failing
//! test prints its log.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::binary::flotilla_binary;
use crate::cgroup_tree::{self, CGROUP_FS};
use crate::cluster::Cluster;
use crate::cluster::host_network_flags;
use crate::logged_child::read_log;

pub struct JoinedNode {
    name: String,
    data_dir: PathBuf,
    cgroup_root: String,
    /// What runs `flotilla` (nothing, or `unshare` making it PID 1).
    launcher: Vec<String>,
    command: Vec<String>,
    child: Option<Child>,
}

/// How long a stopping agent may take before the test gives up on it.
const STOP_LIMIT: Duration = Duration::from_secs(30);

impl JoinedNode {
    /// Starts `flotilla node --server ... --token TOKEN --ca-hash PIN` as node `name`, with
    /// `extra` flags.
    pub fn start(
        cluster: &Cluster,
        name: &str,
        token: &str,
        ca_hash: &str,
        extra: &[&str],
    ) -> Result<Self> {
        Self::launch(cluster, name, token, ca_hash, extra, Vec::new())
    }

    fn launch(
        cluster: &Cluster,
        name: &str,
        token: &str,
        ca_hash: &str,
        extra: &[&str],
        launcher: Vec<String>,
    ) -> Result<Self> {
        let data_dir = cluster.workdir().join(format!("node-{name}"));
        fs::create_dir_all(&data_dir)
            .with_context(|| format!("could not create {}", data_dir.display()))?;
        let cgroup_root = format!("{}-{name}", cluster.cgroup_root());
        let mut command: Vec<String> = vec![
            "node".into(),
            "--server".into(),
            cluster.listen().to_string(),
            "--token".into(),
            token.into(),
            "--ca-hash".into(),
            ca_hash.into(),
            "--node-name".into(),
            name.into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--cgroup-root".into(),
            cgroup_root.clone(),
        ];
        let extra: Vec<String> = extra.iter().map(|arg| arg.to_string()).collect();
        command.extend(host_network_flags(&extra, &data_dir.join("net.d")));
        command.extend(extra);
        let mut node = Self {
            name: name.to_string(),
            data_dir,
            cgroup_root,
            launcher,
            command,
            child: None,
        };
        node.spawn()?;
        Ok(node)
    }

    /// Creates a token with the cluster's CLI and joins node `name` with it.
    pub fn join(cluster: &Cluster, name: &str, extra: &[&str]) -> Result<Self> {
        let (token, pin) = Self::token(cluster)?;
        Self::start(cluster, name, &token, &pin, extra)
    }

    /// Like [`JoinedNode::join`], with the agent as PID 1 of a new PID namespace, as in a
    /// container or as a machine's init.
    pub fn join_as_pid1(cluster: &Cluster, name: &str, extra: &[&str]) -> Result<Self> {
        let (token, pin) = Self::token(cluster)?;
        let unshare =
            ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"].map(String::from);
        Self::launch(cluster, name, &token, &pin, extra, unshare.to_vec())
    }

    fn token(cluster: &Cluster) -> Result<(String, String)> {
        let out = cluster.client().try_cli(&["token", "create"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let token = text.lines().next().unwrap_or_default().trim().to_string();
        let pin = text
            .split_whitespace()
            .find(|word| word.starts_with("sha256:"))
            .with_context(|| format!("no CA pin in `token create` output: {text}"))?
            .to_string();
        Ok((token, pin))
    }

    /// The node's data dir (its image store is `images` in it).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Sends SIGTERM, as a service manager stopping the agent would, and waits for it to exit.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("node {} is not running", self.name);
        };
        let pid = Pid::from_raw(i32::try_from(child.id()).context("a pid")?);
        kill(pid, Signal::SIGTERM).context("could not send SIGTERM")?;
        let deadline = Instant::now() + STOP_LIMIT;
        loop {
            if let Some(status) = child.try_wait().context("could not reap flotilla node")? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "node {} did not stop within {STOP_LIMIT:?} of SIGTERM",
                    self.name
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the agent again after [`JoinedNode::stop`] or [`JoinedNode::kill`].
    pub fn start_again(&mut self) -> Result<()> {
        self.spawn()
    }

    /// The pid, outside its namespace, of what runs as PID 1 inside it (run as PID 1 only).
    pub fn init_pid(&self) -> Result<u32> {
        let child = self.child.as_ref().context("the node is not running")?;
        let children = format!("/proc/{0}/task/{0}/children", child.id());
        let text = fs::read_to_string(&children).with_context(|| format!("reading {children}"))?;
        text.split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
            .with_context(|| format!("unshare has no child yet ({children}: {text:?})"))
    }

    /// Kills the agent with SIGKILL, as a crash would; its containers keep running.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("could not kill flotilla node")?;
            child.wait().context("could not reap flotilla node")?;
        }
        Ok(())
    }

    /// Starts the agent again on the same data dir (it keeps its certificate).
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn()
    }

    fn spawn(&mut self) -> Result<()> {
        let log_path = self.data_dir.join("agent.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("could not open {}", log_path.display()))?;
        let stderr = log.try_clone().context("could not reopen the node log")?;
        let binary = flotilla_binary()?.display().to_string();
        let argv: Vec<&String> = self
            .launcher
            .iter()
            .chain(std::iter::once(&binary))
            .chain(&self.command)
            .collect();
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .env_remove("FLOTILLA_CONFIG")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .context("could not start flotilla node")?;
        self.child = Some(child);
        Ok(())
    }

    /// The client config the node wrote when it joined (its certificate and key).
    pub fn config(&self) -> PathBuf {
        self.data_dir.join("node.conf")
    }

    /// Everything the agent printed.
    pub fn log(&self) -> String {
        read_log(&self.data_dir.join("agent.log"))
    }

    /// Every process in this node's containers, sorted: what an agent restart must not touch.
    pub fn container_pids(&self) -> Result<Vec<u32>> {
        let mut pids = BTreeSet::new();
        for root in cgroup_tree::hierarchy_dirs(Path::new(CGROUP_FS), Path::new(&self.cgroup_root))
        {
            for entry in
                fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))?
            {
                let dir = entry?.path();
                if dir.is_dir() {
                    pids.extend(cgroup_tree::procs_in(&dir)?);
                }
            }
        }
        Ok(pids.into_iter().collect())
    }

    fn remove_cgroups(&self) -> Result<()> {
        cgroup_tree::remove_tree(Path::new(CGROUP_FS), &self.cgroup_root)
    }
}

impl Drop for JoinedNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let cleanup = self.remove_cgroups();
        if thread::panicking() {
            eprintln!(
                "---- log of node {} ----\n{}\n---- end of log ----",
                self.name,
                self.log()
            );
        }
        if let Err(error) = cleanup {
            eprintln!("cleanup of cgroup root {}: {error:#}", self.cgroup_root);
        }
    }
}
