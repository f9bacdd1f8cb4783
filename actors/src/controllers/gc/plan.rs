//! The collector's decisions for one object, as Kubernetes' garbage collector makes them
//! (`attemptToDeleteItem`, `orphanDependents`, `processDeletingDependentsItem`): pure functions
//! of the graph and of which owners a live read confirmed absent.
//!
//! An owner reference resolves to a kind the API serves by its `apiVersion` and `kind`, and to
//! an object by its `uid`, looked up in the dependent's namespace (or cluster-wide, for a
//! cluster-scoped owner kind). Each owner is then
//! - solid: it exists and is not deleting its dependents in the foreground;
//! - waiting: it exists and is being deleted in the foreground, waiting for its dependents;
//! - dangling: a live read found no object with its uid where it should be;
//! - unresolvable: its kind is not served, or a cluster-scoped dependent names a namespaced
//!   kind (Kubernetes never collects those; neither do we).
//!
//! A dependent with a solid (or unresolvable) owner stays, losing its references to dangling
//! and waiting owners. One whose owners are all dangling or waiting is deleted: in the
//! foreground when a waiting owner must wait for this object's own dependents too, else with
//! the policy its own finalizers ask for (Background when none).

use std::collections::BTreeSet;

use flotilla_kernel::api::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER, PropagationPolicy};
use flotilla_kernel::object::{Kind, OwnerReference};

use super::graph::{Graph, Node};

/// An object the collector writes to, named so a write cannot reach a newer object of the
/// same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Target {
    fn of(node: &Node) -> Self {
        Self {
            kind: node.kind,
            namespace: node.namespace.clone(),
            name: node.name.clone(),
            uid: node.uid.clone(),
        }
    }
}

/// One write the collector makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Delete {
        target: Target,
        propagation: PropagationPolicy,
    },
    /// Drop the references to these owner uids from the target.
    RemoveOwners {
        target: Target,
        owner_uids: Vec<String>,
    },
    /// The collector's work for this finalizer is done.
    RemoveFinalizer {
        target: Target,
        finalizer: &'static str,
    },
}

/// Where an owner reference points: its kind and the namespace it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerLocation {
    pub kind: Kind,
    pub namespace: String,
    pub reference: OwnerReference,
}

/// What one owner reference of a dependent amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerState {
    Solid,
    Waiting,
    Dangling,
    Unresolvable,
}

/// The kind an owner reference names, if the API serves it.
pub fn owner_kind(reference: &OwnerReference) -> Option<Kind> {
    Kind::ALL
        .into_iter()
        .find(|k| reference.kind == k.as_str() && reference.api_version == k.api_version())
}

/// Where `reference`, held by `dependent`, points; `None` when it cannot be resolved.
pub fn locate(dependent: &Node, reference: &OwnerReference) -> Option<OwnerLocation> {
    let kind = owner_kind(reference)?;
    let namespace = match (kind.namespaced(), dependent.kind.namespaced()) {
        (false, _) => String::new(),
        (true, true) => dependent.namespace.clone(),
        (true, false) => return None,
    };
    Some(OwnerLocation {
        kind,
        namespace,
        reference: reference.clone(),
    })
}

/// Whether the graph holds the object `location` points at, where it should be.
fn in_graph<'g>(graph: &'g Graph, location: &OwnerLocation) -> Option<&'g Node> {
    graph
        .get(&location.reference.uid)
        .filter(|owner| owner.kind == location.kind && owner.namespace == location.namespace)
}

/// The owners of `uid` the graph does not hold: only a live read can tell whether they are
/// gone or merely not seen yet. Empty for an object being deleted (it is no one's to collect).
pub fn unverified_owners(graph: &Graph, uid: &str) -> Vec<OwnerLocation> {
    let Some(node) = graph.get(uid).filter(|node| !node.deleting) else {
        return Vec::new();
    };
    node.owners
        .iter()
        .filter_map(|reference| locate(node, reference))
        .filter(|location| in_graph(graph, location).is_none())
        .collect()
}

/// The collector's writes for the object `uid`, given the owner uids a live read found absent.
pub fn plan(graph: &Graph, uid: &str, absent: &BTreeSet<String>) -> Vec<Effect> {
    let Some(node) = graph.get(uid) else {
        return Vec::new();
    };
    if node.orphaning() {
        return orphan(graph, node);
    }
    if node.deleting_dependents() {
        return match graph.blocking_dependents(uid).next() {
            Some(_) => Vec::new(),
            None => vec![Effect::RemoveFinalizer {
                target: Target::of(node),
                finalizer: FOREGROUND_FINALIZER,
            }],
        };
    }
    if node.deleting {
        return Vec::new();
    }
    collect(graph, node, absent)
}

/// Removes the orphaning owner from its dependents' references, then its finalizer.
fn orphan(graph: &Graph, owner: &Node) -> Vec<Effect> {
    graph
        .dependents(&owner.uid)
        .map(|dependent| Effect::RemoveOwners {
            target: Target::of(dependent),
            owner_uids: vec![owner.uid.clone()],
        })
        .chain([Effect::RemoveFinalizer {
            target: Target::of(owner),
            finalizer: ORPHAN_FINALIZER,
        }])
        .collect()
}

/// Deletes a dependent whose owners are all gone or leaving, or drops its references to
/// them when another owner remains.
fn collect(graph: &Graph, node: &Node, absent: &BTreeSet<String>) -> Vec<Effect> {
    let states: Vec<(&OwnerReference, OwnerState)> = node
        .owners
        .iter()
        .map(|reference| (reference, state(graph, node, reference, absent)))
        .collect();
    let uids_in = |wanted: &[OwnerState]| -> Vec<String> {
        states
            .iter()
            .filter(|(_, state)| wanted.contains(state))
            .map(|(reference, _)| reference.uid.clone())
            .collect()
    };
    let staying = uids_in(&[OwnerState::Solid, OwnerState::Unresolvable]);
    let leaving = uids_in(&[OwnerState::Dangling, OwnerState::Waiting]);
    if leaving.is_empty() {
        return Vec::new();
    }
    if !staying.is_empty() {
        return vec![Effect::RemoveOwners {
            target: Target::of(node),
            owner_uids: leaving,
        }];
    }
    let waiting = states.iter().any(|(_, s)| *s == OwnerState::Waiting);
    let propagation = if waiting && graph.dependents(&node.uid).next().is_some() {
        PropagationPolicy::Foreground
    } else if node.has_finalizer(ORPHAN_FINALIZER) {
        PropagationPolicy::Orphan
    } else if node.has_finalizer(FOREGROUND_FINALIZER) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    vec![Effect::Delete {
        target: Target::of(node),
        propagation,
    }]
}

fn state(
    graph: &Graph,
    dependent: &Node,
    reference: &OwnerReference,
    absent: &BTreeSet<String>,
) -> OwnerState {
    let Some(location) = locate(dependent, reference) else {
        return OwnerState::Unresolvable;
    };
    match in_graph(graph, &location) {
        Some(owner) if owner.deleting_dependents() => OwnerState::Waiting,
        Some(_) => OwnerState::Solid,
        None if absent.contains(&reference.uid) => OwnerState::Dangling,
        // A live read found it: the graph has not heard of it yet.
        None => OwnerState::Solid,
    }
}
