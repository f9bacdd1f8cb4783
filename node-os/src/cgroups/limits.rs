//! The resource limits of one cgroup, and how they are spelled in the kernel's files.
//!
//! The conversions are pure functions so the awkward parts (cgroup v1's "unlimited" memory
//! value, v2's CPU weight in place of v1's shares) are unit tested without a kernel.

/// The CFS period the kernel uses when none is set, in microseconds.
pub const DEFAULT_CPU_PERIOD_MICROS: u64 = 100_000;

/// cgroup v1's `cpu.shares` when nothing was written.
pub(crate) const V1_DEFAULT_SHARES: u64 = 1024;

/// cgroup v2's `cpu.weight` when nothing was written.
pub(crate) const V2_DEFAULT_WEIGHT: u64 = 100;

const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;
const MIN_WEIGHT: u64 = 1;
const MAX_WEIGHT: u64 = 10_000;

/// cgroup v1 reports "no memory limit" as the largest page-aligned `i64`
/// (9223372036854771712 with 4 KiB pages); anything from 2^62 bytes up cannot be a real limit.
const V1_UNLIMITED_FROM: u64 = 1 << 62;

/// Limits applied to one cgroup. `None` means "no limit" (or, for `cpu_shares`, the kernel's
/// default weight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Hard memory limit in bytes (`memory.limit_in_bytes` / `memory.max`). The kernel rounds
    /// it down to whole pages.
    pub memory_bytes: Option<u64>,
    /// CPU time the group may use per period, in microseconds (`cpu.cfs_quota_us` /
    /// `cpu.max`); the kernel accepts 1000 and above.
    pub cpu_quota_micros: Option<i64>,
    /// The CFS period, in microseconds (1000 to 1000000).
    pub cpu_period_micros: u64,
    /// Most processes (and threads) the group may hold (`pids.max`).
    pub pids_max: Option<u64>,
    /// Relative CPU weight in cgroup v1 `cpu.shares` units (2 to 262144; values outside are
    /// clamped). On cgroup v2 it is converted to and from `cpu.weight`, so a value read back
    /// there is the nearest shares value the weight represents. `None` is the kernel default.
    pub cpu_shares: Option<u64>,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            memory_bytes: None,
            cpu_quota_micros: None,
            cpu_period_micros: DEFAULT_CPU_PERIOD_MICROS,
            pids_max: None,
            cpu_shares: None,
        }
    }
}

/// The `cpu.shares` value to write on cgroup v1.
pub(crate) fn v1_shares(shares: Option<u64>) -> u64 {
    shares.map_or(V1_DEFAULT_SHARES, |s| s.clamp(MIN_SHARES, MAX_SHARES))
}

/// The `cpu_shares` a cgroup v1 `cpu.shares` value stands for.
pub(crate) fn shares_from_v1(raw: u64) -> Option<u64> {
    (raw != V1_DEFAULT_SHARES).then_some(raw)
}

/// The `cpu.weight` to write on cgroup v2, by the linear mapping runc and Kubernetes use.
pub(crate) fn v2_weight(shares: Option<u64>) -> u64 {
    shares.map_or(V2_DEFAULT_WEIGHT, |s| {
        let s = s.clamp(MIN_SHARES, MAX_SHARES);
        MIN_WEIGHT + ((s - MIN_SHARES) * (MAX_WEIGHT - MIN_WEIGHT)) / (MAX_SHARES - MIN_SHARES)
    })
}

/// The `cpu_shares` a cgroup v2 `cpu.weight` value stands for (the inverse of [`v2_weight`],
/// rounded down).
pub(crate) fn shares_from_v2(weight: u64) -> Option<u64> {
    if weight == V2_DEFAULT_WEIGHT {
        return None;
    }
    let w = weight.clamp(MIN_WEIGHT, MAX_WEIGHT);
    Some(MIN_SHARES + ((w - MIN_WEIGHT) * (MAX_SHARES - MIN_SHARES)) / (MAX_WEIGHT - MIN_WEIGHT))
}

/// The memory limit a cgroup v1 `memory.limit_in_bytes` value stands for.
pub(crate) fn memory_from_v1(raw: u64) -> Option<u64> {
    (raw < V1_UNLIMITED_FROM).then_some(raw)
}

/// The quota a `cpu.cfs_quota_us` value (or cgroup v2 `cpu.max`, where "max" reads as -1)
/// stands for.
pub(crate) fn quota_from_kernel(raw: i64) -> Option<i64> {
    (raw >= 0).then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_unlimited_with_the_kernel_period() {
        let limits = ResourceLimits::default();
        assert_eq!(limits.cpu_period_micros, 100_000);
        assert_eq!(limits.memory_bytes, None);
        assert_eq!(limits.cpu_quota_micros, None);
        assert_eq!(limits.pids_max, None);
        assert_eq!(limits.cpu_shares, None);
    }

    #[test]
    fn v1_shares_round_trip_and_default() {
        assert_eq!(v1_shares(None), 1024);
        assert_eq!(shares_from_v1(1024), None);
        assert_eq!(v1_shares(Some(512)), 512);
        assert_eq!(shares_from_v1(512), Some(512));
        assert_eq!(v1_shares(Some(0)), 2);
        assert_eq!(v1_shares(Some(u64::MAX)), 262_144);
    }

    #[test]
    fn v2_weight_maps_the_shares_range_onto_the_weight_range() {
        assert_eq!(v2_weight(None), 100);
        assert_eq!(shares_from_v2(100), None);
        assert_eq!(v2_weight(Some(2)), 1);
        assert_eq!(v2_weight(Some(262_144)), 10_000);
        assert_eq!(v2_weight(Some(1024)), 39);
        assert_eq!(shares_from_v2(1), Some(2));
        assert_eq!(shares_from_v2(10_000), Some(262_144));
        for shares in [2, 100, 512, 2048, 100_000] {
            let back = shares_from_v2(v2_weight(Some(shares))).unwrap();
            assert!(back <= shares && shares - back < 28, "{shares} -> {back}");
        }
    }

    #[test]
    fn v1_unlimited_memory_reads_as_none() {
        assert_eq!(memory_from_v1(9_223_372_036_854_771_712), None);
        assert_eq!(memory_from_v1(64 << 20), Some(64 << 20));
    }

    #[test]
    fn negative_quota_is_unlimited() {
        assert_eq!(quota_from_kernel(-1), None);
        assert_eq!(quota_from_kernel(50_000), Some(50_000));
    }
}
