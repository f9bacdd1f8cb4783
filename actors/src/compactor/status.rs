//! What automatic compaction has done, shared between the compactor, which records it, and
//! the raw store service, which shows it to `flotilla store status`. It outlives compactor
//! restarts: the supervisor hands every new compactor the same record.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Automatic compaction as `flotilla store status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoCompaction {
    /// `--auto-compaction-retention`: history younger than this is kept; zero means off.
    pub retention: Duration,
    /// The last automatic compaction that succeeded, if any since the process started.
    pub last: Option<LastCompaction>,
}

/// One automatic compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCompaction {
    /// History was compacted through this revision.
    pub revision: u64,
    /// When it finished, by the server's clock.
    pub at: SystemTime,
}

/// The shared record; cheap to clone, clones share it.
#[derive(Debug, Clone)]
pub struct CompactionRecord(Arc<Mutex<AutoCompaction>>);

impl CompactionRecord {
    /// A record for a compactor keeping `retention` (zero: off) that has done nothing yet.
    pub fn new(retention: Duration) -> CompactionRecord {
        CompactionRecord(Arc::new(Mutex::new(AutoCompaction {
            retention,
            last: None,
        })))
    }

    pub fn get(&self) -> AutoCompaction {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Notes a successful compaction through `revision`, finished at `at`.
    pub fn compacted(&self, revision: u64, at: SystemTime) {
        // One assignment under the lock: a panic cannot leave it half-written.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).last =
            Some(LastCompaction { revision, at });
    }
}
