//! What the whole node uses, from procfs under a caller-chosen root as the [`inventory`]
//! is read: the CPU time all CPUs have spent busy since boot (the `cpu` line of `/proc/stat`,
//! every state but idle and iowait) and the memory in use (`MemTotal - MemAvailable` of
//! `/proc/meminfo`: what cannot be had back without swapping or killing). As with a cgroup's
//! usage, a CPU rate needs two readings.
//!
//! [`inventory`]: crate::inventory

use std::path::Path;

use crate::inventory::{InventoryError, ParseError, meminfo_bytes, read};

/// What the node has used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeUsage {
    /// CPU time spent busy since boot, summed over every CPU, in nanoseconds.
    pub cpu_usage_nanos: u64,
    /// Memory in use now, in bytes.
    pub memory_bytes: u64,
}

/// Reads the node's usage from the procfs mounted at `proc_root`.
pub fn read_node_usage(proc_root: &Path) -> Result<NodeUsage, InventoryError> {
    let stat_path = proc_root.join("stat");
    let busy_ticks =
        parse_busy_ticks(&read(&stat_path)?).map_err(|source| InventoryError::Parse {
            path: stat_path,
            source,
        })?;
    let meminfo_path = proc_root.join("meminfo");
    let memory_bytes =
        parse_memory_in_use(&read(&meminfo_path)?).map_err(|source| InventoryError::Parse {
            path: meminfo_path,
            source,
        })?;
    Ok(NodeUsage {
        cpu_usage_nanos: ticks_to_nanos(busy_ticks, procfs::ticks_per_second()),
        memory_bytes,
    })
}

/// The clock ticks all CPUs have spent busy, from the text of `/proc/stat`: the `cpu` line's
/// user, nice, system, irq, softirq and steal (guest time is already inside user and nice).
pub fn parse_busy_ticks(text: &str) -> Result<u64, ParseError> {
    const FIELD: &str = "cpu";
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("cpu "))
        .ok_or(ParseError::MissingField { field: FIELD })?;
    let bad = || ParseError::BadValue {
        field: FIELD,
        value: line.trim().to_string(),
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .map(|word| word.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal (guest guest_nice); kernels before 2.6.11
    // stopped before steal.
    let busy_states = [0, 1, 2, 5, 6, 7];
    if ticks.len() < 7 {
        return Err(bad());
    }
    Ok(busy_states
        .iter()
        .filter_map(|&state| ticks.get(state))
        .fold(0_u64, |sum, &t| sum.saturating_add(t)))
}

/// Memory in use in bytes, `MemTotal - MemAvailable`, from the text of `/proc/meminfo`.
pub fn parse_memory_in_use(text: &str) -> Result<u64, ParseError> {
    let total = meminfo_bytes(text, "MemTotal")?;
    let available = meminfo_bytes(text, "MemAvailable")?;
    Ok(total.saturating_sub(available))
}

/// Clock ticks (`ticks_per_second` of them a second) in nanoseconds.
pub fn ticks_to_nanos(ticks: u64, ticks_per_second: u64) -> u64 {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(ticks_per_second.max(1));
    u64::try_from(nanos).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    const STAT: &str = "cpu  100 20 30 5000 40 5 6 7 50 0\n\
                        cpu0 50 10 15 2500 20 2 3 3 25 0\n\
                        intr 12345\nctxt 999\n";

    const MEMINFO: &str = "MemTotal:        8000000 kB\n\
                           MemFree:         1000000 kB\n\
                           MemAvailable:    6000000 kB\n\
                           Buffers:          100000 kB\n";

    #[test]
    fn busy_time_leaves_out_idle_iowait_and_guests() {
        assert_eq!(parse_busy_ticks(STAT).unwrap(), 100 + 20 + 30 + 5 + 6 + 7);
        // Old kernels write no steal, guest or guest_nice.
        assert_eq!(
            parse_busy_ticks("cpu  1 2 3 4 5 6 7\n").unwrap(),
            1 + 2 + 3 + 6 + 7
        );
    }

    #[test]
    fn malformed_stat_is_refused() {
        assert!(matches!(
            parse_busy_ticks("cpu0 1 2 3 4 5 6 7\n"),
            Err(ParseError::MissingField { field: "cpu" })
        ));
        assert!(matches!(
            parse_busy_ticks("cpu  1 2 3\n"),
            Err(ParseError::BadValue { .. })
        ));
        assert!(matches!(
            parse_busy_ticks("cpu  1 2 x 4 5 6 7\n"),
            Err(ParseError::BadValue { .. })
        ));
    }

    #[test]
    fn memory_in_use_is_total_minus_available() {
        assert_eq!(
            parse_memory_in_use(MEMINFO).unwrap(),
            (8_000_000 - 6_000_000) * 1024
        );
        assert!(matches!(
            parse_memory_in_use("MemTotal: 8000000 kB\n"),
            Err(ParseError::MissingField {
                field: "MemAvailable"
            })
        ));
        assert!(matches!(
            parse_memory_in_use("MemTotal: 8 MB\nMemAvailable: 1 kB\n"),
            Err(ParseError::BadValue {
                field: "MemTotal",
                ..
            })
        ));
    }

    #[test]
    fn ticks_become_nanoseconds() {
        assert_eq!(ticks_to_nanos(150, 100), 1_500_000_000);
        assert_eq!(ticks_to_nanos(1, 250), 4_000_000);
        assert_eq!(ticks_to_nanos(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn reads_a_procfs_tree() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("stat"), STAT).unwrap();
        fs::write(root.path().join("meminfo"), MEMINFO).unwrap();
        let usage = read_node_usage(root.path()).unwrap();
        assert_eq!(usage.memory_bytes, 2_000_000 * 1024);
        assert_eq!(
            usage.cpu_usage_nanos,
            ticks_to_nanos(168, procfs::ticks_per_second())
        );
        let missing = read_node_usage(&root.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("nope/stat"), "{missing}");
    }

    #[test]
    fn reads_this_machine() {
        let usage = read_node_usage(Path::new("/proc")).unwrap();
        assert!(
            usage.cpu_usage_nanos > 0 && usage.memory_bytes > 0,
            "{usage:?}"
        );
    }
}
