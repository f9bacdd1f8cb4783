//! `DeleteOptions`: how a delete treats the object's dependents and a pod's grace period, and
//! what must still hold of the object for the delete to go ahead — Kubernetes' fields, as far
//! as flotilla honours them.

use serde::{Deserialize, Serialize};

/// The finalizer a Foreground delete sets: the object stays until the garbage collector has
/// deleted its dependents that block owner deletion.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// The finalizer an Orphan delete sets: the object stays until the garbage collector has removed
/// it from its dependents' owner references.
pub const ORPHAN_FINALIZER: &str = "orphan";

/// How a deletion treats the deleted object's dependents (`propagationPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PropagationPolicy {
    /// The object goes at once; the garbage collector deletes its dependents afterwards.
    Background,
    /// The object stays, marked, until the garbage collector has deleted its dependents that
    /// block owner deletion (finalizer `foregroundDeletion`).
    Foreground,
    /// The object stays, marked, until the garbage collector has removed it from its
    /// dependents' owner references (finalizer `orphan`); the dependents live on.
    Orphan,
}

impl PropagationPolicy {
    /// kubectl's `--cascade` values (`background`, `foreground`, `orphan`).
    pub fn from_cascade(value: &str) -> Option<Self> {
        match value {
            "background" => Some(Self::Background),
            "foreground" => Some(Self::Foreground),
            "orphan" => Some(Self::Orphan),
            _ => None,
        }
    }
}

/// What must still hold of the object for a delete to go ahead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

/// The options of one delete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOptions {
    /// Seconds a pod on a node is given to stop (`Some(0)`: at once); `None`: its own setting.
    pub grace_period_seconds: Option<i64>,
    /// `None`: the kind's default, Background.
    pub propagation_policy: Option<PropagationPolicy>,
    pub preconditions: Option<Preconditions>,
}

impl DeleteOptions {
    /// Options with only a grace period.
    pub fn grace(grace_period_seconds: Option<i64>) -> Self {
        Self {
            grace_period_seconds,
            ..Self::default()
        }
    }
}
