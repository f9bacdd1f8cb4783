//! flotilla's side: `flotilla image import` into a fresh data dir, and pods of the imported
//! image started one at a time on a one-machine `flotilla up`.
//!
//! Each pod's time runs from the start of its `flotilla apply` (a CLI process, as an operator
//! runs it) until `flotilla get pods --watch -o json`, started beforehand, prints it Running:
//! one pod at a time, so each time is that pod's own and not its place in a queue. The watch
//! is known to be live once it has printed a probe pod created for that purpose (a host pod,
//! so it does not unpack the image before the first measured pod does).

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flotilla_integration::{Cluster, ClusterOptions, flotilla_binary, objects, percentile};

use flotilla_integration::{mounts_under, unmount_under};

use super::command::run_timed;
use super::watch::RunningWatch;

/// Longest `flotilla image import` may take.
const IMPORT_LIMIT: Duration = Duration::from_secs(120);
/// Give up on one pod after this long (the first one unpacks the image).
const POD_TIMEOUT: Duration = Duration::from_secs(120);
/// Give up on the deleted pods disappearing after this long.
const DELETE_TIMEOUT: Duration = Duration::from_secs(120);
const DELETE_POLL: Duration = Duration::from_millis(100);
const NAMESPACE: &str = "default";
const PROBE: &str = "pod-start-watch-probe";

/// Times `flotilla image import ARCHIVE` into a new, empty data dir. The import checks and
/// stores the archive's blobs and names the image; layers are unpacked when a container of
/// the image first runs.
pub fn import_time(archive: &Path) -> Result<Duration> {
    let dir = tempfile::Builder::new()
        .prefix("flotilla-pod-start-import-")
        .tempdir()
        .context("could not create a data dir to import into")?;
    run_timed(
        Command::new(flotilla_binary()?)
            .args(["image", "import"])
            .arg(archive)
            .arg("--data-dir")
            .arg(dir.path().join("data")),
        IMPORT_LIMIT,
    )
}

/// Starts a cluster, imports `archive` and starts `count` pods of `image` running `command`,
/// one after another; returns each one's time from apply to Running. The pods are deleted and
/// the cluster stopped before returning, whatever happens.
pub fn pod_starts(
    archive: &Path,
    image: &str,
    count: usize,
    prefix: &str,
    command: &[&str],
) -> Result<Vec<Duration>> {
    let mut cluster = Cluster::start(ClusterOptions {
        node_name: "bench".to_owned(),
        ..ClusterOptions::default()
    })?;
    let data_dir = cluster.data_dir();
    let imported = cluster.client().try_cli(&[
        "image",
        "import",
        &archive.to_string_lossy(),
        "--data-dir",
        &data_dir.to_string_lossy(),
    ])?;
    if !imported.status.success() {
        bail!(
            "flotilla image import failed: {}",
            String::from_utf8_lossy(&imported.stderr).trim()
        );
    }
    let outcome = {
        let mut pods = Pods::new(&cluster);
        start_one_by_one(&mut pods, image, count, prefix, command)
    };
    let stopping = Instant::now();
    let stopped = cluster.stop();
    eprintln!(
        "bench: flotilla: flotilla up stopped after {:.1?}",
        stopping.elapsed()
    );
    unmount_under(cluster.workdir());
    let latencies = outcome?;
    match stopped {
        Ok(status) if !status.success() => {
            eprintln!("bench: flotilla up exited with {status} on SIGTERM");
        }
        Ok(_) => {}
        Err(error) => eprintln!("bench: stopping flotilla up: {error:#}"),
    }
    Ok(latencies)
}

fn start_one_by_one(
    pods: &mut Pods<'_>,
    image: &str,
    count: usize,
    prefix: &str,
    command: &[&str],
) -> Result<Vec<Duration>> {
    let watch = RunningWatch::start(pods.cluster.client(), NAMESPACE)?;
    pods.apply(PROBE, &host_pod(PROBE))?;
    watch.wait_for(PROBE, false, Instant::now(), POD_TIMEOUT)?;
    eprintln!("bench: flotilla: starting {count} pods one at a time");
    let mut latencies = Vec::with_capacity(count);
    let mut applies = Vec::with_capacity(count);
    for index in 0..count {
        let name = format!("{prefix}-{index}");
        let manifest = image_pod(&name, image, command);
        let applied = Instant::now();
        pods.apply(&name, &manifest)?;
        applies.push(applied.elapsed());
        let running = watch
            .wait_for(&name, true, applied, POD_TIMEOUT)
            .with_context(|| pod_state(pods.cluster, &name))?;
        latencies.push(running);
    }
    report_details(&latencies, &applies);
    Ok(latencies)
}

/// Prints what the figures hide: the first pod (which unpacks the image) against the slowest
/// of the others, and how much of a pod's time the `flotilla apply` process itself takes.
fn report_details(latencies: &[Duration], applies: &[Duration]) {
    let Some((first, rest)) = latencies.split_first() else {
        return;
    };
    let slowest_rest = rest.iter().max().copied().unwrap_or_default();
    let apply_p50 = percentile(applies, 50).unwrap_or_default();
    eprintln!(
        "bench: flotilla: first pod (unpacks the image) Running after {first:.1?}, slowest of \
         the others {slowest_rest:.1?}; `flotilla apply` alone took {apply_p50:.1?} (p50)"
    );
}

