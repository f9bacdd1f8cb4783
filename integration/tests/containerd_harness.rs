//! End to end: the containerd harness of the CRI tests. It starts Debian's containerd with
//! the pause and busybox test images imported into the CRI's namespace; the pause image runs
//! under runc; dropping the harness leaves no containerd, shim or container process and no
//! mount behind, even after containerd itself died.

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use flotilla_integration::containerd::{Containerd, PAUSE_IMAGE};
use flotilla_integration::{BUSYBOX_IMAGE, mounts_under, running_as_root_or_skip};

/// The processes whose command line mentions `text`: pid and command line.
fn processes_mentioning(text: &str) -> Vec<(i32, String)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse().ok()?;
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains(text).then_some((pid, cmdline))
        })
        .collect()
}

/// A container the harness must stop: its pid and its shim's socket.
struct Smoke {
    pid: String,
    shim_socket: PathBuf,
}

/// Starts the harness in `dir`, checks its images and runs a pause container.
fn start_with_a_container(dir: &Path) -> (Containerd, Smoke) {
    let containerd = Containerd::start(dir).expect("containerd starts");
    let endpoint = containerd.endpoint();
    let socket = endpoint.strip_prefix("unix://").expect("a unix endpoint");
    assert!(Path::new(socket).starts_with(dir), "{socket}");

    let images = containerd
        .ctr(&["images", "ls", "-q"])
        .unwrap_or_else(|error| panic!("{error:#}\nlog:\n{}", containerd.log()));
    let images: Vec<&str> = images.lines().collect();
    assert!(images.contains(&BUSYBOX_IMAGE), "{images:?}");
    assert!(images.contains(&PAUSE_IMAGE), "{images:?}");

    // A running container, so that dropping has a shim and a container process to stop.
    let runc_root = dir.join("runc").to_string_lossy().into_owned();
    containerd
        .ctr(&[
            "run",
            "--detach",
            "--null-io",
            "--runc-root",
            &runc_root,
            // runc then names the cgroup after the container and removes it with it.
            "--cgroup",
            "",
            PAUSE_IMAGE,
            "smoke",
        ])
        .unwrap_or_else(|error| panic!("{error:#}\nlog:\n{}", containerd.log()));
    let tasks = containerd.ctr(&["tasks", "ls"]).expect("the task list");
    let pid = tasks
        .lines()
        .find_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["smoke", pid, "RUNNING"] => Some(pid.to_owned()),
                _ => None,
            },
        )
        .unwrap_or_else(|| panic!("the task smoke running: {tasks}"));
    assert!(!processes_mentioning(socket).is_empty(), "the task's shim");
    let address = dir.join("state/io.containerd.runtime.v2.task/k8s.io/smoke/address");
    let address = fs::read_to_string(&address).expect("the shim's address");
    let shim_socket = PathBuf::from(address.trim().trim_start_matches("unix://"));
    assert!(shim_socket.exists(), "{}", shim_socket.display());
    (containerd, Smoke { pid, shim_socket })
}

/// No process of the harness under `dir`, nor the container, nor its shim's socket, nor a
/// mount is left.
fn assert_nothing_left(dir: &Path, smoke: &Smoke) {
    let left = processes_mentioning(&dir.to_string_lossy());
    assert!(left.is_empty(), "left running: {left:?}");
    // Gone, or a zombie no one reaped (it has no command line).
    let cmdline = fs::read(format!("/proc/{}/cmdline", smoke.pid)).unwrap_or_default();
    assert!(
        cmdline.is_empty(),
        "the pause process {} still runs",
        smoke.pid
    );
    assert!(
        !smoke.shim_socket.exists(),
        "{}",
        smoke.shim_socket.display()
    );
    let mounts = mounts_under(dir);
    assert!(mounts.is_empty(), "left mounted: {mounts:?}");
}

#[test]
fn containerd_starts_with_the_test_images_and_leaves_nothing_behind() {
    if !running_as_root_or_skip("containerd_starts_with_the_test_images_and_leaves_nothing_behind")
    {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("flotilla-containerd-")
        .tempdir()
        .expect("a temporary directory");
    let (containerd, smoke) = start_with_a_container(dir.path());
    drop(containerd);
    assert_nothing_left(dir.path(), &smoke);
}

#[test]
fn the_shims_of_a_crashed_containerd_are_killed_with_their_containers() {
    if !running_as_root_or_skip(
        "the_shims_of_a_crashed_containerd_are_killed_with_their_containers",
    ) {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("flotilla-containerd-")
        .tempdir()
        .expect("a temporary directory");
    let (containerd, smoke) = start_with_a_container(dir.path());
    let config = dir.path().join("config.toml");
    for (pid, _) in processes_mentioning(&config.to_string_lossy()) {
        kill(Pid::from_raw(pid), Signal::SIGKILL).expect("containerd killed");
    }
    drop(containerd);
    assert_nothing_left(dir.path(), &smoke);
}
