//! A private containerd (Debian's 1.6) with its CRI plug-in, for end-to-end tests in which
//! flotilla's node agent is a CRI client.
//!
//! It runs in the host's network namespace, as in production: its CRI streaming server (for
//! `Exec`) listens on the host's 127.0.0.1, where the agent reaches it. containerd's CRI
//! wants every pod an `eth0` with an address from CNI, yet tests run in parallel on one host
//! and must leave nothing in its network namespace, so the pods get a CNI plug-in the harness
//! writes itself (`flotilla-test-net`, a shell script): a veth pair whose both ends stay in
//! the pod's network namespace (this kernel has no dummy links) and go with it, addressed
//! from a counter under the test's directory. No host link, route or bridge is made.
//!
//! Everything it writes lives under the test's directory: root, state, sockets, config, CNI
//! config, plug-ins and addresses, runc's state (the CRI runtime's `Root`) and the pod
//! network namespaces (`netns_mounts_under_state_dir`, rather than `/var/run/netns`, so they
//! are found by their path). The pause and busybox test images are built offline and imported
//! into the CRI's `k8s.io` namespace.
//!
//! containerd's shims and containers outlive containerd by design, so dropping the harness
//! first deletes every task through `ctr` (the shims then unmount, remove runc's state and
//! exit), stops containerd, kills whatever shim still names its socket with every process
//! under it (a shim is its containers' subreaper) and removes those shims' sockets (in
//! `/run/containerd/s`, fixed in containerd 1.6), and detaches the mounts left under the
//! directory. Container cgroups sit under the `cgroup_parent` the CRI client chose, which the
//! client's own cleanup removes.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub use crate::test_images::PAUSE_IMAGE;

use crate::bounded_command::{describe, output_within};
use crate::logged_child::{kill_quietly, log_tail, read_log, spawn_logged, wait_started};
use crate::mounts::unmount_under;
use crate::test_images::{busybox_archives, pause_archive};
use crate::wait::{Observation, poll_until};

const CONTAINERD: &str = "/usr/bin/containerd";
const CTR: &str = "/usr/bin/ctr";
/// The containerd namespace the CRI plug-in keeps its images and containers in.
const NAMESPACE: &str = "k8s.io";
const LOG_FILE: &str = "containerd.log";
const CONFIG_FILE: &str = "config.toml";
/// The pod network of a later issue replaces this one.
const POD_NETWORK_CONFLIST: &str =
    r#"{"cniVersion":"1.0.0","name":"flotilla-test","plugins":[{"type":"flotilla-test-net"}]}"#;
/// containerd's `bin_dir`, under the test's directory.
const CNI_BIN: &str = "cni-bin";
/// go-cni brings each pod's `lo` up with the `loopback` plug-in of the `bin_dir`.
const LOOPBACK_PLUGIN: &str = "/usr/lib/cni/loopback";
/// The CNI 1.0.0 plug-in of the pod network, `flotilla-test-net` in [`CNI_BIN`]: on `ADD`, a
/// veth pair `$CNI_IFNAME`/`peer0` inside the pod's network namespace with the next address
/// of 10.88.0.0/16, counted (under `flock`) in the file next to [`CNI_BIN`]; the namespace
/// takes the pair with it, so the other commands have nothing to do.
const POD_NETWORK_PLUGIN: &str = r#"#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
# The network config: CNI sends it, this plug-in does not use it.
cat >/dev/null

fail() {
  printf '{"cniVersion":"1.0.0","code":%s,"msg":"%s"}\n' "$1" \
    "$(printf '%s' "$2" | tr -d '"\\' | tr '\n\t' '  ')"
  exit 1
}

case "$CNI_COMMAND" in
VERSION)
  echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'
  ;;
