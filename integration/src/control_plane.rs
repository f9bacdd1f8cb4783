//! One `flotilla server` process (the control plane, no node agent) as a benchmark fixture: its
//! own temporary data dir, HOME and loopback port, more flags at will, and always killed when
//! dropped. Clients reach it through the admin config it writes, as an operator's tool would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::binary::flotilla_binary;
use crate::logged_child::{kill_quietly, log_tail, read_log, spawn_logged, wait_started};
use crate::port::{free_loopback_addr, udp_bound};
use crate::wait::Observation;

/// How long a start may take before the fixture gives up.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const START_POLL: Duration = Duration::from_millis(10);

/// A running `flotilla server`.
pub struct ControlPlane {
    workdir: TempDir,
    child: Option<Child>,
}

impl ControlPlane {
    /// Starts `flotilla server` with `extra_args` and waits until its admin config exists and
    /// its API port is bound (the API binds once the system namespaces exist).
    pub fn start(extra_args: &[&str]) -> Result<ControlPlane> {
        let workdir = tempfile::Builder::new()
            .prefix("flotilla-server-")
            .tempdir()
            .context("could not create a temporary directory for the server")?;
        let listen = free_loopback_addr()?;
        let mut server = ControlPlane {
            workdir,
            child: None,
        };
        let mut command = Command::new(flotilla_binary()?);
        command
            .arg("server")
            .arg("--data-dir")
            .arg(server.data_dir())
            .args(["--listen", &listen.to_string()])
            .args(extra_args)
            .env("HOME", server.workdir.path())
            .env_remove("FLOTILLA_CONFIG");
        server.child = Some(spawn_logged(
            &mut command,
            &server.log_path(),
            "flotilla server",
        )?);
        let config = server.admin_config();
        let log = server.log_path();
        wait_started(
            &mut server.child,
            "flotilla server",
            &format!("it bound {listen}"),
            &log,
            START_TIMEOUT,
            START_POLL,
            || started(listen, config.exists()),
        )?;
        Ok(server)
    }

    /// The admin's client config (`DATA_DIR/admin.conf`).
    pub fn admin_config(&self) -> PathBuf {
        self.data_dir().join("admin.conf")
    }

    /// The pid of the server process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The last lines the server printed, for an error report.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path())
    }

    fn data_dir(&self) -> PathBuf {
        self.workdir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.workdir.path().join("server.log")
    }
}

/// Whether the server is serving: it wrote its config and holds its UDP port.
fn started(listen: SocketAddr, config_written: bool) -> Result<Observation> {
    Ok(if config_written && udp_bound(listen)? {
        Observation::Done
    } else {
        Observation::Waiting(format!("waiting for flotilla server to bind {listen}"))
    })
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_quietly(&mut child);
        }
        if std::thread::panicking() {
            eprintln!(
                "---- log of flotilla server ----\n{}\n---- end ----",
                read_log(&self.log_path())
            );
        }
    }
}
