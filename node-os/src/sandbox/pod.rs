//! A pod's sandbox: the network, IPC and UTS namespaces its containers share, and the
//! `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` they see.
//!
//! The namespaces are made by a short-lived thread that unshares them (network, IPC and UTS
//! namespaces belong to a thread, so the agent's other threads are untouched), names the host,
//! brings loopback up and bind-mounts its namespace files into the sandbox directory. The
//! mounts keep the namespaces alive with no process in them, as `ip netns` does; containers
//! join them with `setns`, and a restarted agent finds them where it left them. A PID namespace
//! the containers share (`shareProcessNamespace`) needs a first process to live: the pause
//! process (see [`super::pause`]), stopped when the sandbox is removed.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::libc;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{Signal, kill};
use nix::unistd::sethostname;
use serde::{Deserialize, Serialize};

use super::pause;
use crate::runtime::{read_facts, still_running};

/// The host files a pod on the host's network sees as its own.
const HOST_HOSTS: &str = "/etc/hosts";
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// The `/etc/hosts` of a pod with its own network, as the kubelet writes it.
const POD_HOSTS: &str = "# Kubernetes-managed hosts file.\n\
                         127.0.0.1\tlocalhost\n\
                         ::1\tlocalhost ip6-localhost ip6-loopback\n\
                         fe00::0\tip6-localnet\n\
                         fe00::0\tip6-mcastprefix\n\
                         fe00::1\tip6-allnodes\n\
                         fe00::2\tip6-allrouters\n";

/// One pod's sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Unique among the runtime's sandboxes (the pod's uid); a safe path component.
    pub id: String,
    /// The pod's hostname, in its own UTS namespace.
    pub hostname: String,
    /// `hostNetwork: true`: the host's network and UTS namespaces, only IPC of its own.
    pub host_network: bool,
    /// `shareProcessNamespace: true`: one PID namespace for all its containers.
    #[serde(default)]
    pub share_process_namespace: bool,
    /// The containers' `/etc/resolv.conf`; `None`: the host's.
    #[serde(default)]
    pub resolv_conf: Option<String>,
}

/// A namespace a sandbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Namespace {
    Network,
    Ipc,
    Uts,
    /// Only when the pod's containers share one.
    Pid,
}

impl Namespace {
    /// The file name under `/proc/<pid>/ns/`, also used in the sandbox directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Namespace::Network => "net",
            Namespace::Ipc => "ipc",
            Namespace::Uts => "uts",
            Namespace::Pid => "pid",
        }
    }

    pub(crate) fn clone_flag(self) -> CloneFlags {
        match self {
            Namespace::Network => CloneFlags::CLONE_NEWNET,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
        }
    }
}

impl SandboxSpec {
    /// The namespaces of its own.
    pub fn namespaces(&self) -> &'static [Namespace] {
        if self.host_network {
            &[Namespace::Ipc]
        } else {
            &[Namespace::Network, Namespace::Ipc, Namespace::Uts]
        }
    }
}

/// The files under `/etc` of each container, from the sandbox directory.
pub(crate) const ETC_FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// The file in a sandbox's directory that says it is complete.
const SPEC_FILE: &str = "sandbox.json";

/// The file naming a shared PID namespace's pause process: its pid and start ticks.
const PAUSE_FILE: &str = "pause";

/// The binary the pause process runs from: this one.
const SELF: &str = "/proc/self/exe";

/// Whether the sandbox in `dir` was created whole.
pub(crate) fn is_complete(dir: &Path) -> bool {
    dir.join(SPEC_FILE).exists()
}

/// The network namespace file of the complete sandbox in `dir`, if it has one of its own.
pub(crate) fn own_netns(dir: &Path) -> Option<PathBuf> {
    let netns = dir.join(Namespace::Network.file_name());
    (is_complete(dir) && netns.exists()).then_some(netns)
}

/// Creates the sandbox in `dir`, unless it exists complete already. On failure nothing of it
/// is left.
pub(crate) fn create(dir: &Path, spec: &SandboxSpec) -> io::Result<()> {
    if is_complete(dir) {
        return Ok(());
    }
    let made = make(dir, spec);
    if made.is_err() {
        let _ = remove(dir);
    }
    made
}

