//! One `flotilla up` process as a test fixture.
//!
//! Each cluster gets its own temporary data dir, HOME, loopback port and cgroup root, so tests
//! can run in parallel and never touch the machine's real cluster. Whatever happens to the test,
//! dropping the cluster kills the process, kills every workload left in its cgroups and removes
//! them, and — when the test is failing — prints the cluster's log.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{self, Child, Command, ExitStatus, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tempfile::TempDir;

use flotilla_actors::store_service::StoreClient;
use flotilla_kernel::api::ApiClient;
use flotilla_transport::ClientOptions;

use crate::admin_config::admin_transport;
use crate::binary::flotilla_binary;
use crate::cgroup_tree::{self, CGROUP_FS};
use crate::client::Client;
use crate::container_cgroup::ContainerCgroup;
use crate::logged_child::{
    kill_and_reap, kill_quietly, log_tail, read_log, spawn_logged, wait_started,
};
use crate::objects::{self, ContainerId};
use crate::port::free_loopback_addr;
use crate::wait::Observation;

/// How long `stop` waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Where, in its work dir, `flotilla up` writes what it prints.
const LOG_FILE: &str = "flotilla.log";

/// Numbers the clusters of one test process, for unique cgroup roots.
static CLUSTERS: AtomicU32 = AtomicU32::new(0);

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `--node-name` of the single node.
    pub node_name: String,
    /// How long `start` and `restart` wait for the node to be Ready.
    pub ready_timeout: Duration,
    /// How often readiness is checked meanwhile.
    pub ready_poll: Duration,
    /// More `flotilla up` flags.
    pub extra_args: Vec<String>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            node_name: "flotilla-test".to_owned(),
            ready_timeout: Duration::from_secs(60),
            ready_poll: Duration::from_millis(50),
            extra_args: Vec::new(),
        }
    }
}

/// A running (or stopped) `flotilla up` with its own data dir and cgroup root.
pub struct Cluster {
    binary: PathBuf,
    client: Client,
    workdir: TempDir,
    listen: SocketAddr,
    cgroup_root: String,
    options: ClusterOptions,
    child: Option<Child>,
    launches: u32,
}