ADD)
  counter="${0%/*}/../cni-last-address"
  n=$(
    exec 9>>"$counter.lock" && flock 9 || exit 1
    n=$(($(cat "$counter" 2>/dev/null || echo 1) + 1))
    echo "$n" >"$counter" && echo "$n"
  ) || fail 100 "could not take an address from $counter"
  [ "$n" -lt 65535 ] || fail 100 "no address left in 10.88.0.0/16"
  address="10.88.$((n / 256)).$((n % 256))/16"
  error=$(nsenter --net="$CNI_NETNS" sh -c '
    ip link add "$1" type veth peer name peer0 &&
    ip address add "$2" dev "$1" &&
    ip link set peer0 up &&
    ip link set "$1" up' - "$CNI_IFNAME" "$address" 2>&1) || fail 100 "$error"
  printf '{"cniVersion":"1.0.0","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"%s","interface":0}]}\n' \
    "$CNI_IFNAME" "$CNI_NETNS" "$address"
  ;;
DEL | CHECK | GC | STATUS) ;;
*) fail 4 "unknown CNI_COMMAND '$CNI_COMMAND'" ;;
esac
"#;
const START_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);
/// Longest one `ctr` call may take (an import unpacks layers).
const CTR_LIMIT: Duration = Duration::from_secs(60);
/// Longest one readiness probe may take, so the start stays bounded by [`START_TIMEOUT`].
const PROBE_LIMIT: Duration = Duration::from_secs(5);
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How many times the shims are looked for and killed (one that forks meanwhile is caught next).
const KILL_ROUNDS: usize = 5;
/// Where, under its state dir, containerd keeps the bundles of tasks, by namespace.
const TASK_BUNDLES: &str = "state/io.containerd.runtime.v2.task";
/// Where containerd 1.6's shims put their sockets, whatever containerd's config says.
const SHIM_SOCKETS: &str = "/run/containerd/s";
/// `sun_path` holds 108 bytes, the terminating NUL included.
const MAX_SOCKET_PATH: usize = 107;
/// containerd puts its ttrpc socket next to the gRPC one, named with this suffix.
const TTRPC_SUFFIX: &str = ".ttrpc";

/// A containerd started by a test, with its CRI plug-in ready and the test images imported;
/// dropping it stops containerd, its shims and their containers.
pub struct Containerd {
    dir: PathBuf,
    daemon: Option<Child>,
}

impl Containerd {
    /// Starts containerd under `dir` (root, state, socket, config, CNI config and plug-ins,
    /// log all inside `dir`), waits until its CRI plug-in answers, and imports the pause image
    /// ([`PAUSE_IMAGE`]) and the busybox test image ([`crate::BUSYBOX_IMAGE`]).
    pub fn start(dir: &Path) -> Result<Containerd> {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        let dir = fs::canonicalize(dir)
            .with_context(|| format!("could not resolve {}", dir.display()))?;
        check_socket_path(&socket(&dir))?;
        let images = dir.join("images");
        fs::create_dir_all(&images)
            .with_context(|| format!("could not create {}", images.display()))?;
        let archives = [busybox_archives(&images)?.oci, pause_archive(&images)?];
        write(&dir.join(CONFIG_FILE), &config_toml(&dir))?;
        write_pod_network(&dir)?;

        let mut command = Command::new(CONTAINERD);
        command.arg("--config").arg(dir.join(CONFIG_FILE));
        let daemon = spawn_logged(&mut command, &dir.join(LOG_FILE), "containerd")
            .context("could not run containerd (install Debian's containerd)")?;
        // Owned from here on, so that a failure below still stops it.
        let mut containerd = Containerd {
            dir,
            daemon: Some(daemon),
        };
        containerd.wait_ready()?;
        for archive in &archives {
            let import = ["images", "import", "--all-platforms"].map(OsStr::new);
            containerd
                .ctr(&[&import[..], &[archive.as_os_str()]].concat())
                .with_context(|| format!("importing {}", archive.display()))?;
        }
        Ok(containerd)
    }

