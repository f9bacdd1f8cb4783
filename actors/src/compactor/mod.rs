//! The compactor: drops the store's history older than `--auto-compaction-retention`, like
//! etcd's `--auto-compaction-mode=periodic`, so lease renewals and status updates do not grow
//! the store until its quota stops every write.
//!
//! A thin actor around the pure [`Periodic`] policy: on each tick it asks the policy whether a
//! compaction is due, runs it on the blocking pool (it rewrites RocksDB files, and the process
//! has one runtime thread), tells the policy how it went and records it for `store status`. A
//! failed compaction is logged and retried at the next tick, as etcd does; a compaction that
//! panics fails the actor, and its supervisor starts a new one with a fresh policy.

mod periodic;
mod status;

use std::time::{Instant, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use flotilla_store::Store;

use crate::controllers::driver::chain;

pub use periodic::Periodic;
pub use status::{AutoCompaction, CompactionRecord, LastCompaction};

/// Name under which the compactor runs.
pub const COMPACTOR: &str = "compactor";

pub struct Compactor;

pub struct CompactorArgs {
    pub store: Store,
    /// Holds the retention (zero: off) and receives every compaction.
    pub record: CompactionRecord,
}

pub struct CompactorState {
    store: Store,
    record: CompactionRecord,
    /// `None` when automatic compaction is off: the actor then only waits to be stopped.
    policy: Option<Periodic>,
}

/// Time to look at the policy again.
pub struct Tick;

impl Actor for Compactor {
    type Msg = Tick;
    type State = CompactorState;
    type Arguments = CompactorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Tick>,
        args: CompactorArgs,
    ) -> Result<CompactorState, ActorProcessingErr> {
        let retention = args.record.get().retention;
        let policy = Periodic::new(retention, Instant::now(), args.store.revision());
        match &policy {
            Some(policy) => {
                tracing::info!(?retention, "automatic compaction keeps this much history");
                myself.send_after(policy.tick_interval(), || Tick);
            }
            None => tracing::info!("automatic compaction is off"),
        }
        Ok(CompactorState {
            store: args.store,
            record: args.record,
            policy,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Tick>,
        _: Tick,
        state: &mut CompactorState,
    ) -> Result<(), ActorProcessingErr> {
        let Some(policy) = state.policy.as_mut() else {
            return Ok(());
        };
        if let Some(revision) = policy.due(Instant::now()) {
            let store = state.store.clone();
            let started = Instant::now();
            match tokio::task::spawn_blocking(move || store.compact(revision)).await? {
                Ok(()) => {
                    policy.compacted(Instant::now());
                    state.record.compacted(revision, SystemTime::now());
                    tracing::info!(
                        revision,
                        took = ?started.elapsed(),
                        "completed automatic compaction"
                    );
                }
                Err(error) => tracing::warn!(
                    revision,
                    retry_in = ?policy.tick_interval(),
                    error = chain(&error),
                    "automatic compaction failed"
                ),
            }
        }
        policy.sample(state.store.revision());
        myself.send_after(policy.tick_interval(), || Tick);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use flotilla_store::Expect;

    #[tokio::test]
    async fn compacts_the_history_older_than_the_retention_and_records_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..5u8 {
            store.put(b"k", &[i], Expect::Any).unwrap();
        }
        let record = CompactionRecord::new(Duration::from_millis(200));
        let args = CompactorArgs {
            store: store.clone(),
            record: record.clone(),
        };
        let (compactor, stopped) = Actor::spawn(None, Compactor, args).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while record.get().last.is_none() {
            assert!(Instant::now() < deadline, "no compaction within 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The first compaction goes through the revision current when the compactor started.
        assert_eq!(record.get().last.map(|last| last.revision), Some(5));
        assert_eq!(store.status().unwrap().compact_revision, 5);
        compactor.stop(None);
        stopped.await.unwrap();
    }
}
