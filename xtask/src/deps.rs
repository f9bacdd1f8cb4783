//! `cargo xtask deps`: installs the Debian packages that building and testing flotilla need.
//!
//! Asks dpkg which of them are missing and only then touches apt, so that the common case (all
//! present) is fast, needs no network and no root. The plan of apt commands is a pure function so
//! that its shape (sudo or not, non-interactive) is unit-tested without installing anything.

use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::privilege;
use crate::step::{self, StepError};

/// Packages the build and the tests need, and why:
/// - build-essential, pkg-config: C/C++ toolchain for RocksDB, lz4 and ring;
/// - clang, libclang-dev: bindgen for RocksDB's bindings (loaded at build time);
/// - iproute2: `ip netns` test hosts; procps: `ps`/`kill` for inspecting tests;
/// - busybox-static: a static toolbox that test workloads may run;
/// - protobuf-compiler: protoc, for the node agent's CRI client and the etcd client the store
///   benchmark drives etcd with;
/// - skopeo, umoci: the image tests build OCI and Docker archives from busybox-static with
///   them, as an operator would build an air-gapped bundle;
/// - docker-registry: the local OCI registry the pull tests push to and pull from;
/// - runc: the image tests run their pods under `runtimeClassName: runc` too;
/// - containerd, containernetworking-plugins: and under containerd's CRI plug-in, with the CNI
///   loopback plug-in for its pod sandboxes; the plug-ins (bridge, host-local, portmap) are
///   also the pod network `flotilla up` and `flotilla node` set up themselves;
/// - nftables: the pod network's masquerade and the service proxy's table; iptables: the
///   portmap plug-in's `hostPort` rules.
pub const PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "clang",
    "libclang-dev",
    "iproute2",
    "nftables",
    "iptables",
    "procps",
    "busybox-static",
    "protobuf-compiler",
    "skopeo",
    "umoci",
    "docker-registry",
    "runc",
    "containerd",
    "containernetworking-plugins",
];

/// What `bench store` runs beside flotilla: Debian's etcd.
pub const ETCD_PACKAGES: &[&str] = &["etcd-server"];

/// What `bench pod-start` compares flotilla with: Debian's runc and containerd (with `ctr`).
pub const CONTAINER_RUNTIME_PACKAGES: &[&str] = &["runc", "containerd"];

/// What `bench network` loads flotilla with and compares it to: Debian's wrk and dnsperf, and
/// dnsmasq's binary alone (`dnsmasq-base`: the `dnsmasq` package would also start a resolver
/// on the machine's own port 53 wherever an init system runs its services).
pub const NETWORK_BENCH_PACKAGES: &[&str] = &["wrk", "dnsperf", "dnsmasq-base"];

/// Why the packages could not be checked or installed.
#[derive(Debug)]
pub enum DepsError {
    /// dpkg-query is not available: this is not a Debian-based system.
    NoDpkg { source: io::Error },
    /// dpkg-query could not report a package for another reason.
    Query { package: String, source: io::Error },
    /// apt-get is not on PATH, so the missing packages cannot be installed here.
    NoAptGet { missing: Vec<String> },
    /// Not root and no sudo to become root.
    NoSudo { missing: Vec<String> },
    /// One apt-get step failed.
    Install(StepError),
}

impl fmt::Display for DepsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDpkg { .. } => write!(
                f,
                "dpkg-query not found; xtask installs packages on Debian-based systems only, install these yourself: {}",
                PACKAGES.join(" ")
            ),
            Self::Query { package, .. } => write!(f, "could not ask dpkg about package {package}"),
            Self::NoAptGet { missing } => write!(
                f,
                "apt-get not found; install these packages with your system's package manager: {}",
                missing.join(" ")
            ),
            Self::NoSudo { missing } => write!(
                f,
                "not running as root and sudo not found; as root, run: apt-get install -y --no-install-recommends {}",
                missing.join(" ")
            ),
            Self::Install(_) => write!(f, "installing the missing packages failed"),
        }
    }
}

impl std::error::Error for DepsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::NoDpkg { source } | Self::Query { source, .. } => Some(source),
            Self::Install(source) => Some(source),
            Self::NoAptGet { .. } | Self::NoSudo { .. } => None,
        }
    }
}

