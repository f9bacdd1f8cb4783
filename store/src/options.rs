//! Tunables of a store and the clock it reads, gathered in one plain struct so the binary's
//! configuration (and tests) can set them without touching the code that uses them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the store reads the wall-clock time, in milliseconds since the Unix epoch. Lease
/// deadlines and revision timestamps (for retention compaction) use it; tests step a fake one.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // A clock set before 1970 reads as the epoch: leases then simply expire late.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
            })
    }
}

/// How a store behaves; [`StoreOptions::default`] gives etcd's defaults where etcd has one.
#[derive(Clone)]
pub struct StoreOptions {
    /// Largest request (key and value bytes of one transaction) accepted; etcd's 1.5 MiB.
    pub max_request_bytes: usize,
    /// Size of the data directory at which the `no space` alarm is raised; etcd's 8 GiB.
    pub quota_bytes: u64,
    /// How many not yet received revisions a watcher may have buffered before it is
    /// cancelled for falling behind.
    pub watch_buffer: usize,
    /// How often a watcher that asked for progress notifications and received nothing since
    /// the last tick is told the current revision.
    pub progress_interval: Duration,
    /// How often expired leases are looked for.
    pub lease_check_interval: Duration,
    /// Most requests one group commit (one synced write) carries.
    pub max_batch: usize,
    /// The wall clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_request_bytes: 3 * 512 * 1024,
            quota_bytes: 8 * 1024 * 1024 * 1024,
            watch_buffer: 4096,
            progress_interval: Duration::from_secs(10),
            lease_check_interval: Duration::from_millis(500),
            max_batch: 1024,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("max_request_bytes", &self.max_request_bytes)
            .field("quota_bytes", &self.quota_bytes)
            .field("watch_buffer", &self.watch_buffer)
            .field("progress_interval", &self.progress_interval)
            .field("lease_check_interval", &self.lease_check_interval)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}