    /// The endpoint to give the agent: `unix:///…/containerd.sock`.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", socket(&self.dir).display())
    }

    /// containerd's log, for a failing test's output.
    pub fn log(&self) -> String {
        read_log(&self.dir.join(LOG_FILE))
    }

    /// Lets the CRI pull from the registry at `host` (`HOST:PORT`) over plain HTTP, as an
    /// operator configures containerd for an insecure registry; read at each pull.
    pub fn trust_plain_http(&self, host: &str) -> Result<()> {
        let dir = self.dir.join("certs.d").join(host);
        fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
        write(
            &dir.join("hosts.toml"),
            &format!(
                "server = \"http://{host}\"\n\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        )
    }

    /// Runs `ctr` against this containerd in the CRI's namespace; what it printed.
    pub fn ctr<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String> {
        run_ctr(&socket(&self.dir), args, CTR_LIMIT)
    }

    /// Waits until `ctr plugins ls` answers, then requires the CRI plug-in to have loaded.
    fn wait_ready(&mut self) -> Result<()> {
        let socket = socket(&self.dir);
        let log = self.dir.join(LOG_FILE);
        let mut cri = String::new();
        wait_started(
            &mut self.daemon,
            "containerd",
            "it listed its plug-ins",
            &log,
            START_TIMEOUT,
            POLL,
            || {
                if !socket.exists() {
                    return Ok(Observation::Waiting("no socket yet".to_owned()));
                }
                let listing = run_ctr(&socket, &["plugins", "ls"], PROBE_LIMIT)?;
                Ok(match cri_status(&listing) {
                    Some(status) => {
                        cri = status.to_owned();
                        Observation::Done
                    }
                    None => Observation::Waiting(format!("no cri plug-in in {listing}")),
                })
            },
        )?;
        if cri != "ok" {
            bail!(
                "containerd's CRI plug-in is {cri}; log:\n{}",
                log_tail(&log)
            );
        }
        Ok(())
    }

    /// Deletes every task, killing its processes: each shim then cleans up after itself.
    fn delete_tasks(&self) {
        let tasks = match self.ctr(&["tasks", "ls", "-q"]) {
            Ok(tasks) => tasks,
            Err(error) => {
                eprintln!("containerd harness: listing tasks: {error:#}");
                return;
            }
        };
        for id in tasks.lines().map(str::trim).filter(|id| !id.is_empty()) {
            if let Err(error) = self.ctr(&["tasks", "delete", "--force", id]) {
                eprintln!("containerd harness: deleting task {id}: {error:#}");
            }
        }
    }

    /// SIGTERM, then SIGKILL if containerd has not exited within [`STOP_GRACE`].
    fn stop_daemon(&mut self) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        // Not reaped yet, so the pid is still containerd's even if it exited.
        if let Ok(pid) = i32::try_from(daemon.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let exited = poll_until(STOP_GRACE, POLL, || {
            Ok(!matches!(daemon.try_wait(), Ok(None)))
        });
        if exited.is_err() {
            eprintln!("containerd harness: no exit within {STOP_GRACE:?} of SIGTERM; killing it");
            kill_quietly(&mut daemon);
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let running = self
            .daemon
            .as_mut()
            .is_some_and(|daemon| matches!(daemon.try_wait(), Ok(None)));
        if running {
            self.delete_tasks();
        }
        self.stop_daemon();
        if kill_shims(&socket(&self.dir)) {
            remove_shim_sockets(&self.dir);
        }
        unmount_under(&self.dir);
    }
}

fn socket(dir: &Path) -> PathBuf {
    dir.join("containerd.sock")
}

/// Fails if containerd's sockets would not fit a unix socket address.
fn check_socket_path(socket: &Path) -> Result<()> {
    let longest = socket.as_os_str().len() + TTRPC_SUFFIX.len();
    if longest > MAX_SOCKET_PATH {
        bail!(
            "containerd's socket {}{TTRPC_SUFFIX} would be {longest} bytes long, over the \
             {MAX_SOCKET_PATH} a unix socket path may hold: use a shorter directory",
            socket.display()
        );
    }
    Ok(())
}

/// containerd's config: everything under `dir`, the CRI plug-in with the pause image, the CNI
/// config in `dir/cni` and plug-ins in `dir/cni-bin`, and the default overlayfs snapshotter
/// and runc runtime.
fn config_toml(dir: &Path) -> String {
    let dir = dir.display();
    // A runtime table replaces the default one whole, so its type is repeated.
    format!(
        r#"version = 2
root = "{dir}/root"
state = "{dir}/state"

[grpc]
  address = "{dir}/containerd.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{dir}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  netns_mounts_under_state_dir = true
  # Not below containerd's own: a machine may not let even root lower it (EACCES).
  restrict_oom_score_adj = true

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "{dir}/certs.d"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{dir}/{CNI_BIN}"
  conf_dir = "{dir}/cni"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  Root = "{dir}/runc"
"#
    )
}

/// The status (`ok`, `error`, `skip`) `ctr plugins ls` gives the CRI plug-in.
fn cri_status(listing: &str) -> Option<&str> {
    listing.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            ["io.containerd.grpc.v1", "cri", .., status] => Some(status),
            _ => None,
        }
    })
}