/// Installs whichever of [`PACKAGES`] are missing; does nothing when all are installed.
pub fn ensure() -> Result<(), DepsError> {
    ensure_packages(PACKAGES)
}

/// Installs whichever of `packages` are missing.
pub fn ensure_packages(packages: &[&str]) -> Result<(), DepsError> {
    let missing = missing_packages(packages)?;
    if missing.is_empty() {
        eprintln!("xtask: system packages present: {}", packages.join(" "));
        return Ok(());
    }
    let path = env::var_os("PATH").unwrap_or_default();
    if find_in_path("apt-get", &path).is_none() {
        return Err(DepsError::NoAptGet { missing });
    }
    let root = privilege::is_root();
    if !root && find_in_path("sudo", &path).is_none() {
        return Err(DepsError::NoSudo { missing });
    }
    eprintln!("xtask: installing missing packages: {}", missing.join(" "));
    for mut command in install_plan(&missing, root) {
        step::run(&mut command).map_err(DepsError::Install)?;
    }
    Ok(())
}

/// The packages among `packages` that dpkg does not report as installed.
fn missing_packages(packages: &[&str]) -> Result<Vec<String>, DepsError> {
    let mut missing = Vec::new();
    for package in packages {
        let output = Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", package])
            .output()
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => DepsError::NoDpkg { source },
                _ => DepsError::Query {
                    package: (*package).to_owned(),
                    source,
                },
            })?;
        // dpkg-query exits 1 for a package it has never heard of: that is "missing" too.
        if !(output.status.success() && is_installed(&String::from_utf8_lossy(&output.stdout))) {
            missing.push((*package).to_owned());
        }
    }
    Ok(missing)
}

/// Whether a dpkg `${Status}` ("want flag status", e.g. "install ok installed") means the
/// package is fully installed.
fn is_installed(status: &str) -> bool {
    let words: Vec<&str> = status.split_whitespace().collect();
    matches!(words.as_slice(), [_, "ok", "installed"])
}

/// The apt-get commands that install `missing`: one index update, then one non-interactive
/// install without recommends; through sudo unless already root.
fn install_plan(missing: &[String], root: bool) -> Vec<Command> {
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("env")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("env");
            sudo
        };
        command
            .args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
            .args(args);
        command
    };
    let mut install = apt(&["install", "-y", "--no-install-recommends"]);
    install.args(missing);
    vec![apt(&["update"]), install]
}

/// The first executable file called `name` in the directories of a PATH value.
fn find_in_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fully_installed_status_counts() {
        assert!(is_installed("install ok installed"));
        assert!(is_installed("hold ok installed"));
        assert!(!is_installed("deinstall ok config-files"));
        assert!(!is_installed("install ok half-configured"));
        assert!(!is_installed(""));
    }

    #[test]
    fn root_plan_runs_apt_directly_and_noninteractively() {
        let plan: Vec<String> = install_plan(&["clang".into(), "procps".into()], true)
            .iter()
            .map(step::describe)
            .collect();
        assert_eq!(
            plan,
            [
                "env DEBIAN_FRONTEND=noninteractive apt-get update",
                "env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang procps",
            ]
        );
    }

    #[test]
    fn non_root_plan_goes_through_sudo() {
        let plan = install_plan(&["clang".into()], false);
        assert_eq!(plan.len(), 2);
        assert!(
            plan.iter()
                .all(|command| step::describe(command).starts_with("sudo env DEBIAN_FRONTEND="))
        );
    }

    #[test]
    fn finds_programs_on_path_only_when_executable() {
        let path = env::join_paths(["/nonexistent", "/bin", "/usr/bin"]).unwrap();
        assert!(find_in_path("sh", &path).is_some());
        assert!(find_in_path("no-such-program-xtask", &path).is_none());
    }

    #[test]
    fn asks_dpkg_about_a_package_that_does_not_exist() {
        if find_in_path("dpkg-query", &env::var_os("PATH").unwrap_or_default()).is_none() {
            eprintln!("skipped: no dpkg-query on this machine");
            return;
        }
        let missing = missing_packages(&["no-such-package-flotilla-xtask"]).unwrap();
        assert_eq!(missing, vec!["no-such-package-flotilla-xtask".to_owned()]);
    }
}
