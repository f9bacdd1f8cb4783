//! The baseline with a daemon: a private containerd (Debian's) driven by its `ctr` client.
//!
//! containerd runs on a temporary root and state dir with sockets of its own and a minimal
//! config (no CRI plug-in), and the benchmark's containers live in a containerd namespace of
//! their own, which also names their parent cgroup; a containerd of the machine is not
//! touched. Dropping the daemon deletes its containers, stops it within bounded waits, kills
//! any shim or container left over, and removes its cgroups and directories.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use flotilla_integration::unmount_under;

use super::command::{remove_cgroup_group, run_quietly, run_timed};

/// Longest one ctr command may take.
const CTR_LIMIT: Duration = Duration::from_secs(60);
/// How long containerd may take to answer on its socket.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const READY_POLL: Duration = Duration::from_millis(20);
/// How long containerd is given to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Where the runc shim keeps runc's state, per containerd namespace (not under `state`).
const SHIM_RUNC_ROOT: &str = "/run/containerd/runc";

/// A running private containerd and the containers the benchmark started in it.
pub struct Containerd {
    dir: TempDir,
    namespace: String,
    daemon: Option<Child>,
    containers: Vec<String>,
}

impl Containerd {
    /// Starts containerd and waits until it answers `ctr version`.
    pub fn start(namespace: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-pod-start-containerd-")
            .tempdir()
            .context("could not create a directory for containerd")?;
        let config = dir.path().join("config.toml");
        fs::write(&config, config_toml(dir.path()))
            .with_context(|| format!("writing {}", config.display()))?;
        let log = dir.path().join("containerd.log");
        let log_file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file.try_clone()?))
            .stderr(Stdio::from(log_file))
            .spawn()
            .context("could not start containerd (cargo xtask bench pod-start installs it)")?;
        let mut containerd = Self {
            dir,
            namespace: namespace.to_owned(),
            daemon: Some(daemon),
            containers: Vec::new(),
        };
        containerd.wait_ready()?;
        Ok(containerd)
    }

    /// Times `ctr images import` of `archive`. It stores the blobs and, by default, unpacks
    /// the layers into the overlayfs snapshotter, ready to run.
    pub fn import(&self, archive: &Path) -> Result<Duration> {
        run_timed(
            self.ctr().args(["images", "import"]).arg(archive),
            CTR_LIMIT,
        )
    }

    /// Times `ctr run -d` of a container `id` of `image` running `args`: a snapshot, the
    /// container record, the shim, and runc creating and starting the task.
    pub fn run(&mut self, image: &str, id: &str, args: &[&str]) -> Result<Duration> {
        // Recorded first: a run that fails half-way may leave a container to delete.
        self.containers.push(id.to_owned());
        run_timed(
            self.ctr()
                .args(["run", "--detach", "--null-io", image, id])
                .args(args),
            CTR_LIMIT,
        )
    }

    fn socket(&self) -> PathBuf {
        socket(self.dir.path())
    }

    fn ctr(&self) -> Command {
        let mut command = Command::new("ctr");
        command
            .arg("--address")
            .arg(self.socket())
            .args(["--namespace", &self.namespace]);
        command
    }

    /// Polls `ctr version` until it answers; fails at once, with the log, if containerd exits.
    fn wait_ready(&mut self) -> Result<()> {
        let log = self.dir.path().join("containerd.log");
        let mut version = Command::new("ctr");
        version.arg("--address").arg(self.socket()).arg("version");
        let daemon = self.daemon.as_mut().context("containerd is not running")?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = daemon.try_wait().context("could not poll containerd")? {
                bail!(
                    "containerd exited ({status}); its log:\n{}",
                    fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let error = match run_timed(&mut version, CTR_LIMIT) {
                Ok(_) => return Ok(()),
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(error.context(format!(
                    "containerd did not answer within {READY_TIMEOUT:?}"
                )));
            }
            thread::sleep(READY_POLL);
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`STOP_GRACE`].
    fn stop_daemon(&mut self) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(daemon.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if !matches!(daemon.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!("bench: containerd: no exit within {STOP_GRACE:?} of SIGTERM; killing it");
        let _ = daemon.kill();
        let _ = daemon.wait();
    }

    /// Kills the shims of this containerd that outlived it (each names its socket).
    fn kill_stray_shims(&self) {
        let socket = self.socket().to_string_lossy().into_owned();
        let Ok(entries) = fs::read_dir("/proc") else {
            return;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let words: Vec<String> = cmdline
                .split(|byte| *byte == 0)
                .map(|word| String::from_utf8_lossy(word).into_owned())
                .collect();
            let shim = words
                .first()
                .is_some_and(|program| program.contains("containerd-shim"));
            if shim && words.contains(&socket) {
                eprintln!("bench: containerd: killing stray shim {pid}");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.daemon.is_some() && !self.containers.is_empty() {
            eprintln!("bench: ctr: deleting {} containers", self.containers.len());
            for id in &self.containers {
                run_quietly(
                    self.ctr().args(["tasks", "delete", "--force", id]),
                    CTR_LIMIT,
                );
                run_quietly(self.ctr().args(["containers", "delete", id]), CTR_LIMIT);
            }
        }
        self.stop_daemon();
        self.kill_stray_shims();
        remove_cgroup_group(&self.namespace);
        unmount_under(self.dir.path());
        let runc_state = Path::new(SHIM_RUNC_ROOT).join(&self.namespace);
        if runc_state.exists()
            && let Err(error) = fs::remove_dir_all(&runc_state)
        {
            eprintln!(
                "bench: cleanup: could not remove {}: {error}",
                runc_state.display()
            );
        }
    }
}

fn socket(dir: &Path) -> PathBuf {
    dir.join("containerd.sock")
}

/// A minimal containerd config: everything under `dir`, the CRI plug-in (Kubernetes') off.
fn config_toml(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "version = 2\n\
         root = \"{dir}/root\"\n\
         state = \"{dir}/state\"\n\
         disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
         \n\
         [grpc]\n\
         \x20 address = \"{dir}/containerd.sock\"\n\
         \n\
         [ttrpc]\n\
         \x20 address = \"{dir}/containerd.sock.ttrpc\"\n\
         \n\
         [plugins.\"io.containerd.internal.v1.opt\"]\n\
         \x20 path = \"{dir}/opt\"\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_everything_under_the_dir() {
        let config = config_toml(Path::new("/tmp/ctd"));
        assert!(config.starts_with("version = 2\nroot = \"/tmp/ctd/root\"\n"));
        assert!(config.contains("state = \"/tmp/ctd/state\"\n"));
        assert!(config.contains("[grpc]\n  address = \"/tmp/ctd/containerd.sock\"\n"));
        assert!(config.contains("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"));
        assert_eq!(
            socket(Path::new("/tmp/ctd")),
            Path::new("/tmp/ctd/containerd.sock")
        );
    }
}