fn run_ctr<S: AsRef<OsStr>>(socket: &Path, args: &[S], limit: Duration) -> Result<String> {
    let mut command = Command::new(CTR);
    command
        .arg("--address")
        .arg(socket)
        .args(["--namespace", NAMESPACE])
        .args(args);
    let output = output_within(&mut command, limit)?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            describe(&command),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The pod network's config in `dir/cni` and its plug-ins, with `loopback`, in [`CNI_BIN`].
fn write_pod_network(dir: &Path) -> Result<()> {
    let bin = dir.join(CNI_BIN);
    for made in [dir.join("cni"), bin.clone()] {
        fs::create_dir_all(&made)
            .with_context(|| format!("could not create {}", made.display()))?;
    }
    write(
        &dir.join("cni/10-flotilla-test.conflist"),
        POD_NETWORK_CONFLIST,
    )?;
    let plugin = bin.join("flotilla-test-net");
    write(&plugin, POD_NETWORK_PLUGIN)?;
    fs::set_permissions(&plugin, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("could not make {} executable", plugin.display()))?;
    let loopback = bin.join("loopback");
    symlink(LOOPBACK_PLUGIN, &loopback)
        .with_context(|| format!("could not link {}", loopback.display()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("could not write {}", path.display()))
}

/// Kills the shims naming `socket` and every process under them; whether none is left.
fn kill_shims(socket: &Path) -> bool {
    let socket = socket.as_os_str().as_encoded_bytes();
    for _ in 0..KILL_ROUNDS {
        let table = process_table();
        let shims: Vec<u32> = table
            .iter()
            .filter(|process| is_shim_of(&process.cmdline, socket))
            .map(|process| process.pid)
            .collect();
        // A killed shim's zombie has no command line, so it is not found again.
        if shims.is_empty() {
            return true;
        }
        let doomed = with_descendants(&table, &shims);
        eprintln!(
            "containerd harness: killing {} shim(s) left over and {} process(es) under them",
            shims.len(),
            doomed.len() - shims.len()
        );
        for pid in doomed {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        thread::sleep(POLL);
    }
    eprintln!("containerd harness: shims still run after {KILL_ROUNDS} rounds of kills");
    false
}

/// Removes the sockets of killed shims, which live outside `dir`: each task's bundle (gone
/// when the shim exited cleanly) records its shim's in an `address` file.
fn remove_shim_sockets(dir: &Path) {
    let tasks = dir.join(TASK_BUNDLES);
    let bundles = fs::read_dir(&tasks)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|namespace| {
            fs::read_dir(namespace.path())
                .into_iter()
                .flatten()
                .flatten()
        });
    for bundle in bundles {
        let Ok(address) = fs::read_to_string(bundle.path().join("address")) else {
            continue;
        };
        let Some(path) = address.trim().strip_prefix("unix://").map(Path::new) else {
            continue;
        };
        if path.starts_with(SHIM_SOCKETS)
            && let Err(error) = fs::remove_file(path)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("containerd harness: removing {}: {error}", path.display());
        }
    }
}

/// One process as /proc shows it.
struct Process {
    pid: u32,
    parent: u32,
    cmdline: Vec<u8>,
}

fn process_table() -> Vec<Process> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            Some(Process {
                pid,
                parent: parent_of(&stat)?,
                cmdline: fs::read(entry.path().join("cmdline")).unwrap_or_default(),
            })
        })
        .collect()
}

/// The parent pid (field 4) of a `/proc/PID/stat`, counted after the `)` that ends the name.
fn parent_of(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Whether a command line is a containerd shim's serving the containerd at `socket`.
fn is_shim_of(cmdline: &[u8], socket: &[u8]) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
    let shim = args.first().is_some_and(|program| {
        let name = program
            .rsplit(|byte| *byte == b'/')
            .next()
            .unwrap_or(program);
        name.starts_with(b"containerd-shim")
    });
    shim && args
        .windows(2)
        .any(|pair| pair[0] == b"-address" && pair[1] == socket)
}

