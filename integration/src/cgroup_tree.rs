//! Finds and removes every cgroup a test cluster created under its cgroup root.
//!
//! A cluster is given a unique cgroup root name; its cgroups then live at
//! `/sys/fs/cgroup/<controller>/<root>/...` on a cgroup v1 host and `/sys/fs/cgroup/<root>/...`
//! on v2. Cleanup kills every process found in them and removes the directories deepest first
//! (a cgroup can only be removed once it has no children and no processes), so that a failed
//! test leaves no workload and no cgroup behind. The filesystem root is a parameter so that
//! discovery is tested on a fixture directory.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Where the cgroup filesystems are mounted on Linux.
pub const CGROUP_FS: &str = "/sys/fs/cgroup";

/// How long removal retries while killed processes are still exiting.
const REMOVE_PATIENCE: Duration = Duration::from_secs(10);

/// The directories of cgroup `relative` in every hierarchy under `fs_root`: the v2 unified
/// one (`fs_root/relative`) and each v1 controller's (`fs_root/<controller>/relative`).
/// Controllers mounted together (`cpu` and `cpuacct` linking to `cpu,cpuacct`) appear once.
pub fn hierarchy_dirs(fs_root: &Path, relative: &Path) -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    let mut dirs = Vec::new();
    let mut consider = |dir: PathBuf| {
        if dir.is_dir() {
            let identity = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if seen.insert(identity) {
                dirs.push(dir);
            }
        }
    };
    consider(fs_root.join(relative));
    if let Ok(entries) = fs::read_dir(fs_root) {
        let mut controllers: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
        controllers.sort();
        for controller in controllers {
            consider(controller.join(relative));
        }
    }
    dirs
}

/// The pids listed in the text of a `cgroup.procs` file; lines that are not pids are skipped.
pub fn parse_procs(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// The pids in the `cgroup.procs` of `dir`; none when the cgroup is already gone.
pub fn procs_in(dir: &Path) -> Result<Vec<u32>> {
    let path = dir.join("cgroup.procs");
    match fs::read_to_string(&path) {
        Ok(text) => Ok(parse_procs(&text)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(error).with_context(|| format!("could not read {}", path.display())),
    }
}

/// Kills every process in the cgroup tree named `root` under `fs_root`, then removes the tree's
/// directories, deepest first. Succeeds when nothing is left.
pub fn remove_tree(fs_root: &Path, root: &str) -> Result<()> {
    let mut dirs = Vec::new();
    for top in hierarchy_dirs(fs_root, Path::new(root)) {
        collect_dirs(&top, &mut dirs)?;
    }
    sort_deepest_first(&mut dirs);
    for dir in &dirs {
        kill_procs(dir)?;
    }
    let deadline = Instant::now() + REMOVE_PATIENCE;
    for dir in &dirs {
        remove_when_empty(dir, deadline)?;
    }
    Ok(())
}

/// `dir` and every directory below it (cgroups are directories; their files are not).
fn collect_dirs(dir: &Path, into: &mut Vec<PathBuf>) -> Result<()> {
    into.push(dir.to_path_buf());
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(error).with_context(|| format!("could not list {}", dir.display()));
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            collect_dirs(&entry.path(), into)?;
        }
    }
    Ok(())
}

/// Orders paths so that every directory comes before its parent.
fn sort_deepest_first(dirs: &mut [PathBuf]) {
    dirs.sort_by(|a, b| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then_with(|| a.cmp(b))
    });
}

