//! The image names a store knows: a table of reference -> manifest digest in `images.json`,
//! replaced whole (written aside, synced, renamed) so a crash leaves the old or the new table.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::ImageError;

const FILE: &str = "images.json";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    names: BTreeMap<String, Digest>,
}

impl Refs {
    /// The table in `root`, empty if there is none yet.
    pub fn load(root: &Path) -> Result<Refs, ImageError> {
        let path = root.join(FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Refs::default()),
            Err(source) => return Err(ImageError::Io { path, source }),
        };
        let raw: BTreeMap<String, String> =
            serde_json::from_str(&text).map_err(|e| ImageError::InvalidDocument {
                what: path.display().to_string(),
                message: e.to_string(),
            })?;
        let mut names = BTreeMap::new();
        for (name, digest) in raw {
            names.insert(name, Digest::parse(&digest)?);
        }
        Ok(Refs { names })
    }

    pub fn save(&self, root: &Path) -> Result<(), ImageError> {
        let path = root.join(FILE);
        let staging: PathBuf = root.join(format!(".{FILE}.{}", std::process::id()));
        let raw: BTreeMap<&str, String> = self
            .names
            .iter()
            .map(|(name, digest)| (name.as_str(), digest.to_string()))
            .collect();
        let text = serde_json::to_vec_pretty(&raw).map_err(io::Error::other);
        let written = text.and_then(|text| {
            let mut file = File::create(&staging)?;
            file.write_all(&text)?;
            file.sync_all()
        });
        written.map_err(ImageError::io(&staging))?;
        fs::rename(&staging, &path).map_err(ImageError::io(&path))
    }

    pub fn get(&self, name: &str) -> Option<&Digest> {
        self.names.get(name)
    }

    pub fn insert(&mut self, name: String, manifest: Digest) {
        self.names.insert(name, manifest);
    }

    pub fn remove(&mut self, name: &str) -> Option<Digest> {
        self.names.remove(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Digest)> {
        self.names
            .iter()
            .map(|(name, digest)| (name.as_str(), digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_table_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Refs::load(dir.path()).unwrap(), Refs::default());
        let mut refs = Refs::default();
        refs.insert("docker.io/library/busybox:latest".into(), Digest::of(b"m"));
        refs.save(dir.path()).unwrap();
        assert_eq!(Refs::load(dir.path()).unwrap(), refs);
    }

    #[test]
    fn a_damaged_table_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"{not json").unwrap();
        let error = Refs::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("images.json"), "{error}");
    }
}
