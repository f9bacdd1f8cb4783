//! The garbage collector: cascading deletion in the background. A ReplicaSet or Pod whose
//! controller reference names an owner that no longer exists (no object of that kind and
//! name, or one with another uid — a new object under the old name) is deleted; deleting a
//! ReplicaSet orphans its pods, which the next pass deletes in turn.
//!
//! Its key is a namespace: a pass lists the namespace's ReplicaSets, pods, Deployments,
//! DaemonSets and StatefulSets, picks the dependents whose owner uid is missing from the listing (the pure
//! [`orphan_candidates`]) and confirms each by reading the owner before deleting, so an owner
//! created after the listing is never mistaken for gone. Passes run when a Deployment,
//! ReplicaSet, DaemonSet or StatefulSet is deleted and at every resync.

use std::collections::BTreeSet;

use flotilla_kernel::api::{ApiClient, ClientError, ErrorCode, EventType, Watched};
use flotilla_kernel::object::{
    DaemonSet, Deployment, Kind, Namespace, OwnerReference, Pod, ReplicaSet, StatefulSet,
};

use super::driver::{Action, Controller, Watches};
use super::ownership::is_terminating;

/// The garbage collector (stateless between passes).
#[derive(Debug, Default)]
pub struct GarbageCollector;

/// What the garbage collector watches: owners, for their deletions.
#[derive(Debug)]
pub enum OwnerEvent {
    Deployment(Watched<Deployment>),
    ReplicaSet(Watched<ReplicaSet>),
    DaemonSet(Box<Watched<DaemonSet>>),
    StatefulSet(Box<Watched<StatefulSet>>),
}

/// An object that has a controlling owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependent {
    pub kind: Kind,
    pub name: String,
    pub owner: OwnerReference,
}

/// Why one pass over a namespace failed.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("listing the {what} of namespace {namespace}")]
    List {
        namespace: String,
        what: &'static str,
        #[source]
        source: ClientError,
    },
    #[error("reading {kind} {name}, owner of {dependent} in namespace {namespace}")]
    ReadOwner {
        namespace: String,
        kind: String,
        name: String,
        dependent: String,
        #[source]
        source: ClientError,
    },
    #[error("deleting orphaned {kind} {name} in namespace {namespace}")]
    Delete {
        namespace: String,
        kind: &'static str,
        name: String,
        #[source]
        source: ClientError,
    },
}

/// The kind of owner the collector understands, from a reference (others are left alone).
pub fn owner_kind(reference: &OwnerReference) -> Option<Kind> {
    [
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::DaemonSet,
        Kind::StatefulSet,
    ]
    .into_iter()
    .find(|k| reference.kind == k.as_str() && reference.api_version == k.api_version())
}

/// The live (not terminating) ReplicaSets and pods that have a controlling owner of a kind
/// the collector understands.
pub fn dependents(sets: &[ReplicaSet], pods: &[Pod]) -> Vec<Dependent> {
    let sets = sets.iter().map(|rs| (Kind::ReplicaSet, &rs.metadata));
    let pods = pods.iter().map(|p| (Kind::Pod, &p.metadata));
    sets.chain(pods)
        .filter(|(_, meta)| !is_terminating(meta))
        .filter_map(|(kind, meta)| {
            let owner = meta.controller_ref().filter(|r| owner_kind(r).is_some())?;
            Some(Dependent {
                kind,
                name: meta.name.clone(),
                owner: owner.clone(),
            })
        })
        .collect()
}

/// The dependents whose owner uid is not among `live_uids`.
pub fn orphan_candidates(dependents: Vec<Dependent>, live_uids: &BTreeSet<&str>) -> Vec<Dependent> {
    dependents
        .into_iter()
        .filter(|d| !live_uids.contains(d.owner.uid.as_str()))
        .collect()
}

/// Whether the owner named by `reference` is gone, given the uid of the object found under
/// its name (if any).
pub fn owner_gone(reference: &OwnerReference, found_uid: Option<&str>) -> bool {
    found_uid != Some(reference.uid.as_str())
}

impl Controller for GarbageCollector {
    const NAME: &'static str = "garbage-collector";
    type Key = String;
    type Event = OwnerEvent;
    type Error = GcError;

