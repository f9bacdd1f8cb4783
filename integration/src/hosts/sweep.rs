//! Removes what interrupted runs left behind.
//!
//! A test killed by Ctrl-C or a crash never runs its harness's Drop, so its namespaces (with
//! their links and nftables tables), the processes in them and its cgroups stay. Their names say
//! which process owned them; those whose owner is gone are removed before a new run starts. A
//! name whose owner still runs belongs to a live harness, possibly in a parallel test, and is
//! left alone.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::layout::RunId;
use super::namespaces;
use crate::cgroup_tree::{self, CGROUP_FS};
use crate::process::{PROC, process_exists};

/// What a sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Network namespaces of dead runs, with every process in them.
    pub namespaces: Vec<String>,
    /// Cgroup roots of dead runs, with every process in them.
    pub cgroups: Vec<String>,
}

impl Swept {
    /// Whether nothing was left over.
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.cgroups.is_empty()
    }
}

/// Removes every namespace and cgroup root left by a harness whose process has exited.
pub fn sweep_stale() -> Result<Swept> {
    let alive = |pid| process_exists(Path::new(PROC), pid);
    let fs_root = Path::new(CGROUP_FS);
    let swept = Swept {
        namespaces: stale(namespaces::list()?, alive),
        cgroups: stale(cgroup_names(fs_root), alive),
    };
    for namespace in &swept.namespaces {
        namespaces::remove(namespace)?;
    }
    for cgroup in &swept.cgroups {
        cgroup_tree::remove_tree(fs_root, cgroup)
            .with_context(|| format!("could not remove leftover cgroup root {cgroup}"))?;
    }
    Ok(swept)
}

/// The names among `names` that belong to a run whose owner is not `alive`, sorted, once each.
fn stale(names: Vec<String>, alive: impl Fn(u32) -> bool) -> Vec<String> {
    let mut stale: Vec<String> = names
        .into_iter()
        .filter(|name| RunId::owning(name).is_some_and(|run| !alive(run.owner)))
        .collect();
    stale.sort();
    stale.dedup();
    stale
}

/// The names of the top-level cgroups under `fs_root`: its own subdirectories on a unified (v2)
/// hierarchy, and those of each controller's hierarchy on v1.
fn cgroup_names(fs_root: &Path) -> Vec<String> {
    let mut names = subdirectories(fs_root);
    if !fs_root.join("cgroup.controllers").exists() {
        let controllers = names.clone();
        for controller in controllers {
            names.extend(subdirectories(&fs_root.join(controller)));
        }
    }
    names
}

/// The names of the directories directly in `dir`; none if it cannot be read.
fn subdirectories(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn only_names_of_dead_owners_are_stale() {
        let found = names(&[
            "flt100r0-sw",
            "flt100r0-h0",
            "flt200r3-h1",
            "flotilla-it-100-0",
            "cni-flt100",
            "flt100r0-h0",
        ]);
        let alive = |pid| pid == 200;
        assert_eq!(stale(found, alive), ["flt100r0-h0", "flt100r0-sw"]);
    }

    #[test]
    fn nothing_is_stale_while_every_owner_lives() {
        assert!(stale(names(&["flt1r0-sw", "flt2r0-h0"]), |_| true).is_empty());
    }

    #[test]
    fn finds_run_cgroups_in_every_v1_controller() {
        let fs_root = tempfile::tempdir().unwrap();
        let base = fs_root.path();
        for dir in [
            "memory/flt5r0-h0",
            "pids/flt5r0-h0",
            "pids/flt5r0-h1",
            "cpu/system.slice",
        ] {
            fs::create_dir_all(base.join(dir)).unwrap();
        }
        fs::write(base.join("memory/flt5r0-h0/cgroup.procs"), "").unwrap();
        let mut found = stale(cgroup_names(base), |_| false);
        found.dedup();
        assert_eq!(found, ["flt5r0-h0", "flt5r0-h1"]);
    }

    #[test]
    fn on_a_unified_hierarchy_only_top_level_cgroups_count() {
        let fs_root = tempfile::tempdir().unwrap();
        let base = fs_root.path();
        fs::write(base.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        fs::create_dir_all(base.join("flt6r0-h0/pod")).unwrap();
        fs::create_dir_all(base.join("system.slice/flt6r0-h9")).unwrap();
        assert_eq!(stale(cgroup_names(base), |_| false), ["flt6r0-h0"]);
    }

    #[test]
    fn a_missing_cgroup_filesystem_has_no_cgroups() {
        assert!(cgroup_names(Path::new("/nonexistent/cgroup")).is_empty());
    }
}
