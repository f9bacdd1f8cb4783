//! When each image was last used — a container started from it, or it was pulled or imported —
//! for image garbage collection to remove the least recently used first: image name -> seconds
//! since the Unix epoch in `last-used.json`, replaced whole as `images.json` is. Only the names
//! the store holds are kept; a name it lacks a time for counts as never used.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::ImageError;
use crate::json_file;

const FILE: &str = "last-used.json";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastUsed {
    /// Seconds since the Unix epoch, by image name.
    seconds: BTreeMap<String, u64>,
}

impl LastUsed {
    /// The record in `root`, empty if there is none yet.
    pub fn load(root: &Path) -> Result<LastUsed, ImageError> {
        Ok(LastUsed {
            seconds: json_file::load(root, FILE)?.unwrap_or_default(),
        })
    }

    /// Saves the record, keeping only the names in `names` (those of removed images go).
    pub fn save(&mut self, root: &Path, names: &BTreeSet<&str>) -> Result<(), ImageError> {
        self.seconds.retain(|name, _| names.contains(name.as_str()));
        json_file::save(root, FILE, &self.seconds)
    }

    pub fn get(&self, name: &str) -> Option<SystemTime> {
        let seconds = *self.seconds.get(name)?;
        UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
    }

    /// Records a use of `name` at `at` (a clock before 1970 records 1970).
    pub fn set(&mut self, name: &str, at: SystemTime) {
        let seconds = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        self.seconds.insert(name.to_string(), seconds);
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn a_saved_record_loads_back_with_only_the_names_kept() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(LastUsed::load(dir.path()).unwrap(), LastUsed::default());
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut record = LastUsed::default();
        record.set("docker.io/library/busybox:latest", at);
        record.set("docker.io/library/gone:1", at);
        record
            .save(
                dir.path(),
                &BTreeSet::from(["docker.io/library/busybox:latest"]),
            )
            .unwrap();
        let loaded = LastUsed::load(dir.path()).unwrap();
        assert_eq!(loaded.get("docker.io/library/busybox:latest"), Some(at));
        assert_eq!(loaded.get("docker.io/library/gone:1"), None);
    }

    #[test]
    fn a_damaged_record_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"[1,2").unwrap();
        let error = LastUsed::load(dir.path()).unwrap_err().to_string();
        assert!(error.contains("last-used.json"), "{error}");
    }
}
