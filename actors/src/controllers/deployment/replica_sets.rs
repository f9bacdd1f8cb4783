//! A Deployment's ReplicaSets: which one is "new" (runs the current template), the old ones in
//! the order they are scaled down and pruned, revisions, and how a new one is made.

use std::cmp::Ordering;

use flotilla_kernel::object::{
    Deployment, LabelSelector, ObjectMeta, PodTemplateSpec, ReplicaSet, ReplicaSetSpec,
    ReplicaSetStatus, Resource,
};

use super::hash::POD_TEMPLATE_HASH;
use crate::controllers::ownership::controller_reference;

/// The annotation holding a ReplicaSet's revision number within its Deployment.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// The `replicas` a ReplicaSet asks for (the API server defaults it to 1).
pub fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

/// Sum of the `replicas` the ReplicaSets ask for.
pub fn total_replicas<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    sets.into_iter().map(replicas).sum()
}

/// Sum of the available replicas the ReplicaSets report.
pub fn total_available<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    sets.into_iter()
        .map(|rs| rs.status.available_replicas)
        .sum()
}

/// The revision annotation of `rs` (0 if missing or unreadable).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .get(REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Whether `rs` runs `template` (its own `pod-template-hash` label aside).
pub fn runs_template(rs: &ReplicaSet, template: &PodTemplateSpec) -> bool {
    let mut own = rs.spec.template.clone();
    own.metadata.labels.remove(POD_TEMPLATE_HASH);
    own == *template
}

/// Oldest first: by creation time, then by name.
pub fn by_age(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp;
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Splits the Deployment's ReplicaSets into the new one (the oldest running the current
/// template, whose hash is `hash`) and the old ones, oldest first.
///
/// A set labeled with the current hash counts as new even if its template differs in what
/// the API server filled in on creation, so a difference in defaulting can never make the
/// controller try to create it again.
pub fn split(
    deployment: &Deployment,
    owned: &[ReplicaSet],
    hash: &str,
) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
    let mut sets = owned.to_vec();
    sets.sort_by(by_age);
    let new = sets
        .iter()
        .position(|rs| {
            runs_template(rs, &deployment.spec.template)
                || rs
                    .metadata
                    .labels
                    .get(POD_TEMPLATE_HASH)
                    .map(String::as_str)
                    == Some(hash)
        })
        .map(|i| sets.remove(i));
    (new, sets)
}

/// The ReplicaSet that runs the Deployment's current template, named `<deployment>-<hash>`.
pub fn new_replica_set(
    deployment: &Deployment,
    hash: &str,
    revision: i64,
    replicas: i32,
) -> ReplicaSet {
    let mut template = deployment.spec.template.clone();
    template
        .metadata
        .labels
        .insert(POD_TEMPLATE_HASH.into(), hash.into());
    let mut selector: LabelSelector = deployment.spec.selector.clone();
    selector
        .match_labels
        .insert(POD_TEMPLATE_HASH.into(), hash.into());
    ReplicaSet {
        api_version: ReplicaSet::KIND.api_version().to_string(),
        kind: ReplicaSet::KIND.as_str().to_string(),
        metadata: ObjectMeta {
            name: format!("{}-{hash}", deployment.metadata.name),
            namespace: deployment.metadata.namespace.clone(),
            labels: template.metadata.labels.clone(),
            annotations: [(REVISION.to_string(), revision.to_string())].into(),
            owner_references: vec![controller_reference(Deployment::KIND, &deployment.metadata)],
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: deployment.spec.min_ready_seconds,
            selector,
            template,
        },
        status: ReplicaSetStatus::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use flotilla_kernel::object::Time;

    use super::*;

    fn deployment() -> Deployment {
        let mut d = Deployment::default();
        d.metadata.name = "web".into();
        d.metadata.namespace = "prod".into();
        d.metadata.uid = "d-uid".into();
        d.spec.min_ready_seconds = 3;
        d.spec.selector.match_labels = BTreeMap::from([("app".into(), "web".into())]);
        d.spec.template.metadata.labels = BTreeMap::from([("app".into(), "web".into())]);
        d
    }

    fn rs_created(name: &str, secs: u64, template: &PodTemplateSpec) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = name.into();
        rs.metadata.creation_timestamp = Some(Time::from(
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        ));
        rs.spec.template = template.clone();
        rs
    }

    #[test]
    fn a_new_replica_set_carries_the_hash_revision_and_owner() {
        let d = deployment();
        let rs = new_replica_set(&d, "abc", 4, 2);
        assert_eq!(rs.metadata.name, "web-abc");
        assert_eq!(rs.metadata.namespace, "prod");
        assert_eq!(rs.kind, "ReplicaSet");
        assert_eq!(rs.api_version, "apps/v1");
        assert_eq!(
            rs.metadata
                .labels
                .get(POD_TEMPLATE_HASH)
                .map(String::as_str),
            Some("abc")
        );
        assert_eq!(
            rs.spec
                .template
                .metadata
                .labels
                .get(POD_TEMPLATE_HASH)
                .map(String::as_str),
            Some("abc")
        );
        assert_eq!(
            rs.spec
                .selector
                .match_labels
                .get(POD_TEMPLATE_HASH)
                .map(String::as_str),
            Some("abc")
        );
        assert_eq!(revision(&rs), 4);
        assert_eq!(rs.spec.replicas, Some(2));
        assert_eq!(rs.spec.min_ready_seconds, 3);
        let owner = &rs.metadata.owner_references[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Deployment", "d-uid")
        );
        assert!(runs_template(&rs, &d.spec.template));
    }

    #[test]
    fn split_finds_the_new_set_and_orders_the_old_ones() {
        let d = deployment();
        let mut other = d.spec.template.clone();
        other.metadata.labels.insert("v".into(), "1".into());
        let owned = [
            rs_created("c", 30, &other),
            rs_created("new", 20, &d.spec.template),
            rs_created("a", 10, &other),
            rs_created("b", 10, &other),
        ];
        let (new, old) = split(&d, &owned, "h1");
        assert_eq!(new.map(|rs| rs.metadata.name), Some("new".into()));
        let names: Vec<_> = old.iter().map(|rs| rs.metadata.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn the_hash_label_identifies_the_new_set_too() {
        let d = deployment();
        let mut defaulted = rs_created("web-h1", 10, &d.spec.template);
        defaulted
            .spec
            .template
            .spec
            .termination_grace_period_seconds = Some(30);
        defaulted
            .metadata
            .labels
            .insert(POD_TEMPLATE_HASH.into(), "h1".into());
        let (new, old) = split(&d, &[defaulted], "h1");
        assert_eq!(new.map(|rs| rs.metadata.name), Some("web-h1".into()));
        assert!(old.is_empty());
    }

    #[test]
    fn revisions_default_to_zero() {
        let mut rs = ReplicaSet::default();
        assert_eq!(revision(&rs), 0);
        rs.metadata.annotations.insert(REVISION.into(), "x".into());
        assert_eq!(revision(&rs), 0);
        rs.metadata.annotations.insert(REVISION.into(), "7".into());
        assert_eq!(revision(&rs), 7);
    }
}