impl Cluster {
    /// Launches `flotilla up` and waits until its node is Ready.
    pub fn start(options: ClusterOptions) -> Result<Self> {
        let mut cluster = Self::launch(options)?;
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// Launches `flotilla up` without waiting for anything (the benchmark times the start).
    pub fn launch(options: ClusterOptions) -> Result<Self> {
        let binary = flotilla_binary()?;
        let workdir = tempfile::Builder::new()
            .prefix("flotilla-it-")
            .tempdir()
            .context("could not create a temporary directory for the cluster")?;
        let home = workdir.path().join("home");
        fs::create_dir(&home).with_context(|| format!("could not create {}", home.display()))?;
        let config = workdir.path().join("data").join("admin.conf");
        let cgroup_root = format!(
            "flotilla-it-{}-{}",
            process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        );
        let mut cluster = Self {
            client: Client::new(&binary, &config, &home),
            binary,
            workdir,
            listen: free_loopback_addr()?,
            cgroup_root,
            options,
            child: None,
            launches: 0,
        };
        cluster.spawn()?;
        Ok(cluster)
    }

    /// Waits until the process's node reports Ready; fails early, quoting the log, if the
    /// process exits meanwhile.
    pub fn wait_ready(&mut self) -> Result<()> {
        let client = &self.client;
        let node_name = self.options.node_name.as_str();
        let log_path = self.log_path();
        let header = launch_header(self.launches);
        // After a restart the stored Node is still Ready from the launch before, so this
        // launch's own "up" line is what says its agent serves exec and logs again.
        let this_launch_up = || {
            let log = read_log(&log_path);
            let this_launch = log.rsplit_once(&header).map_or("", |(_, after)| after);
            this_launch.contains("flotilla is up")
        };
        wait_started(
            &mut self.child,
            "flotilla up",
            &format!("node {node_name} was Ready"),
            &log_path,
            self.options.ready_timeout,
            self.options.ready_poll,
            || {
                if this_launch_up() {
                    node_ready(client, node_name)
                } else {
                    Ok(Observation::Waiting(format!(
                        "{header} has not logged \"flotilla is up\""
                    )))
                }
            },
        )
    }

    /// The pid of the `flotilla up` process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The cluster's data dir (`--data-dir`).
    pub fn data_dir(&self) -> PathBuf {
        self.workdir.path().join("data")
    }

    /// The address the API listens on.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The cluster's temporary directory, for fixtures that belong with it.
    pub fn workdir(&self) -> &Path {
        self.workdir.path()
    }

    /// The cgroup under which this cluster's containers live.
    pub fn cgroup_root(&self) -> &str {
        &self.cgroup_root
    }

    /// The CLI of this cluster.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A raw-store client of the cluster (its own QUIC connection), as an admin's tool would
    /// make one; must be called inside a tokio runtime.
    pub fn store_client(&self) -> Result<StoreClient> {
        let config = self.data_dir().join("admin.conf");
        Ok(StoreClient::new(admin_transport(
            &config,
            ClientOptions::default(),
        )?))
    }

    /// An API client of the cluster with the admin's identity (its own QUIC connection); must be
    /// called inside a tokio runtime.
    pub fn api_client(&self) -> Result<ApiClient> {
        let config = self.data_dir().join("admin.conf");
        Ok(ApiClient::remote(admin_transport(
            &config,
            ClientOptions::default(),
        )?))
    }

    /// See [`Client::cli`].
    pub fn cli(&self, args: &[&str]) -> Output {
        self.client.cli(args)
    }

    /// See [`Client::cli_ok`].
    pub fn cli_ok(&self, args: &[&str]) -> String {
        self.client.cli_ok(args)
    }

    /// See [`Client::get_json`].
    pub fn get_json(&self, kind: &str, namespace: Option<&str>) -> Result<Value> {
        self.client.get_json(kind, namespace)
    }

    /// See [`Client::get_object`].
    pub fn get_object(&self, kind: &str, name: &str, namespace: Option<&str>) -> Result<Value> {
        self.client.get_object(kind, name, namespace)
    }

    /// Writes `contents` to a file called `name` in the cluster's temporary directory.
    pub fn write_file(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let path = self.workdir.path().join(name);
        fs::write(&path, contents)
            .with_context(|| format!("could not write {}", path.display()))?;
        Ok(path)
    }

    /// Writes `yaml` to `name` and runs `flotilla apply -f` on it.
    pub fn apply_manifest(&self, name: &str, yaml: &str) -> Output {
        match self.write_file(name, yaml) {
            Ok(path) => self.client.apply_file(&path),
            Err(error) => panic!("{error:#}"),
        }
    }

    /// The cgroup of a container of this cluster.
    pub fn container_cgroup(&self, container: &ContainerId) -> ContainerCgroup {
        ContainerCgroup::new(Path::new(CGROUP_FS), &self.cgroup_root, container)
    }

    /// Sends SIGTERM and waits for the exit status; after 20 s sends SIGKILL and fails.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("the cluster is not running");
        };
        let pid = i32::try_from(child.id()).context("pid does not fit a pid_t")?;
        kill(Pid::from_raw(pid), Signal::SIGTERM).context("could not send SIGTERM")?;
        if let Some(status) = wait_for_exit(&mut child, STOP_GRACE)? {
            return Ok(status);
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!(
            "flotilla up did not exit within {STOP_GRACE:?} of SIGTERM and was killed; log:\n{}",
            log_tail(&self.log_path())
        )
    }

