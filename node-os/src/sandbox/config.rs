//! What the container init is told: the runtime writes it as JSON into the container's
//! directory, and `flotilla container-init` reads it back in the process that becomes the
//! container. Everything in it is decided by the runtime; the init only carries it out.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::FileMount;
use super::pod::Namespace;
use super::security::Security;

/// One container's process and root, as the init sets them up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InitConfig {
    pub(crate) id: String,
    pub(crate) argv: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    /// Absolute, inside the container's root; created when missing, as runc does.
    pub(crate) working_dir: PathBuf,
    /// The pod sandbox's namespaces to join, by the files that hold them.
    pub(crate) join: Vec<(Namespace, PathBuf)>,
    pub(crate) rootfs: Overlay,
    /// `/etc/NAME` of the container, bind-mounted from these files of the sandbox.
    pub(crate) etc: Vec<(String, PathBuf)>,
    /// The termination message file, mounted once /dev is (where it usually is) and before
    /// a read-only root becomes read-only.
    pub(crate) termination_log: Option<FileMount>,
    /// The image's USER, resolved in the container's root.
    pub(crate) user: Option<String>,
    pub(crate) security: Security,
}

/// The container's root: the image's layers under a writable layer of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Overlay {
    /// Topmost first, as overlayfs's `lowerdir` wants them.
    pub(crate) lower: Vec<PathBuf>,
    pub(crate) upper: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) merged: PathBuf,
}

impl Overlay {
    /// The writable layer and mount point of a container whose directory is `dir`, over
    /// `layers` given lowest first.
    pub(crate) fn in_dir(dir: &Path, layers: &[PathBuf]) -> Overlay {
        Overlay {
            lower: layers.iter().rev().cloned().collect(),
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
        }
    }

    /// The overlayfs mount options. Paths holding `,` or `:` cannot be expressed, nor can an
    /// option string longer than a page.
    pub(crate) fn options(&self) -> Result<String, String> {
        let paths = self.lower.iter().chain([&self.upper, &self.work]);
        if let Some(bad) = paths
            .map(|path| path.to_string_lossy())
            .find(|path| path.contains([',', ':']))
        {
            return Err(format!("overlay layer path {bad} contains ',' or ':'"));
        }
        let lower: Vec<String> = self
            .lower
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect();
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.upper.display(),
            self.work.display()
        );
        if options.len() >= 4096 {
            return Err(format!(
                "the overlay mount options for {} layers are longer than a page",
                self.lower.len()
            ));
        }
        Ok(options)
    }
}

impl Overlay {
    /// Mounts the overlay at `merged`, in the caller's mount namespace.
    pub(crate) fn mount(&self) -> Result<(), String> {
        let options = self.options()?;
        nix::mount::mount(
            Some("overlay"),
            &self.merged,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(options.as_str()),
        )
        .map_err(|errno| {
            format!(
                "mounting the root overlay at {}: {}",
                self.merged.display(),
                errno.desc()
            )
        })
    }
}

impl InitConfig {
    pub(crate) fn save(&self, path: &Path) -> io::Result<()> {
        let json = serde_json::to_vec(self).map_err(io::Error::other)?;
        fs::write(path, json)
    }

    pub(crate) fn load(path: &Path) -> Result<InitConfig, String> {
        let bytes =
            fs::read(path).map_err(|error| format!("reading {}: {error}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|error| format!("{}: {error}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_go_topmost_first_into_the_options() {
        let overlay = Overlay::in_dir(
            Path::new("/c/x"),
            &[PathBuf::from("/l/base"), PathBuf::from("/l/top")],
        );
        assert_eq!(
            overlay.options().unwrap(),
            "lowerdir=/l/top:/l/base,upperdir=/c/x/upper,workdir=/c/x/work"
        );
        assert_eq!(overlay.merged, Path::new("/c/x/merged"));
    }

    #[test]
    fn inexpressible_overlays_are_refused() {
        let overlay = Overlay::in_dir(Path::new("/c/x"), &[PathBuf::from("/l/a:b")]);
        assert!(overlay.options().unwrap_err().contains("/l/a:b"));
        let many: Vec<PathBuf> = (0..100)
            .map(|i| PathBuf::from(format!("/var/lib/flotilla/images/layers/sha256/{i:064}")))
            .collect();
        assert!(
            Overlay::in_dir(Path::new("/c"), &many)
                .options()
                .unwrap_err()
                .contains("100 layers")
        );
    }

    #[test]
    fn the_config_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = InitConfig {
            id: "u-c".into(),
            argv: vec!["sh".into()],
            env: vec![("A".into(), "b".into())],
            working_dir: PathBuf::from("/"),
            join: vec![(Namespace::Network, PathBuf::from("/s/net"))],
            rootfs: Overlay::in_dir(dir.path(), &[PathBuf::from("/l/1")]),
            etc: vec![("hosts".into(), PathBuf::from("/s/hosts"))],
            termination_log: Some(FileMount {
                target: PathBuf::from("/dev/termination-log"),
                source: dir.path().join("termination-log"),
            }),
            user: Some("33".into()),
            security: Security::default(),
        };
        let path = dir.path().join("config.json");
        config.save(&path).unwrap();
        assert_eq!(InitConfig::load(&path).unwrap(), config);
        fs::write(&path, "{").unwrap();
        assert!(InitConfig::load(&path).unwrap_err().contains("config.json"));
    }
}