/// `roots` and every process under them.
fn with_descendants(table: &[Process], roots: &[u32]) -> Vec<u32> {
    let mut found = roots.to_vec();
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            table
                .iter()
                .filter(|process| process.parent == parent && !found.contains(&process.pid))
                .map(|process| process.pid)
                .collect::<Vec<_>>(),
        );
        next += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::Stdio;

    use super::*;

    #[test]
    fn the_config_keeps_everything_under_the_dir() {
        let config = config_toml(Path::new("/tmp/ctd"));
        assert!(config.starts_with("version = 2\nroot = \"/tmp/ctd/root\"\n"));
        assert!(config.contains("[grpc]\n  address = \"/tmp/ctd/containerd.sock\"\n"));
        assert!(config.contains("sandbox_image = \"flotilla.test/pause:1\"\n"));
        assert!(config.contains("bin_dir = \"/tmp/ctd/cni-bin\"\n"));
        assert!(config.contains("conf_dir = \"/tmp/ctd/cni\"\n"));
        assert!(config.contains("Root = \"/tmp/ctd/runc\"\n"));
    }

    /// Runs the pod network plug-in written under `dir`: whether it succeeded, and its output.
    fn run_plugin(dir: &Path, command: &str) -> (bool, serde_json::Value) {
        let mut plugin = Command::new(dir.join(CNI_BIN).join("flotilla-test-net"))
            .env("CNI_COMMAND", command)
            .env("CNI_NETNS", dir.join("no-such-netns"))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_CONTAINERID", "abc")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the plug-in runs");
        let mut stdin = plugin.stdin.take().expect("its stdin");
        stdin
            .write_all(POD_NETWORK_CONFLIST.as_bytes())
            .expect("the config written");
        drop(stdin);
        let output = plugin.wait_with_output().expect("its output");
        let printed = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{error}: {}", String::from_utf8_lossy(&output.stdout)));
        (output.status.success(), printed)
    }

    #[test]
    fn the_pod_network_plugin_speaks_cni() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        write_pod_network(dir.path()).expect("the pod network written");
        let (ok, version) = run_plugin(dir.path(), "VERSION");
        assert!(ok);
        assert_eq!(
            version,
            serde_json::json!({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]})
        );
        // No such namespace: an address is taken all the same, and the failure is reported.
        let (ok, error) = run_plugin(dir.path(), "ADD");
        assert!(!ok);
        assert_eq!(error["cniVersion"], "1.0.0");
        assert_eq!(error["code"], 100);
        assert!(
            error["msg"].as_str().is_some_and(|msg| !msg.is_empty()),
            "{error}"
        );
        let counter = fs::read_to_string(dir.path().join("cni-last-address")).expect("a counter");
        assert_eq!(counter.trim(), "2");
    }

    #[test]
    fn a_socket_path_too_long_for_sun_path_is_refused() {
        let fits = format!("/{}/containerd.sock", "d".repeat(80));
        assert!(check_socket_path(Path::new(&fits)).is_ok());
        let long = format!("/{}/containerd.sock", "d".repeat(90));
        let error = check_socket_path(Path::new(&long)).unwrap_err();
        assert!(
            error.to_string().contains("use a shorter directory"),
            "{error}"
        );
    }

    #[test]
    fn reads_the_cri_plug_in_status() {
        let listing = "TYPE                   ID     PLATFORMS      STATUS\n\
                       io.containerd.internal.v1 opt  -              ok\n\
                       io.containerd.grpc.v1  cri     linux/amd64    error\n";
        assert_eq!(cri_status(listing), Some("error"));
        assert_eq!(cri_status("TYPE ID PLATFORMS STATUS\n"), None);
    }

    #[test]
    fn tells_our_shims_from_others() {
        let ours = b"/usr/bin/containerd-shim-runc-v2\0-namespace\0k8s.io\0-id\0abc\0-address\0/t/c.sock\0";
        assert!(is_shim_of(ours, b"/t/c.sock"));
        assert!(!is_shim_of(ours, b"/t/other.sock"));
        assert!(!is_shim_of(
            b"sh\0-c\0echo -address /t/c.sock\0",
            b"/t/c.sock"
        ));
    }

    #[test]
    fn finds_every_process_under_the_roots() {
        let process = |pid, parent| Process {
            pid,
            parent,
            cmdline: Vec::new(),
        };
        let table = [
            process(1, 0),
            process(10, 1),
            process(11, 10),
            process(12, 11),
            process(20, 1),
        ];
        assert_eq!(with_descendants(&table, &[10]), [10, 11, 12]);
        assert_eq!(parent_of("42 (shim (x) y) S 7 42 42 0 -1 4194560"), Some(7));
    }
}
