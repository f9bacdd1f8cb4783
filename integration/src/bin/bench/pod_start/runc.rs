//! The baseline without a daemon: `runc run -d` of prepared OCI bundles, one per container.
//!
//! Each bundle gets a root filesystem of its own, unpacked from the image with umoci (as
//! containerd gives each container a snapshot of its own), and the config `runc spec` writes,
//! with the container's command, no terminal and a cgroup under the benchmark's own parent.
//! Only `runc run -d` is timed: it creates the namespaces, mounts the root, joins the cgroups
//! and starts the process, and returns once it runs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tempfile::TempDir;

use flotilla_integration::unmount_under;

use super::command::{remove_cgroup_group, run_quietly, run_timed};

/// The tag of the image in the bundles' OCI layout.
const TAG: &str = "image";
/// Longest one skopeo, umoci or runc command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// Starts `count` containers of the image in `archive` running `args`, one after another, and
/// returns the time of each `runc run -d`; removes them all before returning.
pub fn starts(archive: &Path, count: usize, prefix: &str, args: &[&str]) -> Result<Vec<Duration>> {
    let mut runc = Runc::new(archive, prefix)?;
    let ids: Vec<String> = (0..count)
        .map(|index| format!("{prefix}-{index}"))
        .collect();
    eprintln!("bench: runc: unpacking {count} bundles");
    let bundles = ids
        .iter()
        .map(|id| runc.prepare(id, args))
        .collect::<Result<Vec<_>>>()?;
    eprintln!("bench: runc: starting {count} containers");
    ids.iter()
        .zip(&bundles)
        .map(|(id, bundle)| runc.run(id, bundle))
        .collect()
}

/// Bundles and runc's state in a temporary directory; dropping it deletes every container it
/// started, its cgroups and the directory.
struct Runc {
    dir: TempDir,
    /// The parent cgroup of the containers.
    group: String,
    started: Vec<String>,
}

impl Runc {
    /// Copies the image of `archive` into an OCI layout that umoci can unpack.
    fn new(archive: &Path, group: &str) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-pod-start-runc-")
            .tempdir()
            .context("could not create a directory for the runc bundles")?;
        for sub in ["state", "bundles"] {
            fs::create_dir(dir.path().join(sub))
                .with_context(|| format!("could not create {sub} in {}", dir.path().display()))?;
        }
        let runc = Self {
            dir,
            group: group.to_owned(),
            started: Vec::new(),
        };
        let source = format!("oci-archive:{}", archive.display());
        let layout = format!("oci:{}:{TAG}", runc.layout().display());
        run_timed(
            Command::new("skopeo").args(["copy", &source, &layout]),
            COMMAND_LIMIT,
        )?;
        Ok(runc)
    }

    /// Unpacks the image into a bundle for container `id` and writes its config.
    fn prepare(&self, id: &str, args: &[&str]) -> Result<PathBuf> {
        let bundle = self.dir.path().join("bundles").join(id);
        let image = format!("{}:{TAG}", self.layout().display());
        run_timed(
            Command::new("umoci")
                .args(["unpack", "--image", &image])
                .arg(&bundle),
            COMMAND_LIMIT,
        )?;
        // umoci writes a config of its own; the baseline is runc's default one.
        let config = bundle.join("config.json");
        fs::remove_file(&config).with_context(|| format!("removing {}", config.display()))?;
        run_timed(
            Command::new("runc")
                .arg("spec")
                .arg("--bundle")
                .arg(&bundle),
            COMMAND_LIMIT,
        )?;
        let text = fs::read(&config).with_context(|| format!("reading {}", config.display()))?;
        let mut spec: Value = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not JSON", config.display()))?;
        set_process(&mut spec, args, &format!("/{}/{id}", self.group))?;
        fs::write(&config, spec.to_string())
            .with_context(|| format!("writing {}", config.display()))?;
        Ok(bundle)
    }

    /// Times `runc run -d` of container `id`.
    fn run(&mut self, id: &str, bundle: &Path) -> Result<Duration> {
        // Recorded first: a run that fails half-way may leave a container to delete.
        self.started.push(id.to_owned());
        run_timed(
            self.runc()
                .args(["run", "--detach", "--bundle"])
                .arg(bundle)
                .arg(id),
            COMMAND_LIMIT,
        )
    }

    fn layout(&self) -> PathBuf {
        self.dir.path().join("layout")
    }

    /// runc with the benchmark's own state root, away from the machine's containers.
    fn runc(&self) -> Command {
        let mut command = Command::new("runc");
        command.arg("--root").arg(self.dir.path().join("state"));
        command
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        if !self.started.is_empty() {
            eprintln!("bench: runc: deleting {} containers", self.started.len());
        }
        for id in &self.started {
            run_quietly(self.runc().args(["delete", "--force", id]), COMMAND_LIMIT);
        }
        remove_cgroup_group(&self.group);
        unmount_under(self.dir.path());
    }
}

/// Sets the container's command, turns the terminal off (nothing reads it) and puts the
/// container in cgroup `cgroups_path`, in a config as `runc spec` writes it.
fn set_process(spec: &mut Value, args: &[&str], cgroups_path: &str) -> Result<()> {
    let process = spec
        .get_mut("process")
        .and_then(Value::as_object_mut)
        .context("runc spec wrote no process")?;
    process.insert("args".to_owned(), json!(args));
    process.insert("terminal".to_owned(), json!(false));
    let linux = spec
        .get_mut("linux")
        .and_then(Value::as_object_mut)
        .context("runc spec wrote no linux section")?;
    linux.insert("cgroupsPath".to_owned(), json!(cgroups_path));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_command_terminal_and_cgroup() {
        let mut spec = json!({
            "process": {"terminal": true, "args": ["sh"], "cwd": "/"},
            "linux": {"namespaces": [{"type": "pid"}]},
        });
        set_process(&mut spec, &["sleep", "3600"], "/bench/c-1").unwrap();
        assert_eq!(spec["process"]["args"], json!(["sleep", "3600"]));
        assert_eq!(spec["process"]["terminal"], false);
        assert_eq!(spec["process"]["cwd"], "/");
        assert_eq!(spec["linux"]["cgroupsPath"], "/bench/c-1");
        assert_eq!(spec["linux"]["namespaces"][0]["type"], "pid");
    }

    #[test]
    fn a_config_without_process_is_refused() {
        assert!(set_process(&mut json!({}), &["true"], "/x").is_err());
    }
}