    async fn open_watches(watches: &mut Watches<OwnerEvent>) -> Result<(), ClientError> {
        watches.open("deployments", OwnerEvent::Deployment).await?;
        watches.open("replicasets", OwnerEvent::ReplicaSet).await?;
        watches
            .open("daemonsets", |w| OwnerEvent::DaemonSet(Box::new(w)))
            .await?;
        watches
            .open("statefulsets", |w| OwnerEvent::StatefulSet(Box::new(w)))
            .await
    }

    fn route(&mut self, event: OwnerEvent) -> Vec<String> {
        let (event, namespace) = match event {
            OwnerEvent::Deployment(w) => (w.event, w.object.metadata.namespace),
            OwnerEvent::ReplicaSet(w) => (w.event, w.object.metadata.namespace),
            OwnerEvent::DaemonSet(w) => (w.event, w.object.metadata.namespace),
            OwnerEvent::StatefulSet(w) => (w.event, w.object.metadata.namespace),
        };
        if event == EventType::Deleted {
            vec![namespace]
        } else {
            Vec::new()
        }
    }

    async fn resync(&mut self, api: &ApiClient) -> Result<Vec<String>, ClientError> {
        let (namespaces, _) = api.list::<Namespace>(None, None).await?;
        Ok(namespaces.into_iter().map(|n| n.metadata.name).collect())
    }

    async fn reconcile(&mut self, api: &ApiClient, namespace: &String) -> Result<Action, GcError> {
        let list_error = |what| {
            move |source| GcError::List {
                namespace: namespace.clone(),
                what,
                source,
            }
        };
        let (sets, _) = api
            .list::<ReplicaSet>(Some(namespace), None)
            .await
            .map_err(list_error("replicasets"))?;
        let (pods, _) = api
            .list::<Pod>(Some(namespace), None)
            .await
            .map_err(list_error("pods"))?;
        let (deployments, _) = api
            .list::<Deployment>(Some(namespace), None)
            .await
            .map_err(list_error("deployments"))?;
        let (daemon_sets, _) = api
            .list::<DaemonSet>(Some(namespace), None)
            .await
            .map_err(list_error("daemonsets"))?;
        let (stateful_sets, _) = api
            .list::<StatefulSet>(Some(namespace), None)
            .await
            .map_err(list_error("statefulsets"))?;
        let live: BTreeSet<&str> = sets
            .iter()
            .map(|rs| rs.metadata.uid.as_str())
            .chain(deployments.iter().map(|d| d.metadata.uid.as_str()))
            .chain(daemon_sets.iter().map(|d| d.metadata.uid.as_str()))
            .chain(stateful_sets.iter().map(|s| s.metadata.uid.as_str()))
            .collect();
        for orphan in orphan_candidates(dependents(&sets, &pods), &live) {
            if confirm_gone(api, namespace, &orphan).await? {
                delete(api, namespace, &orphan).await?;
            }
        }
        Ok(Action::Done)
    }
}

/// Reads the owner of `dependent` to make sure it is gone.
async fn confirm_gone(
    api: &ApiClient,
    namespace: &str,
    dependent: &Dependent,
) -> Result<bool, GcError> {
    let owner = &dependent.owner;
    let found = match owner_kind(owner) {
        Some(Kind::Deployment) => api
            .find::<Deployment>(namespace, &owner.name)
            .await
            .map(|d| d.map(|d| d.metadata.uid)),
        Some(Kind::ReplicaSet) => api
            .find::<ReplicaSet>(namespace, &owner.name)
            .await
            .map(|rs| rs.map(|rs| rs.metadata.uid)),
        Some(Kind::DaemonSet) => api
            .find::<DaemonSet>(namespace, &owner.name)
            .await
            .map(|d| d.map(|d| d.metadata.uid)),
        Some(Kind::StatefulSet) => api
            .find::<StatefulSet>(namespace, &owner.name)
            .await
            .map(|s| s.map(|s| s.metadata.uid)),
        _ => return Ok(false),
    };
    let found = found.map_err(|source| GcError::ReadOwner {
        namespace: namespace.to_string(),
        kind: owner.kind.clone(),
        name: owner.name.clone(),
        dependent: dependent.name.clone(),
        source,
    })?;
    Ok(owner_gone(owner, found.as_deref()))
}

