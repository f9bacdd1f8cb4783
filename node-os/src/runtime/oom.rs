//! Whether the kernel's OOM killer ended a container: its memory cgroup counts the processes
//! it killed (`oom_kill` in `memory.oom_control` on cgroup v1, in `memory.events` on v2), read
//! when the main process has exited and before the cgroup is removed.

use std::fs;

use crate::cgroups::Cgroups;

/// Whether anything in container `id`'s cgroup was killed for lack of memory.
pub(crate) fn oom_killed(cgroups: &dyn Cgroups, id: &str) -> bool {
    let Ok(paths) = cgroups.paths(id) else {
        return false;
    };
    paths
        .procs_files
        .iter()
        .filter_map(|procs| procs.parent())
        .flat_map(|dir| ["memory.oom_control", "memory.events"].map(|file| dir.join(file)))
        .filter_map(|file| fs::read_to_string(file).ok())
        .any(|text| oom_kills(&text) > 0)
}

/// The `oom_kill` count of a `memory.oom_control` or `memory.events` file.
fn oom_kills(text: &str) -> u64 {
    text.lines()
        .filter_map(|line| line.strip_prefix("oom_kill "))
        .filter_map(|count| count.trim().parse::<u64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_either_file() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        let v2 = "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(oom_kills(v1), 2);
        assert_eq!(oom_kills(v2), 1);
        assert_eq!(oom_kills("oom_kill_disable 0\nunder_oom 0\n"), 0);
    }
}