/// SIGKILLs every process in the cgroup at `dir` (through `cgroup.kill` where v2 has it).
fn kill_procs(dir: &Path) -> Result<()> {
    let kill_file = dir.join("cgroup.kill");
    if kill_file.is_file() && fs::write(&kill_file, "1").is_ok() {
        return Ok(());
    }
    for pid in procs_in(dir)? {
        if let Ok(pid) = i32::try_from(pid) {
            // ESRCH only means it exited meanwhile, which is what we want.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    Ok(())
}

/// Removes the cgroup at `dir`, retrying while its killed processes are still exiting.
fn remove_when_empty(dir: &Path, deadline: Instant) -> Result<()> {
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) if Instant::now() >= deadline => {
                let left = procs_in(dir).unwrap_or_default();
                return Err(error).with_context(|| {
                    format!(
                        "could not remove cgroup {} (processes still in it: {left:?})",
                        dir.display()
                    )
                });
            }
            Err(_) => {
                kill_procs(dir)?;
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Fails, listing them, if any directory of cgroup `relative` still exists.
pub fn ensure_gone(fs_root: &Path, relative: &Path) -> Result<()> {
    let left = hierarchy_dirs(fs_root, relative);
    if !left.is_empty() {
        bail!("cgroup {} still exists at {left:?}", relative.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn finds_the_root_in_every_v1_hierarchy_once() {
        let fs_root = tempfile::tempdir().unwrap();
        let base = fs_root.path();
        for controller in ["memory", "cpu,cpuacct", "pids"] {
            fs::create_dir_all(base.join(controller).join("flo-1")).unwrap();
        }
        fs::create_dir_all(base.join("freezer")).unwrap();
        symlink(base.join("cpu,cpuacct"), base.join("cpu")).unwrap();
        symlink(base.join("cpu,cpuacct"), base.join("cpuacct")).unwrap();

        let dirs = hierarchy_dirs(base, Path::new("flo-1"));
        assert_eq!(dirs.len(), 3, "{dirs:?}");
        assert!(dirs.contains(&base.join("memory/flo-1")));
        assert!(dirs.contains(&base.join("pids/flo-1")));
    }

    #[test]
    fn finds_the_root_on_a_unified_hierarchy() {
        let fs_root = tempfile::tempdir().unwrap();
        let base = fs_root.path();
        fs::create_dir_all(base.join("flo-2").join("c1")).unwrap();
        fs::write(base.join("cgroup.controllers"), "cpu memory\n").unwrap();

        assert_eq!(
            hierarchy_dirs(base, Path::new("flo-2")),
            vec![base.join("flo-2")]
        );
        assert_eq!(
            hierarchy_dirs(base, Path::new("flo-2/c1")),
            vec![base.join("flo-2/c1")]
        );
        assert!(ensure_gone(base, Path::new("flo-2/c1")).is_err());
        assert!(ensure_gone(base, Path::new("flo-2/c9")).is_ok());
    }

    #[test]
    fn children_come_before_their_parents() {
        let mut dirs = vec![
            PathBuf::from("/cg/memory/root"),
            PathBuf::from("/cg/memory/root/pod/c1"),
            PathBuf::from("/cg/cpu/root"),
            PathBuf::from("/cg/memory/root/pod"),
        ];
        sort_deepest_first(&mut dirs);
        let position = |p: &str| dirs.iter().position(|d| d == Path::new(p)).unwrap();
        assert!(position("/cg/memory/root/pod/c1") < position("/cg/memory/root/pod"));
        assert!(position("/cg/memory/root/pod") < position("/cg/memory/root"));
    }

    #[test]
    fn procs_file_lists_pids_one_a_line() {
        assert_eq!(parse_procs("12\n345\n\n"), vec![12, 345]);
        assert_eq!(parse_procs(""), Vec::<u32>::new());
    }

    #[test]
    fn collects_the_whole_tree_of_directories() {
        let fs_root = tempfile::tempdir().unwrap();
        let top = fs_root.path().join("memory/flo-3");
        fs::create_dir_all(top.join("a/b")).unwrap();
        fs::write(top.join("cgroup.procs"), "").unwrap();
        let mut dirs = Vec::new();
        collect_dirs(&top, &mut dirs).unwrap();
        dirs.sort();
        assert_eq!(dirs, vec![top.clone(), top.join("a"), top.join("a/b")]);
    }
}