async fn delete(api: &ApiClient, namespace: &str, orphan: &Dependent) -> Result<(), GcError> {
    match api.delete(orphan.kind, namespace, &orphan.name, None).await {
        Ok(_) => {
            tracing::info!(
                namespace,
                kind = orphan.kind.as_str(),
                name = %orphan.name,
                owner = %orphan.owner.name,
                "deleted orphan"
            );
            Ok(())
        }
        Err(e) if e.api_code() == Some(ErrorCode::NotFound) => Ok(()),
        Err(source) => Err(GcError::Delete {
            namespace: namespace.to_string(),
            kind: orphan.kind.as_str(),
            name: orphan.name.clone(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::object::{ObjectMeta, Time};

    use super::*;
    use crate::controllers::ownership::controller_reference;

    fn meta(name: &str, uid: &str, owner: Option<(Kind, &str, &str)>) -> ObjectMeta {
        let mut meta = ObjectMeta {
            name: name.into(),
            namespace: "prod".into(),
            uid: uid.into(),
            ..ObjectMeta::default()
        };
        if let Some((kind, owner_name, owner_uid)) = owner {
            let owner = ObjectMeta {
                name: owner_name.into(),
                uid: owner_uid.into(),
                ..ObjectMeta::default()
            };
            meta.owner_references = vec![controller_reference(kind, &owner)];
        }
        meta
    }

    fn rs(name: &str, uid: &str, owner: Option<(Kind, &str, &str)>) -> ReplicaSet {
        ReplicaSet {
            metadata: meta(name, uid, owner),
            ..ReplicaSet::default()
        }
    }

    fn pod(name: &str, owner: Option<(Kind, &str, &str)>) -> Pod {
        Pod {
            metadata: meta(name, &format!("{name}-uid"), owner),
            ..Pod::default()
        }
    }

    fn names(dependents: &[Dependent]) -> Vec<&str> {
        dependents.iter().map(|d| d.name.as_str()).collect()
    }

    #[test]
    fn orphans_are_dependents_whose_owner_uid_is_gone() {
        let sets = [
            rs("web-1", "rs1", Some((Kind::Deployment, "web", "d1"))),
            rs("api-1", "rs2", Some((Kind::Deployment, "api", "gone"))),
            rs("bare", "rs3", None),
        ];
        let pods = [
            pod("web-1-a", Some((Kind::ReplicaSet, "web-1", "rs1"))),
            pod("old-a", Some((Kind::ReplicaSet, "old", "gone-rs"))),
            pod("lonely", None),
        ];
        let live = BTreeSet::from(["rs1", "rs2", "rs3", "d1"]);
        let orphans = orphan_candidates(dependents(&sets, &pods), &live);
        assert_eq!(names(&orphans), ["api-1", "old-a"]);
        assert_eq!(orphans[0].kind, Kind::ReplicaSet);
        assert_eq!(orphans[1].kind, Kind::Pod);
    }

    #[test]
    fn terminating_dependents_and_unknown_owner_kinds_are_left_alone() {
        let mut terminating = pod("going", Some((Kind::ReplicaSet, "old", "gone")));
        terminating.metadata.deletion_timestamp = Some(Time::now());
        let mut foreign = pod("job-pod", Some((Kind::ReplicaSet, "batch", "gone")));
        foreign.metadata.owner_references[0].kind = "Job".into();
        foreign.metadata.owner_references[0].api_version = "batch/v1".into();
        let orphans = orphan_candidates(dependents(&[], &[terminating, foreign]), &BTreeSet::new());
        assert!(orphans.is_empty());
    }

    #[test]
    fn an_owner_is_gone_when_missing_or_replaced() {
        let reference = controller_reference(Kind::ReplicaSet, &meta("web-1", "rs1", None));
        assert!(owner_gone(&reference, None));
        assert!(owner_gone(&reference, Some("rs-new")));
        assert!(!owner_gone(&reference, Some("rs1")));
    }

    #[test]
    fn only_owner_deletions_wake_the_collector() {
        let mut gc = GarbageCollector;
        let event = |event| {
            OwnerEvent::ReplicaSet(Watched {
                event,
                object: rs("web-1", "rs1", None),
                revision: 1,
            })
        };
        assert_eq!(gc.route(event(EventType::Deleted)), ["prod"]);
        assert!(gc.route(event(EventType::Modified)).is_empty());
    }
}
