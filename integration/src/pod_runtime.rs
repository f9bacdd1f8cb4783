//! The runtimes the image tests run the same pods under: the native one, and Debian's runc
//! through a RuntimeClass (which every node whose PATH has runc offers as handler `runc`).

use anyhow::{Result, ensure};

use crate::cluster::Cluster;
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
}

impl PodRuntime {
    /// `yaml` (one pod) with this runtime's `runtimeClassName`.
    pub fn manifest(self, yaml: &str) -> String {
        match self {
            PodRuntime::Native => yaml.to_string(),
            PodRuntime::Runc => yaml.replacen("spec:\n", "spec:\n  runtimeClassName: runc\n", 1),
        }
    }
}

impl Cluster {
    /// Readies the cluster for image pods under `runtime`: the busybox test image imported
    /// into the node's store, and the RuntimeClass that names the runtime.
    pub fn prepare_image_pods(&self, runtime: PodRuntime) -> Result<()> {
        let archives = busybox_archives(self.workdir())?;
        let imported = self.cli_ok(&[
            "image",
            "import",
            &archives.oci.to_string_lossy(),
            "--data-dir",
            &self.data_dir().to_string_lossy(),
        ]);
        ensure!(imported.contains("busybox:1.35"), "imported: {imported}");
        if runtime == PodRuntime::Runc {
            let applied = self.apply_manifest("runc-class.yaml", RUNC_CLASS);
            ensure!(
                applied.status.success(),
                "the runc RuntimeClass: {}",
                String::from_utf8_lossy(&applied.stderr)
            );
        }
        Ok(())
    }

    /// Applies the pod `name` of `yaml` under `runtime`, which must succeed.
    pub fn apply_pod(&self, runtime: PodRuntime, name: &str, yaml: &str) {
        let applied = self.apply_manifest(&format!("{name}.yaml"), &runtime.manifest(yaml));
        assert!(
            applied.status.success(),
            "apply {name}: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
    }
}
