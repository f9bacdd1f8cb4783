//! A `flotilla node` process joined to a test [`Cluster`] as a second node, with its own data
//! dir and cgroup root. Dropping it kills the process and removes its cgroups; a failing test
//! prints its log.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;

use anyhow::{Context, Result};

use crate::binary::flotilla_binary;
use crate::cgroup_tree::{self, CGROUP_FS};
use crate::cluster::Cluster;
use crate::logged_child::read_log;

pub struct JoinedNode {
    name: String,
    data_dir: PathBuf,
    cgroup_root: String,
    command: Vec<String>,
    child: Option<Child>,
}

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
        command.extend(extra.iter().map(|arg| arg.to_string()));
        let mut node = Self {
            name: name.to_string(),
            data_dir,
            cgroup_root,
            command,
            child: None,
        };
        node.spawn()?;
        Ok(node)
    }

    /// Creates a token with the cluster's CLI and joins node `name` with it.
    pub fn join(cluster: &Cluster, name: &str, extra: &[&str]) -> Result<Self> {
        let out = cluster.client().try_cli(&["token", "create"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let token = text.lines().next().unwrap_or_default().trim().to_string();
        let pin = text
            .split_whitespace()
            .find(|word| word.starts_with("sha256:"))
            .with_context(|| format!("no CA pin in `token create` output: {text}"))?
            .to_string();
        Self::start(cluster, name, &token, &pin, extra)
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
        let child = Command::new(flotilla_binary()?)
            .args(&self.command)
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
