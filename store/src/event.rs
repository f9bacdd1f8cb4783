//! A change to one key, as watchers see it and as the revision log stores it.
//!
//! An event carries the key's state after the change and, when the key existed before, its
//! state before, so a watcher can react to the transition without a second read.

use serde::{Deserialize, Serialize};

use crate::kv::KeyValue;

/// What kind of change an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The key was created or overwritten.
    Put,
    /// The key was deleted.
    Delete,
}

/// One change to one key at one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Whether the key was written or deleted.
    pub kind: EventKind,
    /// For a put: the key's new state. For a delete: the key, an empty value,
    /// `mod_revision` set to the deletion revision and zero create revision and version.
    pub kv: KeyValue,
    /// The key's state just before this change, if it existed (and the watcher asked for it).
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision at which this change was committed.
    pub fn revision(&self) -> u64 {
        self.kv.mod_revision
    }
}
