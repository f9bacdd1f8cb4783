//! Taking over running containers after the agent restarts.
//!
//! A container's main process leads its own session (the child setup calls `setsid`), so in
//! each cgroup under our root the main process is the session leader whose parent is outside
//! the cgroup (an isolated container's command leads a session too, under its init).
//! The kernel therefore holds everything a new agent needs: no state file can be lost or
//! corrupted, and containers keep running untouched (same processes, same start times).
//! A cgroup without a living main process is a left-over and is killed and removed.

use std::fs;
use std::time::{Duration, SystemTime};

/// What a runtime found at start-up.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// Containers taken over, with their main process.
    pub adopted: Vec<(String, u32)>,
    /// Left-over cgroups killed and removed.
    pub removed: Vec<String>,
}

/// The facts of one process that adoption needs, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcFacts {
    pub(crate) pid: u32,
    pub(crate) parent: u32,
    pub(crate) session: i64,
    /// Clock ticks after boot: with the pid, it names the process across pid reuse.
    pub(crate) start_ticks: u64,
    pub(crate) zombie: bool,
}

/// Parses the text of `/proc/<pid>/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from its last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcFacts> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_whitespace().next()?.parse().ok()?;
    // Fields after the name: state (3), ppid, pgrp, session (6), ..., starttime (22).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcFacts {
        pid,
        parent: fields.get(1)?.parse().ok()?,
        zombie: matches!(*fields.first()?, "Z" | "X"),
        session: fields.get(3)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// The main process among a cgroup's processes: a living session leader whose parent is not
/// in the cgroup (the lowest pid if, oddly, there are several).
pub(crate) fn main_process(procs: &[ProcFacts]) -> Option<ProcFacts> {
    procs
        .iter()
        .filter(|p| !p.zombie && i64::from(p.pid) == p.session)
        .filter(|p| procs.iter().all(|other| other.pid != p.parent))
        .min_by_key(|p| p.pid)
        .copied()
}

pub(crate) fn read_facts(pid: u32) -> Option<ProcFacts> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether the process that had `start_ticks` still lives under `pid`.
pub(crate) fn still_running(pid: u32, start_ticks: u64) -> bool {
    read_facts(pid).is_some_and(|facts| facts.start_ticks == start_ticks && !facts.zombie)
}

/// When a process started, from its start ticks.
pub(crate) fn start_time(start_ticks: u64) -> SystemTime {
    let boot = procfs::boot_time_secs().unwrap_or_default();
    let ticks = procfs::ticks_per_second().max(1);
    SystemTime::UNIX_EPOCH
        + Duration::from_secs(boot)
        + Duration::from_millis(start_ticks.saturating_mul(1000) / ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (sleep (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100 18446744073709551615";

    #[test]
    fn stat_lines_parse_past_odd_command_names() {
        let facts = parse_stat(STAT).unwrap();
        assert_eq!(
            facts,
            ProcFacts {
                pid: 4242,
                parent: 1,
                session: 4242,
                start_ticks: 987_654,
                zombie: false
            }
        );
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("12 (x) S 1").is_none());
    }

    #[test]
    fn the_main_process_is_the_living_session_leader() {
        let leader = ProcFacts {
            pid: 10,
            parent: 1,
            session: 10,
            start_ticks: 1,
            zombie: false,
        };
        let child = ProcFacts {
            pid: 11,
            parent: 10,
            session: 10,
            start_ticks: 2,
            zombie: false,
        };
        let dead = ProcFacts {
            pid: 9,
            parent: 1,
            session: 9,
            start_ticks: 0,
            zombie: true,
        };
        // An isolated container's command leads its own session under the init.
        let command = ProcFacts {
            pid: 5,
            parent: 10,
            session: 5,
            start_ticks: 3,
            zombie: false,
        };
        assert_eq!(main_process(&[child, leader, dead]), Some(leader));
        assert_eq!(main_process(&[command, leader, child]), Some(leader));
        assert_eq!(main_process(&[child, dead]), None);
        assert_eq!(main_process(&[]), None);
    }

    #[test]
    fn this_process_is_running_and_a_wrong_start_is_not() {
        let me = read_facts(std::process::id()).unwrap();
        assert!(still_running(me.pid, me.start_ticks));
        assert!(!still_running(me.pid, me.start_ticks + 1));
        assert!(start_time(me.start_ticks) <= SystemTime::now());
    }
}
