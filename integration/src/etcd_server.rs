//! One Debian `etcd` (3.4) process as the benchmark's reference peer: a single member on
//! loopback with its own temporary data dir, per-write fsync (etcd's default), and client TLS
//! with client certificates from a test CA, so it pays for the same security flotilla does.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use flotilla_transport::{ClusterPki, Credentials, Identity};

use crate::logged_child::{kill_quietly, spawn_logged, wait_started};
use crate::port::free_loopback_addr;
use crate::wait::Observation;

const ETCD: &str = "etcd";
const VALIDITY: Duration = Duration::from_secs(24 * 3600);
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Where, in its work dir, etcd writes what it prints.
const LOG_FILE: &str = "etcd.log";

/// A running etcd member; dropping it kills the process and removes its data.
pub struct EtcdServer {
    workdir: TempDir,
    child: Option<Child>,
    client_addr: SocketAddr,
    client: Credentials,
}

impl EtcdServer {
    /// Starts etcd and waits until its client port accepts connections.
    pub fn start() -> Result<EtcdServer> {
        let workdir = tempfile::Builder::new()
            .prefix("flotilla-etcd-")
            .tempdir()
            .context("could not create a temporary directory for etcd")?;
        let pki = ClusterPki::load_or_create(&workdir.path().join("pki"))?;
        let server = pki.issue_server(&["localhost".into(), "127.0.0.1".into()], VALIDITY)?;
        let client = pki.issue_client(&Identity::new("bench", "admin"), VALIDITY)?;
        let files = workdir.path();
        write(&files.join("ca.pem"), &server.ca_pem)?;
        write(&files.join("server.pem"), &server.cert_pem)?;
        write(&files.join("server-key.pem"), &server.key_pem)?;

        let client_addr = free_loopback_addr()?;
        let peer_addr = free_loopback_addr()?;
        let client_url = format!("https://{client_addr}");
        let peer_url = format!("http://{peer_addr}");
        let mut command = Command::new(ETCD);
        command
            .args(["--name", "bench", "--data-dir"])
            .arg(files.join("data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("bench={peer_url}")])
            .arg("--cert-file")
            .arg(files.join("server.pem"))
            .arg("--key-file")
            .arg(files.join("server-key.pem"))
            .arg("--trusted-ca-file")
            .arg(files.join("ca.pem"))
            .arg("--client-cert-auth")
            .args(["--quota-backend-bytes", "8589934592"])
            .args(["--log-level", "error", "--logger", "zap"]);
        let child = spawn_logged(&mut command, &files.join(LOG_FILE), "etcd")
            .context("could not run etcd (install Debian's etcd-server)")?;
        let mut etcd = EtcdServer {
            workdir,
            child: Some(child),
            client_addr,
            client,
        };
        etcd.wait_listening()?;
        Ok(etcd)
    }

    /// `https://ADDR`, for clients.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.client_addr)
    }

    /// A client certificate etcd accepts, with its CA.
    pub fn client_credentials(&self) -> &Credentials {
        &self.client
    }

    fn wait_listening(&mut self) -> Result<()> {
        let addr = self.client_addr;
        wait_started(
            &mut self.child,
            "etcd",
            &format!("it listened on {addr}"),
            &self.workdir.path().join(LOG_FILE),
            START_TIMEOUT,
            Duration::from_millis(20),
            || {
                Ok(if TcpStream::connect(addr).is_ok() {
                    Observation::Done
                } else {
                    Observation::Waiting(format!("etcd not yet listening on {addr}"))
                })
            },
        )
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_quietly(&mut child);
        }
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("could not write {}", path.display()))
}
