//! A pod's network namespace, entered as the pod's own traffic would leave it: load generators
//! start in it through `nsenter --net`, and a thread joins it with `setns` to open TCP
//! connections (a socket stays in the namespace it was created in, and a fresh thread that
//! ends with its work leaves the benchmark's own threads in the machine's namespace).
//!
//! The native runtime keeps each sandbox's namespaces as files under the node's data dir
//! (`runtime/sandboxes/<pod uid>/net`); the test hosts share the machine's mounts, so the
//! benchmark opens them directly.

use std::fs::File;
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::panic;
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};

use flotilla_integration::Fleet;

/// How long one connect may take before it counts as not answering: a ClusterIP without its
/// rules yet may drop the SYN rather than refuse it. A connect across the test hosts' veths is
/// answered well within this, and a short one keeps the retries, and so the figure, fine.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(10);
/// The pause between two refused connects.
const RETRY: Duration = Duration::from_millis(2);

/// The network namespace of one running pod.
#[derive(Debug, Clone)]
pub struct PodNetns {
    file: PathBuf,
}

impl PodNetns {
    /// The namespace of pod `pod` (default namespace), which runs on node `nN`.
    pub fn of(fleet: &Fleet, node: usize, pod: &str) -> Result<Self> {
        let json: serde_json::Value =
            serde_json::from_str(&fleet.cli(&["get", "pod", pod, "-o", "json"])?)
                .with_context(|| format!("pod {pod} as JSON"))?;
        let uid = json["metadata"]["uid"]
            .as_str()
            .filter(|uid| !uid.is_empty() && !uid.contains('/'))
            .with_context(|| format!("pod {pod} has no uid"))?;
        let file = fleet
            .node_dir(node)
            .join("runtime/sandboxes")
            .join(uid)
            .join("net");
        if !file.exists() {
            bail!(
                "pod {pod}'s network namespace is not at {}: is it running on n{node} under the native runtime?",
                file.display()
            );
        }
        Ok(Self { file })
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net={}", self.file.display()))
            .arg("--")
            .arg(program);
        command
    }

    /// Runs `work` on a new thread inside the namespace and returns its result; a panic in
    /// `work` is resumed in the caller.
    pub fn run_in<T: Send>(&self, work: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        let handle = File::open(&self.file)
            .with_context(|| format!("could not open {}", self.file.display()))?;
        let joined = thread::scope(|scope| {
            scope
                .spawn(move || {
                    setns(&handle, CloneFlags::CLONE_NEWNET)
                        .context("could not enter the pod's network namespace")?;
                    work()
                })
                .join()
        });
        match joined {
            Ok(result) => result,
            Err(panic) => panic::resume_unwind(panic),
        }
    }

    /// Connects to every one of `addresses` from inside the pod, each retried until it
    /// answers; fails if one has not answered by `deadline`. Returns the time from `since` to
    /// the answer of the last one.
    pub fn wait_answers(
        &self,
        addresses: &[SocketAddrV4],
        since: Instant,
        deadline: Instant,
    ) -> Result<Duration> {
        self.run_in(|| {
            for address in addresses {
                wait_connect(*address, deadline)?;
            }
            Ok(since.elapsed())
        })
    }
}

/// Tries TCP connects to `address` from this thread until one succeeds, or fails at
/// `deadline` saying what the last attempt met.
fn wait_connect(address: SocketAddrV4, deadline: Instant) -> Result<()> {
    let target = SocketAddr::V4(address);
    loop {
        let error = match TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if Instant::now() >= deadline {
            bail!("{address} did not answer in time; last connect: {error}");
        }
        thread::sleep(RETRY);
    }
}