fn make(dir: &Path, spec: &SandboxSpec) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let hosts = if spec.host_network {
        format!(
            "# Kubernetes-managed hosts file (host network).\n{}",
            fs::read_to_string(HOST_HOSTS).unwrap_or_default()
        )
    } else {
        POD_HOSTS.to_string()
    };
    let hostname = if spec.host_network {
        nix::unistd::gethostname()?.to_string_lossy().into_owned()
    } else {
        spec.hostname.clone()
    };
    fs::write(dir.join("hosts"), hosts)?;
    fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    let resolv_conf = match &spec.resolv_conf {
        Some(text) => text.clone().into_bytes(),
        None => fs::read(HOST_RESOLV_CONF).unwrap_or_default(),
    };
    fs::write(dir.join("resolv.conf"), resolv_conf)?;
    for namespace in spec.namespaces() {
        fs::write(dir.join(namespace.file_name()), "")?;
    }
    let dir_for_thread = dir.to_path_buf();
    let spec_for_thread = spec.clone();
    std::thread::Builder::new()
        .name("pod-sandbox".into())
        .spawn(move || hold_new_namespaces(&dir_for_thread, &spec_for_thread))?
        .join()
        .map_err(|_| io::Error::other("the sandbox thread panicked"))??;
    if spec.share_process_namespace {
        hold_pid_namespace(dir, &spec.id)?;
    }
    let json = serde_json::to_vec(spec).map_err(io::Error::other)?;
    fs::write(dir.join(SPEC_FILE), json)
}

