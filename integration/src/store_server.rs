//! One `flotilla store serve` process as a test and benchmark fixture: its own temporary data
//! dir and loopback port, killed with SIGKILL and restarted on the same data dir at will, and
//! always stopped when dropped. Clients reach it through the admin config it writes, as an
//! operator's tool would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tempfile::TempDir;

use flotilla_actors::store_service::StoreClient;
use flotilla_transport::ClientOptions;

use crate::admin_config::admin_transport;
use crate::binary::flotilla_binary;
use crate::logged_child::{kill_and_reap, kill_quietly, read_log, spawn_logged, wait_started};
use crate::port::{free_loopback_addr, udp_bound};
use crate::wait::Observation;

/// How long a start may take before the fixture gives up (RocksDB recovery included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
const START_POLL: Duration = Duration::from_millis(10);

/// A standalone flotilla store.
pub struct StoreServer {
    binary: PathBuf,
    workdir: TempDir,
    listen: SocketAddr,
    /// More `flotilla store serve` flags.
    extra_args: Vec<String>,
    child: Option<Child>,
    launches: u32,
}

impl StoreServer {
    /// Starts `flotilla store serve` and waits until its admin config exists and its port is
    /// bound.
    pub fn start() -> Result<StoreServer> {
        StoreServer::start_with(&[])
    }

    /// [`StoreServer::start`] with more `flotilla store serve` flags.
    pub fn start_with(extra_args: &[&str]) -> Result<StoreServer> {
        let workdir = tempfile::Builder::new()
            .prefix("flotilla-store-")
            .tempdir()
            .context("could not create a temporary directory for the store")?;
        let mut server = StoreServer {
            binary: flotilla_binary()?,
            workdir,
            listen: free_loopback_addr()?,
            extra_args: extra_args.iter().map(ToString::to_string).collect(),
            child: None,
            launches: 0,
        };
        server.restart()?;
        Ok(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.workdir.path().join("data")
    }

    fn config_path(&self) -> PathBuf {
        self.data_dir().join("admin.conf")
    }

    /// A new client (its own QUIC connection); must be called inside a tokio runtime.
    pub fn client(&self) -> Result<StoreClient> {
        self.client_with(ClientOptions::default())
    }

    /// A new client with `options` (deadlines, limits).
    pub fn client_with(&self, options: ClientOptions) -> Result<StoreClient> {
        let transport = admin_transport(&self.config_path(), options)
            .context("could not prepare a store client")?;
        Ok(StoreClient::new(transport))
    }

    /// Kills it with SIGKILL, as a power cut or OOM kill would, and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("the store is not running");
        };
        kill_and_reap(&mut child, "the store")
    }

    /// Starts it (again) on the same data dir and port; waits until the port is bound.
    pub fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("the store is already running");
        }
        self.spawn()?;
        let listen = self.listen;
        let config = self.config_path();
        let log = self.log_path();
        wait_started(
            &mut self.child,
            "the store",
            &format!("it bound {listen}"),
            &log,
            START_TIMEOUT,
            START_POLL,
            || {
                // The port is bound (UDP) once serving starts; the config is written before.
                Ok(if config.exists() && udp_bound(listen)? {
                    Observation::Done
                } else {
                    Observation::Waiting(format!("waiting for the store to bind {listen}"))
                })
            },
        )
    }

    /// Everything the store printed, over all its launches.
    fn log(&self) -> String {
        read_log(&self.log_path())
    }

    fn log_path(&self) -> PathBuf {
        self.workdir.path().join("store.log")
    }

    fn spawn(&mut self) -> Result<()> {
        self.launches += 1;
        let mut command = Command::new(&self.binary);
        command
            .args(["store", "serve", "--data-dir"])
            .arg(self.data_dir())
            .args(["--listen", &self.listen.to_string()])
            .args(&self.extra_args)
            .env("HOME", self.workdir.path())
            .env_remove("FLOTILLA_CONFIG");
        let header = format!("flotilla store serve, launch {}", self.launches);
        self.child = Some(spawn_logged(&mut command, &self.log_path(), &header)?);
        Ok(())
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_quietly(&mut child);
        }
        if std::thread::panicking() {
            eprintln!("---- store log ----\n{}\n---- end ----", self.log());
        }
    }
}
