//! The image names a store knows: a table of reference -> manifest digest in `images.json`,
//! replaced whole (written aside, synced, renamed) so a crash leaves the old or the new table.

use std::collections::BTreeMap;
use std::path::Path;

use crate::digest::Digest;
use crate::error::ImageError;
use crate::json_file;

const FILE: &str = "images.json";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    names: BTreeMap<String, Digest>,
}

impl Refs {
    /// The table in `root`, empty if there is none yet.
    pub fn load(root: &Path) -> Result<Refs, ImageError> {
        let raw: BTreeMap<String, String> = json_file::load(root, FILE)?.unwrap_or_default();
        let mut names = BTreeMap::new();
        for (name, digest) in raw {
            names.insert(name, Digest::parse(&digest)?);
        }
        Ok(Refs { names })
    }

    pub fn save(&self, root: &Path) -> Result<(), ImageError> {
        let raw: BTreeMap<&str, String> = self
            .names
            .iter()
            .map(|(name, digest)| (name.as_str(), digest.to_string()))
            .collect();
        json_file::save(root, FILE, &raw)
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
    use std::fs;

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