/// What the API says of pod `name`, for an error message.
fn pod_state(cluster: &Cluster, name: &str) -> String {
    match cluster.get_object("pod", name, Some(NAMESPACE)) {
        Ok(pod) => format!("pod {name} is {}", pod["status"]),
        Err(error) => format!("pod {name}: {error:#}"),
    }
}

/// The pods the benchmark applied; dropping it deletes them (no grace period: a `sleep` that
/// is PID 1 of its namespace ignores SIGTERM) and waits until they are gone.
struct Pods<'a> {
    cluster: &'a Cluster,
    names: Vec<String>,
}

impl<'a> Pods<'a> {
    fn new(cluster: &'a Cluster) -> Self {
        Self {
            cluster,
            names: Vec::new(),
        }
    }

    /// Writes the manifest and runs `flotilla apply -f` on it.
    fn apply(&mut self, name: &str, manifest: &str) -> Result<()> {
        let path = self.cluster.write_file(&format!("{name}.yaml"), manifest)?;
        self.names.push(name.to_owned());
        let output = self
            .cluster
            .client()
            .try_cli(&["apply", "-f", &path.to_string_lossy()])?;
        if !output.status.success() {
            bail!(
                "apply of pod {name} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Deletes the pods, waits until the API no longer lists them, then until the node has
    /// torn their sandboxes down (nothing mounted under the data dir any more): with no grace
    /// period the objects go at once and the node catches up afterwards.
    fn delete_all(&self) -> Result<()> {
        let started = Instant::now();
        let mut args = vec!["delete", "pods"];
        args.extend(self.names.iter().map(String::as_str));
        args.extend(["-n", NAMESPACE, "--grace-period", "0", "--ignore-not-found"]);
        let output = self.cluster.client().try_cli(&args)?;
        if !output.status.success() {
            bail!(
                "delete failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let deadline = started + DELETE_TIMEOUT;
        loop {
            let list = self.cluster.get_json("pods", Some(NAMESPACE))?;
            let left = objects::items(&list)?
                .iter()
                .filter(|pod| self.names.iter().any(|name| name == objects::name(pod)))
                .count();
            if left == 0 {
                break;
            }
            if Instant::now() >= deadline {
                bail!("{left} pods still listed {DELETE_TIMEOUT:?} after their deletion");
            }
            thread::sleep(DELETE_POLL);
        }
        let unlisted = started.elapsed();
        let data_dir = self.cluster.data_dir();
        loop {
            let mounts = mounts_under(&data_dir).len();
            if mounts == 0 {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "{mounts} mounts still under {} {DELETE_TIMEOUT:?} after the pods' deletion",
                    data_dir.display()
                );
            }
            thread::sleep(DELETE_POLL);
        }
        eprintln!(
            "bench: flotilla: {} pods deleted: unlisted after {unlisted:.1?}, sandboxes \
             unmounted after {:.1?}",
            self.names.len(),
            started.elapsed()
        );
        Ok(())
    }
}

impl Drop for Pods<'_> {
    fn drop(&mut self) {
        if self.names.is_empty() {
            return;
        }
        if let Err(error) = self.delete_all() {
            eprintln!("bench: cleanup: deleting the pods: {error:#}");
        }
    }
}

/// A single-container pod of `image` running `command`, the image taken from the node's store.
fn image_pod(name: &str, image: &str, command: &[&str]) -> String {
    let command = command
        .iter()
        .map(|word| format!("\"{word}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "apiVersion: v1\n\
         kind: Pod\n\
         metadata:\n\
         \x20 name: {name}\n\
         spec:\n\
         \x20 restartPolicy: Never\n\
         \x20 containers:\n\
         \x20 - name: main\n\
         \x20   image: {image}\n\
         \x20   imagePullPolicy: IfNotPresent\n\
         \x20   command: [{command}]\n"
    )
}

/// A pod that runs on the host's root (no image), to show the watch is live.
fn host_pod(name: &str) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Pod\n\
         metadata:\n\
         \x20 name: {name}\n\
         spec:\n\
         \x20 restartPolicy: Never\n\
         \x20 containers:\n\
         \x20 - name: main\n\
         \x20   image: host\n\
         \x20   command: [\"sleep\", \"3600\"]\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pod_names_image_policy_and_command() {
        let manifest = image_pod("pod-start-7", "busybox:1.35", &["sleep", "3600"]);
        assert!(manifest.contains("  name: pod-start-7\n"));
        assert!(manifest.contains("    image: busybox:1.35\n"));
        assert!(manifest.contains("    imagePullPolicy: IfNotPresent\n"));
        assert!(manifest.contains("    command: [\"sleep\", \"3600\"]\n"));
    }

    #[test]
    fn probe_needs_no_image() {
        assert!(host_pod(PROBE).contains("    image: host\n"));
    }
}
