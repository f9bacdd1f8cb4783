//! The runtimes the image tests run the same pods under: the native one, Debian's runc
//! through a RuntimeClass (which every node whose PATH has runc offers as handler `runc`),
//! and Debian's containerd through its CRI plug-in, the node's default runtime when started
//! with `--container-runtime-endpoint`.

use std::ops::{Deref, DerefMut};
use std::path::Path;

use anyhow::{Context, Result, ensure};
use tempfile::TempDir;

use flotilla_cri::config::{CONTAINER_ID_LABEL, POD_UID_LABEL};
use flotilla_node_os::runtime::CRI_CGROUP;

use crate::cgroup_tree::CGROUP_FS;
use crate::cluster::{Cluster, ClusterOptions};
use crate::container_cgroup::ContainerCgroup;
use crate::containerd::Containerd;
use crate::objects::ContainerId;
use crate::pauses::pause_running;
use crate::test_images::busybox_archives;

/// The RuntimeClass of runc.
const RUNC_CLASS: &str = "apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: runc
handler: runc
";

/// Which runtime a test's pods run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodRuntime {
    Native,
    Runc,
    Cri,
}

impl PodRuntime {
    /// `yaml` (one pod) with this runtime's `runtimeClassName`.
    pub fn manifest(self, yaml: &str) -> String {
        match self {
            PodRuntime::Native | PodRuntime::Cri => yaml.to_string(),
            PodRuntime::Runc => yaml.replacen("spec:\n", "spec:\n  runtimeClassName: runc\n", 1),
        }
    }

    /// A cluster ready for image pods under this runtime.
    pub fn start_cluster(self) -> Result<ImageCluster> {
        self.start_cluster_with(ClusterOptions::default())
    }

    /// A cluster started with `options`, ready for image pods under this runtime: the busybox
    /// test image where the runtime finds it, and the RuntimeClass that names the runtime;
    /// under CRI, a containerd of its own that the node is connected to.
    pub fn start_cluster_with(self, mut options: ClusterOptions) -> Result<ImageCluster> {
        let containerd = match self {
            PodRuntime::Cri => {
                // Short, for containerd's socket paths.
                let dir = tempfile::Builder::new()
                    .prefix("ctd-")
                    .tempdir_in("/tmp")
                    .context("a directory for containerd")?;
                let containerd = Containerd::start(dir.path())?;
                options.extra_args.extend([
                    "--container-runtime-endpoint".to_string(),
                    containerd.endpoint(),
                ]);
                Some((containerd, dir))
            }
            PodRuntime::Native | PodRuntime::Runc => None,
        };
        let cluster = Cluster::start(options)?;
        let cluster = ImageCluster {
            cluster,
            containerd,
            runtime: self,
        };
        cluster.prepare_image_pods()?;
        Ok(cluster)
    }

    /// A cluster ready for image pods under this runtime that pulls from the registries at
    /// `hosts` (`HOST:PORT`) over plain HTTP: flotilla's `--insecure-registry`, or under CRI
    /// containerd's own registry configuration.
    pub fn start_cluster_pulling_from(self, hosts: &[String]) -> Result<ImageCluster> {
        let options = ClusterOptions {
            extra_args: hosts
                .iter()
                .flat_map(|host| ["--insecure-registry".to_string(), host.clone()])
                .collect(),
            ..ClusterOptions::default()
        };
        let cluster = self.start_cluster_with(options)?;
        if let Some((containerd, _)) = &cluster.containerd {
            for host in hosts {
                containerd.trust_plain_http(host)?;
            }
        }
        Ok(cluster)
    }
}

/// A cluster whose image pods run under one [`PodRuntime`]; it is the [`Cluster`] for
/// everything else. Under CRI it owns its containerd, stopped after the cluster.
pub struct ImageCluster {
    cluster: Cluster,
    containerd: Option<(Containerd, TempDir)>,
    runtime: PodRuntime,
}

