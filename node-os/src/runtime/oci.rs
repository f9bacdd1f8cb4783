//! Running an image container with an OCI runtime (runc) instead of the container init: the
//! runtime mounts the overlay root on the host, writes the bundle from the container's
//! [`InitConfig`] and runs `RUNTIME run` in the foreground, so the runtime's process is the
//! child whose exit status is the container's (runc waits for it and passes it on, forwarding
//! signals). Everything of the runtime's lives in the container's directory: the bundle, the
//! runtime's state (`--root`) and its log, so removing the directory forgets it all.
//!
//! The runtime joins the container to the cgroup the native runtime made for it, and the
//! container's own process leads its session there, so signals, `remove`, `exec`, usage and
//! adoption after an agent restart work as for the container init.

use std::fs::{self, File};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::mount::{MntFlags, umount2};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use tokio::process::{Child, Command};

use super::child_setup::ChildSetup;
use crate::sandbox::bundle::runtime_spec;
use crate::sandbox::config::InitConfig;
use crate::sandbox::identity_in;

/// The bundle directory inside a container's directory: its presence marks a container that
/// an OCI runtime runs.
pub(crate) const BUNDLE: &str = "bundle";

/// How often the runtime's pid file is looked for while it creates the container.
const PID_POLL: Duration = Duration::from_millis(2);

/// How long the runtime may take to create the container.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// One container for `binary` to run, whose directory `dir` the native runtime prepared.
pub(crate) struct OciStart<'a> {
    pub(crate) binary: &'a Path,
    pub(crate) dir: &'a Path,
    pub(crate) config: &'a InitConfig,
    /// The container's cgroup below each hierarchy's root.
    pub(crate) cgroups_path: &'a str,
}

impl OciStart<'_> {
    /// Mounts the root, writes the bundle and starts the runtime; returns the runtime's
    /// process and the container's pid once the container runs, or why it could not start
    /// (the runtime's own message, such as `exec: "x": executable file not found in $PATH`).
    pub(crate) fn run(&self, log: File, stderr: File) -> Result<(Child, u32), String> {
        self.config.rootfs.mount()?;
        let started = self.write_bundle().and_then(|()| self.start(log, stderr));
        if started.is_err() {
            unmount_root(self.dir);
        }
        started
    }

    fn write_bundle(&self) -> Result<(), String> {
        let merged = &self.config.rootfs.merged;
        let root = rustix::fs::open(merged, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())
            .map_err(|errno| format!("opening {}: {errno}", merged.display()))?;
        let passwd = read_in_root(&root, "etc/passwd");
        let group = read_in_root(&root, "etc/group");
        let identity = identity_in(
            &passwd,
            &group,
            self.config.user.as_deref(),
            &self.config.security,
        )?;
        let spec = runtime_spec(self.config, &identity, self.cgroups_path)?;
        let bundle = self.dir.join(BUNDLE);
        fs::create_dir_all(&bundle)
            .map_err(|error| format!("creating {}: {error}", bundle.display()))?;
        spec.save(bundle.join("config.json"))
            .map_err(|error| format!("writing the bundle's config.json: {error}"))
    }

    fn start(&self, log: File, stderr: File) -> Result<(Child, u32), String> {
        let pid_file = self.dir.join("pid");
        let runtime_log = self.dir.join("runtime.log");
        let mut command = Command::new(self.binary);
        command
            .arg("--root")
            .arg(self.dir.join("state"))
            .arg("--log")
            .arg(&runtime_log)
            .args(["--log-format", "json", "run", "--bundle"])
            .arg(self.dir.join(BUNDLE))
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&self.config.id)
            .env_clear()
            .current_dir(self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        ChildSetup::oci_runtime().install(&mut command);
        let mut child = command
            .spawn()
            .map_err(|error| format!("running {}: {error}", self.binary.display()))?;
        let deadline = Instant::now() + CREATE_TIMEOUT;
        loop {
            if let Some(pid) = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.trim().parse().ok())
            {
                return Ok((child, pid));
            }
            match child.try_wait() {
                Ok(Some(status)) => {
                    return Err(last_error(&runtime_log).unwrap_or_else(|| {
                        format!("{} exited ({status})", self.binary.display())
                    }));
                }
                Ok(None) => {}
                Err(error) => return Err(format!("waiting for the OCI runtime: {error}")),
            }
            if Instant::now() > deadline {
                // Dropping the child leaves it to the runtime's reaper; kill it first.
                let _ = child.start_kill();
                return Err(format!(
                    "{} did not create the container within {} s",
                    self.binary.display(),
                    CREATE_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(PID_POLL);
        }
    }
}

/// Detaches the root overlay an OCI runtime's container had (nothing when none is mounted).
pub(crate) fn unmount_root(dir: &Path) {
    match umount2(&dir.join("merged"), MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(errno) => {
            tracing::warn!(dir = %dir.display(), error = errno.desc(), "cannot unmount a container's root");
        }
    }
}

/// A file of the container's root, resolved inside it (a symbolic link in the image cannot
/// lead to the host's files); empty when absent.
fn read_in_root(root: &OwnedFd, path: &str) -> String {
    rustix::fs::openat2(
        root,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )
    .ok()
    .and_then(|fd| io::read_to_string(File::from(fd)).ok())
    .unwrap_or_default()
}

/// The last error the runtime logged (its log is JSON lines with `level` and `msg`).
fn last_error(runtime_log: &Path) -> Option<String> {
    let text = fs::read_to_string(runtime_log).ok()?;
    text.lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["level"] == "error")
        .find_map(|entry| entry["msg"].as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_logged_error_is_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runtime.log");
        fs::write(
            &log,
            "{\"level\":\"warning\",\"msg\":\"cgroup\"}\nnot json\n\
             {\"level\":\"error\",\"msg\":\"first\"}\n\
             {\"level\":\"error\",\"msg\":\"runc run failed: exec: \\\"x\\\": not found\"}\n",
        )
        .unwrap();
        assert_eq!(
            last_error(&log).unwrap(),
            "runc run failed: exec: \"x\": not found"
        );
        assert_eq!(last_error(&dir.path().join("missing")), None);
    }

    #[test]
    fn files_are_read_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(dir.path().join("secret"), "host").unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("etc/passwd")).unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        let fd = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        assert_eq!(read_in_root(&fd, "etc/passwd"), "");
        assert_eq!(read_in_root(&fd, "etc/group"), "root:x:0:\n");
    }
}
