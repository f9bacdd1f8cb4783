//! `bench pod-start`: what it costs to import an image and start containers of it with
//! flotilla, set beside containerd's `ctr` and plain `runc` on the same machine, in one run.
//!
//! The image is the busybox test image, built offline from Debian's busybox-static
//! (`busybox_archives`), as an OCI archive. In turn:
//! - import: `flotilla image import` into a fresh data dir against `ctr images import` into a
//!   fresh private containerd. They do not do the same work: ctr unpacks the layers into its
//!   overlayfs snapshotter by default (reported as it comes), flotilla only stores the blobs
//!   and unpacks at a container's first run, so that cost lands on flotilla's first pod;
//! - runc ([`runc`]): `runc run -d` of 50 bundles unpacked beforehand, each timed;
//! - ctr ([`containerd`]): `ctr run -d` of 50 containers of the imported image, each timed;
//! - flotilla ([`flotilla`]): 50 single-container pods applied one at a time on a one-machine
//!   `flotilla up`, each timed from its apply until it is seen Running.
//!
//! Every container sleeps an hour. Each part removes what it started (containers, pods,
//! daemons, cgroups, mounts, temporary dirs) before the next one runs, and on failure too
//! (`Drop`), with bounded waits. It needs root: runc, containerd and flotilla's image pods
//! create namespaces, mounts and cgroups.

mod command;
mod containerd;
mod flotilla;
mod runc;
mod watch;

use std::process;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use flotilla_integration::{BUSYBOX_IMAGE, PodStartReport, busybox_archives, percentile};
use nix::unistd::geteuid;

use containerd::Containerd;

/// How many containers each runtime starts.
const PODS: usize = 50;
/// What every container runs.
const COMMAND: [&str; 2] = ["sleep", "3600"];
/// What the benchmark runs besides flotilla.
const PROGRAMS: [&str; 5] = ["runc", "containerd", "ctr", "umoci", "skopeo"];
/// The image as the pods name it (Docker Hub's short form of [`BUSYBOX_IMAGE`]).
const POD_IMAGE: &str = "busybox:1.35";

/// Runs the benchmark once.
pub fn pod_start() -> Result<PodStartReport> {
    if !geteuid().is_root() {
        bail!(
            "bench pod-start needs root: runc, containerd and flotilla's image pods create \
             namespaces, mounts and cgroups; run it as root"
        );
    }
    let missing = command::missing_programs(&PROGRAMS);
    if !missing.is_empty() {
        bail!(
            "bench pod-start needs {}, not found on PATH: `cargo xtask bench pod-start` installs \
             them (Debian packages runc, containerd, umoci and skopeo)",
            missing.join(", ")
        );
    }
    // Names the containers, the runc and containerd parent cgroups and the containerd
    // namespace, so that two runs on one machine do not meet.
    let prefix = format!("pod-start-{}", process::id());
    let images = tempfile::Builder::new()
        .prefix("flotilla-pod-start-image-")
        .tempdir()
        .context("could not create a directory for the test image")?;
    eprintln!("bench: building the busybox test image");
    let archives = busybox_archives(images.path())?;

    eprintln!("bench: flotilla image import");
    let import = flotilla::import_time(&archives.oci)?;

    eprintln!("bench: ctr images import, then {PODS} x ctr run -d");
    let (ctr_import, ctr_starts) = {
        let mut containerd = Containerd::start(&prefix)?;
        let ctr_import = containerd.import(&archives.oci)?;
        let starts = (0..PODS)
            .map(|index| containerd.run(BUSYBOX_IMAGE, &format!("{prefix}-{index}"), &COMMAND))
            .collect::<Result<Vec<_>>>()?;
        (ctr_import, starts)
    };

    let runc_starts = runc::starts(&archives.oci, PODS, &format!("{prefix}-runc"), &COMMAND)?;

    let pod_starts = flotilla::pod_starts(&archives.oci, POD_IMAGE, PODS, &prefix, &COMMAND)?;

    let p = |samples: &[Duration], percent| percentile(samples, percent).unwrap_or_default();
    Ok(PodStartReport {
        pods: PODS,
        import,
        ctr_import,
        pod_running_p50: p(&pod_starts, 50),
        pod_running_p99: p(&pod_starts, 99),
        runc_start_p50: p(&runc_starts, 50),
        runc_start_p99: p(&runc_starts, 99),
        ctr_start_p50: p(&ctr_starts, 50),
    })
}