    /// Kills the process with SIGKILL, as a crash would (its containers keep running).
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("the cluster is not running");
        };
        kill_and_reap(&mut child, "flotilla up")
    }

    /// Starts `flotilla up` again on the same data dir, port and cgroup root, and waits until
    /// its node is Ready. The cluster must have been stopped.
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("restart needs a stopped cluster; call stop first");
        }
        self.spawn()?;
        self.wait_ready()
    }

    /// Everything `flotilla up` has printed, over all its launches.
    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    fn log_path(&self) -> PathBuf {
        self.workdir.path().join(LOG_FILE)
    }

    fn spawn(&mut self) -> Result<()> {
        self.launches += 1;
        let listen = self.listen.to_string();
        let mut command = Command::new(&self.binary);
        command
            .arg("up")
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--listen", &listen])
            .args(["--node-name", &self.options.node_name])
            .args(["--cgroup-root", &self.cgroup_root])
            .args(host_network_flags(
                &self.options.extra_args,
                &self.workdir.path().join("net.d"),
            ))
            .args(&self.options.extra_args)
            .env("HOME", self.workdir.path().join("home"))
            .env_remove("FLOTILLA_CONFIG")
            .env("RUST_BACKTRACE", "1");
        let header = launch_header(self.launches);
        self.child = Some(spawn_logged(&mut command, &self.log_path(), &header)?);
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_quietly(&mut child);
        }
        // A killed `up` leaves its pods' pause processes and its pod sandboxes' namespace
        // mounts in the work directory.
        crate::pauses::stop_pauses_under(self.workdir.path());
        crate::mounts::unmount_under(self.workdir.path());
        if runs_pod_network(&self.options.extra_args) {
            take_down_pod_network();
        }
        let cleanup = cgroup_tree::remove_tree(Path::new(CGROUP_FS), &self.cgroup_root);
        if thread::panicking() {
            eprintln!(
                "---- log of flotilla up ({}) ----\n{}\n---- end of log ----",
                self.log_path().display(),
                self.log()
            );
        }
        if let Err(error) = cleanup {
            eprintln!("cleanup of cgroup root {}: {error:#}", self.cgroup_root);
        }
    }
}

/// The line the log gets before launch number `launch` of `flotilla up`.
fn launch_header(launch: u32) -> String {
    format!("flotilla up, launch {launch}")
}

/// Whether node `node_name` is Ready, as an observation for polling.
fn node_ready(client: &Client, node_name: &str) -> Result<Observation> {
    let nodes = client.get_json("nodes", None)?;
    let nodes = objects::items(&nodes)?;
    Ok(
        match nodes.iter().find(|node| objects::name(node) == node_name) {
            Some(node) if objects::node_is_ready(node) => Observation::Done,
            Some(node) => Observation::Waiting(format!("node {node_name} not Ready: {node}")),
            None => {
                Observation::Waiting(format!("no node {node_name} among {} nodes", nodes.len()))
            }
        },
    )
}

/// Waits up to `limit` for `child` to exit; `None` if it is still running then.
fn wait_for_exit(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().context("could not poll flotilla up")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A node in the test machine's own network namespace wires no pod network of its own
/// (no bridge, routes or nftables table on the host) and reads CNI configurations from its
/// own directory, unless `extra` says otherwise.
pub(crate) fn host_network_flags(extra: &[String], conf_dir: &Path) -> Vec<String> {
    let mut flags = Vec::new();
    if !extra.iter().any(|arg| arg.starts_with("--network-backend")) {
        flags.extend(["--network-backend".to_string(), "none".to_string()]);
    }
    if !extra.iter().any(|arg| arg.starts_with("--cni-conf-dir")) {
        flags.extend(["--cni-conf-dir".to_string(), conf_dir.display().to_string()]);
    }
    flags
}

/// Whether `extra` turns on the node's own pod network (in the test machine's namespace).
fn runs_pod_network(extra: &[String]) -> bool {
    extra
        .windows(2)
        .any(|pair| pair[0] == "--network-backend" && pair[1] != "none")
}

/// What a killed `up` with its pod network on leaves in the machine's network: its nftables
/// tables and the pods' bridge (the pods' veths went with their namespaces). A stopped one
/// removes them itself; these commands then find nothing.
fn take_down_pod_network() {
    for table in [
        "ip flotilla-pod-network",
        "ip flotilla-proxy",
        "ip flotilla-policy",
    ] {
        let mut args = vec!["delete", "table"];
        args.extend(table.split(' '));
        let _ = Command::new("nft")
            .args(args)
            .stderr(std::process::Stdio::null())
            .status();
    }
    let _ = Command::new("ip")
        .args(["link", "delete", "flotilla0"])
        .stderr(std::process::Stdio::null())
        .status();
}
