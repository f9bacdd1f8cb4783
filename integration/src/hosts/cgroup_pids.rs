//! The processes in a cgroup tree, for pausing and crashing a host's workloads along with it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cgroup_tree::{hierarchy_dirs, procs_in};

/// Every pid in cgroup `root` and its descendants, in every hierarchy under `fs_root`, once.
pub fn pids_in_tree(fs_root: &Path, root: &str) -> Result<Vec<u32>> {
    let mut pids = Vec::new();
    let mut pending: Vec<PathBuf> = hierarchy_dirs(fs_root, Path::new(root));
    while let Some(dir) = pending.pop() {
        pids.extend(procs_in(&dir)?);
        if let Ok(entries) = fs::read_dir(&dir) {
            pending.extend(
                entries
                    .flatten()
                    .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
                    .map(|entry| entry.path()),
            );
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_pids_of_the_whole_tree_in_every_hierarchy() {
        let fs_root = tempfile::tempdir().unwrap();
        let base = fs_root.path();
        fs::create_dir_all(base.join("memory/flt1r0-h0/pod/c1")).unwrap();
        fs::create_dir_all(base.join("pids/flt1r0-h0")).unwrap();
        fs::create_dir_all(base.join("pids/flt1r0-h1")).unwrap();
        fs::write(base.join("memory/flt1r0-h0/cgroup.procs"), "5\n").unwrap();
        fs::write(base.join("memory/flt1r0-h0/pod/c1/cgroup.procs"), "7\n8\n").unwrap();
        fs::write(base.join("pids/flt1r0-h0/cgroup.procs"), "8\n5\n").unwrap();
        fs::write(base.join("pids/flt1r0-h1/cgroup.procs"), "99\n").unwrap();
        assert_eq!(pids_in_tree(base, "flt1r0-h0").unwrap(), [5, 7, 8]);
        assert!(pids_in_tree(base, "flt1r0-h7").unwrap().is_empty());
    }
}
