//! The async runtime every flotilla process runs on: one thread for all its tasks.
//!
//! On its way in, a QUIC packet passes through three quinn tasks (the endpoint's, the
//! connection's, then the stream reader's) and an answer through two more on its way out. On a
//! multi-threaded runtime each of those steps can wake the other core, and on this kind of
//! machine a cross-core wake-up costs more than the packet's own work: 64 callers on one
//! connection made about 85 000 calls/s on two workers and 250 000 on one thread. So a process's
//! tasks share one thread, and work that blocks (fsync, RocksDB writes, file reads) goes to the
//! blocking pool or the store's own threads, never onto this one.

use std::io;
use tokio::runtime::Runtime;

/// Builds the runtime: one thread, with I/O, timers and signals.
pub fn build() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
