//! The garbage collector: deletes objects whose owners are gone, and carries out the
//! Foreground and Orphan deletions the API marks with finalizers — for every kind the API
//! serves, as owner and as dependent, with Kubernetes' rules (see [`plan`]).
//!
//! It watches every kind in [`Kind::ALL`] and keeps only what the collection needs of each
//! object in a [`Graph`] (owners by uid, and the reverse index from owner to dependents), so a
//! reconcile reads memory, not the cluster. Its key is an object's uid; events queue the
//! object, and the dependents or owners its change concerns (see [`Graph::apply`]). Before it
//! acts on an owner the graph does not hold — the owner's watch may simply be behind — a live
//! read confirms the owner is gone, and every write names the uid it was decided for.

mod graph;
pub mod plan;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use flotilla_kernel::api::{
    ApiClient, ClientError, DeleteOptions, ErrorCode, EventType, Preconditions,
};
use flotilla_kernel::object::{Kind, Object};

use self::graph::Graph;
pub use self::graph::Node;
use self::plan::{Effect, OwnerLocation, Target, plan, unverified_owners};
use super::driver::{Action, Controller, Watches};

/// The garbage collector and its graph.
#[derive(Default)]
pub struct GarbageCollector {
    graph: Graph,
}

impl fmt::Debug for GarbageCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GarbageCollector")
            .field("objects", &self.graph.len())
            .finish()
    }
}

/// A change to an object of any kind, as the graph keeps it.
#[derive(Debug)]
pub struct GcEvent {
    pub event: EventType,
    pub node: Node,
}

/// Why one reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("reading {kind} {name:?}, an owner of {dependent}")]
    ReadOwner {
        kind: Kind,
        name: String,
        dependent: String,
        #[source]
        source: ClientError,
    },
    #[error("{action} {target}")]
    Write {
        action: &'static str,
        target: Target,
        #[source]
        source: ClientError,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace.as_str() {
            "" => write!(f, "{} {}", self.kind, self.name),
            namespace => write!(f, "{} {namespace}/{}", self.kind, self.name),
        }
    }
}

impl Controller for GarbageCollector {
    const NAME: &'static str = "garbage-collector";
    type Key = String;
    type Event = GcEvent;
    type Error = GcError;

    async fn open_watches(watches: &mut Watches<GcEvent>) -> Result<(), ClientError> {
        for kind in Kind::ALL {
            watches
                .open_kind(kind, |watched| GcEvent {
                    event: watched.event,
                    node: Node::of(&watched.object),
                })
                .await?;
        }
        Ok(())
    }

    fn route(&mut self, event: GcEvent) -> Vec<String> {
        self.graph.apply(event.event, event.node)
    }

    async fn resync(&mut self, _api: &ApiClient) -> Result<Vec<String>, ClientError> {
        Ok(self.graph.keys().cloned().collect())
    }

    async fn reconcile(&mut self, api: &ApiClient, uid: &String) -> Result<Action, GcError> {
        let mut absent = BTreeSet::new();
        for owner in unverified_owners(&self.graph, uid) {
            if owner_absent(api, &owner, uid).await? {
                absent.insert(owner.reference.uid);
            }
        }
        for effect in plan(&self.graph, uid, &absent) {
            perform(api, effect).await?;
        }
        Ok(Action::Done)
    }
}

/// Whether a live read finds no object with the owner's uid where the owner should be.
async fn owner_absent(
    api: &ApiClient,
    owner: &OwnerLocation,
    dependent: &str,
) -> Result<bool, GcError> {
    let reference = &owner.reference;
    match api
        .get_object(owner.kind, &owner.namespace, &reference.name)
        .await
    {
        Ok(found) => Ok(found.meta().uid != reference.uid),
        Err(e) if e.api_code() == Some(ErrorCode::NotFound) => Ok(true),
        Err(source) => Err(GcError::ReadOwner {
            kind: owner.kind,
            name: reference.name.clone(),
            dependent: dependent.to_string(),
            source,
        }),
    }
}

async fn perform(api: &ApiClient, effect: Effect) -> Result<(), GcError> {
    match effect {
        Effect::Delete {
            target,
            propagation,
        } => {
            let options = DeleteOptions {
                propagation_policy: Some(propagation),
                preconditions: Some(Preconditions {
                    uid: Some(target.uid.clone()),
                    resource_version: None,
                }),
                ..DeleteOptions::default()
            };
            let deleted = api
                .delete_with(target.kind, &target.namespace, &target.name, options)
                .await;
            match deleted {
                Ok(_) => {
                    tracing::info!(%target, ?propagation, "deleted a dependent whose owners are gone or deleting it");
                    Ok(())
                }
                // Gone already, or replaced by a new object of the same name.
                Err(e)
                    if matches!(
                        e.api_code(),
                        Some(ErrorCode::NotFound | ErrorCode::Conflict)
                    ) =>
                {
                    Ok(())
                }
                Err(source) => Err(GcError::Write {
                    action: "deleting",
                    target,
                    source,
                }),
            }
        }
        Effect::RemoveOwners { target, owner_uids } => {
            let edit = |object: &mut Object| {
                let owners = &mut object.meta_mut().owner_references;
                owners.retain(|r| !owner_uids.contains(&r.uid));
            };
            rewrite(api, target, "removing owner references from", edit).await
        }
        Effect::RemoveFinalizer { target, finalizer } => {
            let edit = |object: &mut Object| {
                object.meta_mut().finalizers.retain(|f| f != finalizer);
            };
            rewrite(api, target, "removing a finalizer from", edit).await
        }
    }
}

/// Reads the target fresh, edits its metadata and writes it back under its resourceVersion;
/// a target that is gone or replaced is left alone.
async fn rewrite(
    api: &ApiClient,
    target: Target,
    action: &'static str,
    edit: impl FnOnce(&mut Object),
) -> Result<(), GcError> {
    let fail = |target, source| GcError::Write {
        action,
        target,
        source,
    };
    let mut object = match api
        .get_object(target.kind, &target.namespace, &target.name)
        .await
    {
        Ok(object) if object.meta().uid == target.uid => object,
        Ok(_) => return Ok(()),
        Err(e) if e.api_code() == Some(ErrorCode::NotFound) => return Ok(()),
        Err(source) => return Err(fail(target, source)),
    };
    let before = object.meta().clone();
    edit(&mut object);
    if *object.meta() == before {
        return Ok(());
    }
    match api.update_object(&object).await {
        Ok(_) => {
            tracing::info!(%target, "garbage collector: {action}");
            Ok(())
        }
        Err(e) if e.api_code() == Some(ErrorCode::NotFound) => Ok(()),
        Err(source) => Err(fail(target, source)),
    }
}