/// Runs on a thread of its own, which ends after: unshares the sandbox's namespaces, sets
/// them up and bind-mounts them into `dir`.
fn hold_new_namespaces(dir: &Path, spec: &SandboxSpec) -> io::Result<()> {
    let flags = spec
        .namespaces()
        .iter()
        .fold(CloneFlags::empty(), |flags, ns| flags | ns.clone_flag());
    unshare(flags)?;
    if !spec.host_network {
        sethostname(&spec.hostname)?;
        loopback_up()?;
    }
    for namespace in spec.namespaces() {
        let source = PathBuf::from("/proc/thread-self/ns").join(namespace.file_name());
        mount(
            Some(&source),
            &dir.join(namespace.file_name()),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// Starts the pause process of a shared PID namespace, records it in `dir` and bind-mounts the
/// namespace's file there.
fn hold_pid_namespace(dir: &Path, id: &str) -> io::Result<()> {
    let started = Command::new(SELF)
        .arg0("flotilla")
        .args([pause::SUBCOMMAND, id])
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        // Not in the agent's process group: stopping the agent must not stop the pod.
        .process_group(0)
        .output()?;
    let pid: u32 = String::from_utf8_lossy(&started.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            io::Error::other(format!(
                "the pause process did not start ({})",
                started.status
            ))
        })?;
    let facts = read_facts(pid)
        .ok_or_else(|| io::Error::other(format!("the pause process {pid} is gone")))?;
    fs::write(
        dir.join(PAUSE_FILE),
        format!("{pid} {}\n", facts.start_ticks),
    )?;
    let file = dir.join(Namespace::Pid.file_name());
    fs::write(&file, "")?;
    mount(
        Some(&PathBuf::from(format!("/proc/{pid}/ns/pid"))),
        &file,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    Ok(())
}

/// Stops the pause process recorded in `dir`, if it still runs.
fn stop_pause(dir: &Path) {
    let Ok(text) = fs::read_to_string(dir.join(PAUSE_FILE)) else {
        return;
    };
    let mut fields = text.split_whitespace().map(str::parse::<u64>);
    let (Some(Ok(pid)), Some(Ok(start_ticks))) = (fields.next(), fields.next()) else {
        return;
    };
    let Ok(pid) = u32::try_from(pid) else {
        return;
    };
    // The same process still, not another that took its pid.
    if still_running(pid, start_ticks)
        && let Ok(raw) = i32::try_from(pid)
    {
        let _ = kill(nix::unistd::Pid::from_raw(raw), Signal::SIGKILL);
    }
}

/// Sets `lo` up in the calling thread's network namespace, as `ip link set lo up` would.
fn loopback_up() -> io::Result<()> {
    // SAFETY: socket() has no memory-safety preconditions; a non-negative result is a new
    // descriptor that nothing else owns.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh, valid descriptor owned by nobody else.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the `ifreq` we own, whose name is
    // NUL-terminated (zeroed past "lo").
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Opens a TCP connection to `address` from inside the network namespace of the sandbox in
/// `dir` (the host's when it has none of its own), as probes connect: the socket belongs to
/// the namespace it was made in, so the thread that makes it enters the namespace and ends.
pub(crate) fn connect(
    dir: &Path,
    address: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> io::Result<std::net::TcpStream> {
    let netns = dir.join(Namespace::Network.file_name());
    if !netns.exists() {
        return std::net::TcpStream::connect_timeout(&address, timeout);
    }
    connect_in(&netns, address, timeout)
}

/// Opens a TCP connection to `address` from inside the network namespace `netns` (a
/// namespace file such as `/proc/PID/ns/net`), on a thread of its own that enters it.
pub fn connect_in(
    netns: &Path,
    address: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> io::Result<std::net::TcpStream> {
    let netns = netns.to_path_buf();
    std::thread::Builder::new()
        .name("pod-connect".into())
        .spawn(move || {
            let file = fs::File::open(&netns)?;
            nix::sched::setns(file, CloneFlags::CLONE_NEWNET)?;
            std::net::TcpStream::connect_timeout(&address, timeout)
        })?
        .join()
        .map_err(|_| io::Error::other("the connecting thread panicked"))?
}

/// Unmounts the sandbox's namespaces and removes its directory; a missing one is fine.
pub(crate) fn remove(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    stop_pause(dir);
    for namespace in [
        Namespace::Network,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Pid,
    ] {
        match umount2(&dir.join(namespace.file_name()), MntFlags::MNT_DETACH) {
            // Not mounted (EINVAL) or never created (ENOENT).
            Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    fs::remove_dir_all(dir)
}

/// The ids of the sandboxes under `root`, complete or not.
pub(crate) fn list(root: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        if let Some(name) = name.to_str() {
            ids.push(name.to_string());
        }
    }
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn host_network_pods_have_only_ipc_of_their_own() {
        let mut spec = SandboxSpec {
            id: "u1".into(),
            hostname: "web".into(),
            host_network: false,
            share_process_namespace: false,
            resolv_conf: None,
        };
        assert_eq!(spec.namespaces().len(), 3);
        spec.host_network = true;
        assert_eq!(spec.namespaces(), [Namespace::Ipc]);
    }

    #[test]
    fn a_sandbox_holds_its_namespaces_until_removed() {
        if !flotilla_test_policy::root_or_skip("a_sandbox_holds_its_namespaces_until_removed") {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("u1");
        let spec = SandboxSpec {
            id: "u1".into(),
            hostname: "web-1".into(),
            host_network: false,
            share_process_namespace: false,
            resolv_conf: None,
        };
        create(&dir, &spec).unwrap();
        // Creating again is a no-op.
        create(&dir, &spec).unwrap();
        for ns in ["net", "ipc", "uts"] {
            let held = fs::metadata(dir.join(ns)).unwrap();
            let own = fs::metadata(format!("/proc/self/ns/{ns}")).unwrap();
            assert_ne!(held.ino(), own.ino(), "{ns}");
        }
        assert_eq!(fs::read_to_string(dir.join("hostname")).unwrap(), "web-1\n");
        assert!(
            fs::read_to_string(dir.join("hosts"))
                .unwrap()
                .contains("localhost")
        );
        assert_eq!(list(root.path()).unwrap(), ["u1"]);

        // Only the sandbox's own loopback answers from inside it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let timeout = std::time::Duration::from_secs(2);
        let refused = connect(&dir, address, timeout).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        connect(root.path(), address, timeout).unwrap();

        remove(&dir).unwrap();
        assert!(!dir.exists());
        remove(&dir).unwrap();
    }
}
