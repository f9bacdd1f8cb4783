//! Linearizability checking for histories recorded against a concurrent
//! key-value store.
//!
//! A history is linearizable if every operation can be given a single point
//! in time, between its call and its return, such that executing the
//! operations one by one in that order against a sequential [`Model`]
//! produces exactly the outputs the clients observed.
//!
//! The search is Wing & Gong's: walk the call/return events in time order,
//! tentatively linearize any pending operation whose call precedes every
//! pending return, and backtrack when a return is reached whose operation
//! could not be placed. Lowe's memoization makes it practical: a
//! configuration (set of linearized operations, model state) already
//! explored cannot lead anywhere new, so it is pruned.
//!
//! Two refinements keep real histories tractable:
//! - Linearizability is local, so operations are partitioned (per key for
//!   [`KvModel`]) and each partition is searched on its own.
//! - Operations whose outcome the client never learned (timeouts, lost
//!   connections, crashes) are [`Outcome::Unknown`], as in Knossos: they may
//!   take effect at any point after their call, or never, and only the
//!   operations that returned must be explained.
//!
//! The search is exponential in the worst case, so it runs under a budget of
//! explored configurations and answers [`Verdict::Undecided`] rather than
//! hanging a test.

pub mod history;
pub mod kv;
mod search;

pub use history::{History, HistoryError, OpId, Operation, Outcome};
pub use kv::{KvInput, KvModel, KvOutput, KvVerdict, check_kv};
pub use search::{DEFAULT_BUDGET, Model, ModelVerdict, Verdict, Violation, check};