impl ImageCluster {
    fn prepare_image_pods(&self) -> Result<()> {
        if self.runtime == PodRuntime::Cri {
            // containerd has the image, imported when it started.
            return Ok(());
        }
        let archives = busybox_archives(self.workdir())?;
        let imported = self.cli_ok(&[
            "image",
            "import",
            &archives.oci.to_string_lossy(),
            "--data-dir",
            &self.data_dir().to_string_lossy(),
        ]);
        ensure!(imported.contains("busybox:1.35"), "imported: {imported}");
        if self.runtime == PodRuntime::Runc {
            let applied = self.apply_manifest("runc-class.yaml", RUNC_CLASS);
            ensure!(
                applied.status.success(),
                "the runc RuntimeClass: {}",
                String::from_utf8_lossy(&applied.stderr)
            );
        }
        Ok(())
    }

    /// Applies the pod `name` of `yaml` under this cluster's runtime, which must succeed.
    pub fn apply_pod(&self, name: &str, yaml: &str) {
        let applied = self.apply_manifest(&format!("{name}.yaml"), &self.runtime.manifest(yaml));
        assert!(
            applied.status.success(),
            "apply {name}: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }

    /// The cgroup of `container` (the agent's id): under the cluster's root, or under CRI the
    /// one containerd made for it below the root's `cri`.
    pub fn image_container_cgroup(&self, container: &ContainerId) -> Result<ContainerCgroup> {
        let Some((containerd, _)) = &self.containerd else {
            return Ok(self.container_cgroup(container));
        };
        let filter = format!("labels.\"{CONTAINER_ID_LABEL}\"=={}", container.as_str());
        let listed = containerd.ctr(&["containers", "ls", "-q", filter.as_str()])?;
        let cri_id = listed
            .lines()
            .next()
            .with_context(|| format!("containerd has no container {}", container.as_str()))?;
        Ok(ContainerCgroup::new(
            Path::new(CGROUP_FS),
            &format!("{}/{CRI_CGROUP}", self.cgroup_root()),
            &ContainerId::new(cri_id),
        ))
    }

    /// Whether the node has the image `reference` (as a registry names it, `HOST/PATH:TAG`):
    /// in flotilla's store, or under CRI in containerd's.
    pub fn has_image(&self, reference: &str) -> Result<bool> {
        if let Some((containerd, _)) = &self.containerd {
            let listed = containerd.ctr(&["images", "ls", "-q"])?;
            return Ok(listed.lines().any(|line| line == reference));
        }
        let listed = self.cli_ok(&[
            "image",
            "ls",
            "--data-dir",
            &self.data_dir().to_string_lossy(),
        ]);
        let (repository, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
        Ok(listed.lines().any(|line| {
            let mut columns = line.split_whitespace();
            columns.next() == Some(repository) && columns.next() == Some(tag)
        }))
    }

    /// Whether the sandbox of pod `uid` still holds a process: its pause (which the native
    /// runtime has only for a pod sharing one PID namespace), or under CRI any container
    /// containerd has of the pod.
    pub fn sandbox_running(&self, uid: &str) -> bool {
        let Some((containerd, _)) = &self.containerd else {
            return pause_running(uid);
        };
        let filter = format!("labels.\"{POD_UID_LABEL}\"=={uid}");
        let listed = containerd
            .ctr(&["containers", "ls", "-q", filter.as_str()])
            .expect("containerd lists its containers");
        !listed.trim().is_empty()
    }
}

impl Deref for ImageCluster {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

impl DerefMut for ImageCluster {
    fn deref_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }
}

impl Drop for ImageCluster {
    fn drop(&mut self) {
        if let (true, Some((containerd, _))) = (std::thread::panicking(), &self.containerd) {
            eprintln!(
                "---- log of containerd ----\n{}\n---- end of log ----",
                containerd.log()
            );
        }
    }
}
