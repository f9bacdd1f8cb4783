//! A `flotilla node` process joined to a test [`Cluster`] as a second node, with its own data
//! dir and cgroup root. Dropping it kills the process and removes its cgroups; a failing test
//! prints its log.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;

use anyhow::{Context, Result};

use crate::binary::flotilla_binary;
use crate::cgroup_tree::{self, CGROUP_FS};
use crate::cluster::Cluster;

pub struct JoinedNode {
    name: String,
    data_dir: PathBuf,
    cgroup_root: String,
    child: Child,
}

impl JoinedNode {
    /// Starts `flotilla node --server ... --token TOKEN --ca-hash PIN` as node `name`.
    pub fn start(cluster: &Cluster, name: &str, token: &str, ca_hash: &str) -> Result<Self> {
        let data_dir = cluster.workdir().join(format!("node-{name}"));
        fs::create_dir_all(&data_dir)
            .with_context(|| format!("could not create {}", data_dir.display()))?;
        let log_path = data_dir.join("agent.log");
        let log = File::create(&log_path)
            .with_context(|| format!("could not create {}", log_path.display()))?;
        let stderr = log.try_clone().context("could not reopen the node log")?;
        let cgroup_root = format!("{}-{name}", cluster.cgroup_root());
        let child = Command::new(flotilla_binary()?)
            .arg("node")
            .args(["--server", &cluster.listen().to_string()])
            .args(["--token", token, "--ca-hash", ca_hash, "--node-name", name])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--cgroup-root", &cgroup_root])
            .env_remove("FLOTILLA_CONFIG")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .context("could not start flotilla node")?;
        Ok(Self {
            name: name.to_string(),
            data_dir,
            cgroup_root,
            child,
        })
    }

    /// The client config the node wrote when it joined (its certificate and key).
    pub fn config(&self) -> PathBuf {
        self.data_dir.join("node.conf")
    }

    /// Everything the agent printed.
    pub fn log(&self) -> String {
        let path = self.data_dir.join("agent.log");
        fs::read_to_string(&path)
            .unwrap_or_else(|e| format!("(could not read {}: {e})", path.display()))
    }

    fn remove_cgroups(&self) -> Result<()> {
        cgroup_tree::remove_tree(Path::new(CGROUP_FS), &self.cgroup_root)
    }
}

impl Drop for JoinedNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
