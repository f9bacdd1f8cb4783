//! A fleet on test hosts: `flotilla server` in host 0 and `flotilla node` in each other host,
//! joined with bootstrap tokens over the bridge, and the operator's CLI run in the server's
//! host. Everything is cleaned up with the [`Hosts`] and the temporary directory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use crate::binary::flotilla_binary;
use crate::hosts::{HostId, Hosts, ProcessId, ProcessSpec};
use crate::objects;
use crate::wait::{Observation, poll_until};

const CLI_LIMIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// One pod as the fleet's checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub node: String,
    pub terminating: bool,
    pub running: bool,
}

pub struct Fleet {
    pub hosts: Hosts,
    dir: TempDir,
    binary: String,
    server: HostId,
    listen: String,
    /// The agent process of node `n{i+1}`.
    agents: Vec<ProcessId>,
}

impl Fleet {
    /// Starts the server (with `server_flags`) and `nodes` joined nodes named `n1`.. (with
    /// `node_flags`), and waits until every node is Ready.
    pub fn start(nodes: usize, server_flags: &[&str], node_flags: &[&str]) -> Result<Self> {
        Self::start_with_spares(nodes, 0, server_flags, node_flags)
    }

    /// As [`Fleet::start`], with `spares` more hosts for nodes that join later
    /// ([`Fleet::join_later`]).
    pub fn start_with_spares(
        nodes: usize,
        spares: usize,
        server_flags: &[&str],
        node_flags: &[&str],
    ) -> Result<Self> {
        let mut hosts = Hosts::build(nodes + spares + 1)?;
        let server = hosts.host(0)?;
        let dir = tempfile::tempdir().context("a directory for the fleet")?;
        let binary = flotilla_binary()?.display().to_string();
        let address = hosts.address(server)?.to_string();
        let listen = format!("{address}:7443");
        let data_dir = dir.path().join("server").display().to_string();
        let home = dir.path().join("home").display().to_string();
        let mut argv = vec![
            binary.as_str(),
            "server",
            "--data-dir",
            &data_dir,
            "--listen",
            &listen,
            "--san",
            &address,
        ];
        argv.extend_from_slice(server_flags);
        hosts.spawn(server, ProcessSpec::new("server", &argv).env("HOME", &home))?;
        let mut fleet = Fleet {
            hosts,
            dir,
            binary,
            server,
            listen,
            agents: Vec::new(),
        };
        let config = fleet.config();
        poll_until(Duration::from_secs(30), POLL, || {
            Ok(if config.exists() {
                Observation::Done
            } else {
                Observation::Waiting(format!("no {}", config.display()))
            })
        })?;
        for index in 1..=nodes {
            fleet.join(index, node_flags)?;
        }
        poll_until(Duration::from_secs(60), POLL, || {
            let ready = (1..=nodes)
                .filter(|i| fleet.ready(&format!("n{i}")))
                .count();
            Ok(if ready == nodes {
                Observation::Done
            } else {
                Observation::Waiting(format!("{ready} of {nodes} nodes Ready"))
            })
        })?;
        Ok(fleet)
    }

    /// Joins node `nN` (`index` N) in its spare host, with `flags`, and waits until it is
    /// Ready.
    pub fn join_later(&mut self, index: usize, flags: &[&str]) -> Result<()> {
        self.join(index, flags)?;
        let name = format!("n{index}");
        poll_until(Duration::from_secs(60), POLL, || {
            Ok(if self.ready(&name) {
                Observation::Done
            } else {
                Observation::Waiting(format!("{name} not Ready"))
            })
        })
    }

    fn join(&mut self, index: usize, flags: &[&str]) -> Result<()> {
        let host = self.hosts.host(index)?;
        let name = format!("n{index}");
        let out = self.cli(&["token", "create"])?;
        let token = out.lines().next().context("a token")?.trim().to_string();
        let pin = out
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .context("the CA pin")?
            .to_string();
        let cgroup_root = self.hosts.cgroup_root(host)?;
        let node_dir = self.dir.path().join(&name).display().to_string();
        // Hosts share the machine's files: each node has a CNI configuration of its own.
        let conf_dir = self
            .dir
            .path()
            .join(&name)
            .join("net.d")
            .display()
            .to_string();
        let mut argv = vec![
            self.binary.as_str(),
            "node",
            "--server",
            &self.listen,
            "--token",
            &token,
            "--ca-hash",
            &pin,
            "--node-name",
            &name,
            "--data-dir",
            &node_dir,
            "--cgroup-root",
            &cgroup_root,
            "--cni-conf-dir",
            &conf_dir,
        ];
        argv.extend_from_slice(flags);
        let agent = self.hosts.spawn(host, ProcessSpec::new(&name, &argv))?;
        self.agents.push(agent);
        Ok(())
    }

    /// The agent process of node `nN`.
    pub fn agent(&self, index: usize) -> Result<ProcessId> {
        index
            .checked_sub(1)
            .and_then(|i| self.agents.get(i))
            .copied()
            .with_context(|| format!("no node n{index} in this fleet"))
    }

    /// Runs the CLI as node `nN` itself, with its own certificate, in its host.
    pub fn cli_as_node(&self, index: usize, args: &[&str]) -> Result<std::process::Output> {
        let config = self.dir.path().join(format!("n{index}")).join("node.conf");
        let config = config.display().to_string();
        let mut argv = vec![self.binary.as_str(), "--config", config.as_str()];
        argv.extend_from_slice(args);
        self.hosts.run_in(self.hosts.host(index)?, &argv, CLI_LIMIT)
    }

    /// The data directory of node `nN`.
    pub fn node_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("n{index}"))
    }

    /// The host of node `nN`.
    pub fn node_host(&self, index: usize) -> Result<HostId> {
        self.hosts.host(index)
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("server").join("admin.conf")
    }

    /// Runs the CLI as the admin in the server's host; fails with its stderr.
    pub fn cli(&self, args: &[&str]) -> Result<String> {
        let config = self.config().display().to_string();
        let mut argv = vec![self.binary.as_str(), "--config", config.as_str()];
        argv.extend_from_slice(args);
        let out = self.hosts.run_in(self.server, &argv, CLI_LIMIT)?;
        if !out.status.success() {
            bail!(
                "flotilla {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Applies `yaml` as a manifest.
    pub fn apply(&self, yaml: &str) -> Result<()> {
        let path = self.dir.path().join("manifest.yaml");
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
        self.cli(&["apply", "-f", &path.display().to_string()])?;
        Ok(())
    }

    /// Whether node `name` is Ready (false if it cannot be read).
    pub fn ready(&self, name: &str) -> bool {
        self.json(&["get", "node", name])
            .is_ok_and(|node| objects::node_is_ready(&node))
    }

    /// Every pod in the default namespace.
    pub fn pods(&self) -> Result<Vec<PodView>> {
        let list = self.json(&["get", "pods"])?;
        Ok(objects::items(&list)?
            .iter()
            .map(|p| PodView {
                name: objects::name(p).to_string(),
                node: p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                terminating: !p["metadata"]["deletionTimestamp"].is_null(),
                running: objects::is_running(p),
            })
            .collect())
    }
}
