//! The ownership graph: every object the API serves, as far as garbage collection cares (its
//! coordinates, owner references, deletion mark and finalizers), with the reverse index from
//! an owner's uid to its dependents — Kubernetes' `GraphBuilder`, fed by one watch per kind.
//! An owner that is referenced but not (yet) seen has no node: the collector confirms its
//! absence with a live read before acting on it.

use std::collections::{BTreeMap, BTreeSet};

use flotilla_kernel::api::{EventType, FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use flotilla_kernel::object::{Kind, Object, OwnerReference};

/// One object in the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub owners: Vec<OwnerReference>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl Node {
    /// The graph's view of `object`.
    pub fn of(object: &Object) -> Self {
        let meta = object.meta();
        Self {
            kind: object.kind(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            owners: meta.owner_references.clone(),
            deleting: meta.deletion_timestamp.is_some(),
            finalizers: meta.finalizers.clone(),
        }
    }

    pub fn has_finalizer(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }

    /// Being deleted, and waiting for the collector to finish its dependents first.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND_FINALIZER)
    }

    /// Being deleted, and waiting for the collector to orphan its dependents.
    pub fn orphaning(&self) -> bool {
        self.deleting && self.has_finalizer(ORPHAN_FINALIZER)
    }
}

/// The objects by uid, and who depends on whom.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: BTreeMap<String, Node>,
    /// Owner uid → the uids of the objects that name it in an owner reference.
    dependents: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The objects that name `owner_uid` in an owner reference.
    pub fn dependents(&self, owner_uid: &str) -> impl Iterator<Item = &Node> {
        self.dependents
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.nodes.get(uid))
    }

    /// The dependents whose reference to `owner_uid` has `blockOwnerDeletion: true`: a
    /// foreground deletion of the owner waits for them.
    pub fn blocking_dependents(&self, owner_uid: &str) -> impl Iterator<Item = &Node> {
        self.dependents(owner_uid).filter(move |dependent| {
            dependent
                .owners
                .iter()
                .any(|r| r.uid == owner_uid && r.block_owner_deletion == Some(true))
        })
    }

    /// The uids the collector has work for: objects with owners, and objects being deleted
    /// that wait for it.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.nodes
            .values()
            .filter(|node| needs_collector(node))
            .map(|node| &node.uid)
    }

    /// Files a watch event and returns the uids to reconcile because of it: the object itself
    /// when it has owners or waits for the collector; its dependents when it goes away or starts
    /// a foreground deletion; its owners when it goes away (a foreground deletion may be
    /// waiting for it).
    pub fn apply(&mut self, event: EventType, node: Node) -> Vec<String> {
        let uid = node.uid.clone();
        if let Some(old) = self.nodes.remove(&uid) {
            self.unlink(&old);
        }
        let mut keys = Vec::new();
        if event == EventType::Deleted {
            keys.extend(self.dependents(&uid).map(|d| d.uid.clone()));
            keys.extend(node.owners.iter().map(|r| r.uid.clone()));
            keys.retain(|key| self.nodes.contains_key(key));
            return keys;
        }
        if node.deleting_dependents() {
            keys.extend(self.dependents(&uid).map(|d| d.uid.clone()));
        }
        if needs_collector(&node) {
            keys.push(uid.clone());
        }
        for owner in &node.owners {
            self.dependents
                .entry(owner.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        self.nodes.insert(uid, node);
        keys
    }

    fn unlink(&mut self, node: &Node) {
        for owner in &node.owners {
            if let Some(dependents) = self.dependents.get_mut(&owner.uid) {
                dependents.remove(&node.uid);
                if dependents.is_empty() {
                    self.dependents.remove(&owner.uid);
                }
            }
        }
    }
}

fn needs_collector(node: &Node) -> bool {
    !node.owners.is_empty() || node.deleting_dependents() || node.orphaning()
}
