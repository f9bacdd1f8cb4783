//! The pure reconcile step of the Deployment controller: from the Deployment, its
//! ReplicaSets and (for Recreate) its namespace's pods, the ReplicaSets to create, update or
//! delete and the status to write. Like Kubernetes' controller it makes at most one kind of
//! scaling move per step (grow the new set, or shrink old ones) and relies on the next step,
//! triggered by the ReplicaSets' status changes, for the rest.

use std::time::Duration;

use flotilla_kernel::object::{
    DEFAULT_REVISION_HISTORY_LIMIT, Deployment, DeploymentStatus, Pod, PodPhase, ReplicaSet,
    StrategyType, Time,
};

use super::hash::template_hash;
use super::replica_sets::{REVISION, new_replica_set, replicas, revision, split, total_replicas};
use super::rolling::{
    FencepostError, Fenceposts, max_unavailable, new_replicas, scale_new, scale_old, set_replicas,
};
use super::status::{Progress, calculate, is_complete};
use crate::controllers::ownership::is_controlled_by;

/// How often a Recreate rollout looks whether the old pods are gone.
pub const RECREATE_POLL: Duration = Duration::from_secs(1);

/// One change the Deployment controller makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    CreateReplicaSet(ReplicaSet),
    /// Replace this ReplicaSet's metadata and spec (scale, revision, minReadySeconds).
    UpdateReplicaSet(ReplicaSet),
    DeleteReplicaSet(String),
    UpdateStatus(DeploymentStatus),
}

/// What one reconcile of a Deployment does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub effects: Vec<Effect>,
    /// Look again after this long (Recreate waiting for old pods to stop).
    pub requeue_after: Option<Duration>,
}

/// Plans one step of `deployment` given the ReplicaSets of its namespace and, for Recreate,
/// the pods of its namespace.
pub fn plan(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    now: &Time,
) -> Result<Plan, FencepostError> {
    let owned: Vec<ReplicaSet> = replica_sets
        .iter()
        .filter(|rs| is_controlled_by(&rs.metadata, &deployment.metadata.uid))
        .cloned()
        .collect();
    let desired = deployment.spec.replicas.unwrap_or(1).max(0);
    let strategy = &deployment.spec.strategy;
    let fenceposts = Fenceposts::resolve(strategy, desired)?;
    let unavailable = max_unavailable(strategy, fenceposts, desired);
    let hash = template_hash(&deployment.spec.template);
    let (existing_new, mut old) = split(deployment, &owned, &hash);
    let next_revision = old.iter().map(revision).max().unwrap_or(0) + 1;
    let mut new = existing_new.clone().map(|mut rs| {
        sync_new(deployment, &mut rs, next_revision);
        rs
    });

    let mut created = false;
    let mut waiting = false;
    let scaled = if deployment.spec.paused {
        match new.as_mut() {
            Some(rs) if total_replicas(&old) == 0 => set_replicas(rs, desired),
            _ => false,
        }
    } else {
        match strategy.type_ {
            StrategyType::RollingUpdate => match new.as_mut() {
                None => {
                    let count = new_replicas(desired, fenceposts, total_replicas(&old), 0);
                    new = Some(new_replica_set(deployment, &hash, next_revision, count));
                    created = true;
                    true
                }
                Some(rs) => {
                    scale_new(desired, fenceposts, rs, &old)
                        || scale_old(desired, unavailable, rs, &mut old)
                }
            },
            StrategyType::Recreate => {
                let mut scaled_down = false;
                for rs in &mut old {
                    scaled_down |= set_replicas(rs, 0);
                }
                if scaled_down {
                    true
                } else if old_pods_running(&old, pods) {
                    waiting = true;
                    false
                } else if let Some(rs) = new.as_mut() {
                    set_replicas(rs, desired)
                } else {
                    new = Some(new_replica_set(deployment, &hash, next_revision, desired));
                    created = true;
                    true
                }
            }
        }
    };

    let progress = match (deployment.spec.paused, created) {
        (true, _) => Progress::Paused,
        (false, true) => Progress::Created,
        (false, false) => Progress::Updating,
    };
    let status = calculate(deployment, new.as_ref(), &old, unavailable, progress, now);

    let mut effects = Vec::new();
    match (&existing_new, &new) {
        (None, Some(rs)) => effects.push(Effect::CreateReplicaSet(rs.clone())),
        (Some(before), Some(after)) if before != after => {
            effects.push(Effect::UpdateReplicaSet(after.clone()));
        }
        _ => {}
    }
    for rs in &old {
        let before = owned.iter().find(|o| o.metadata.name == rs.metadata.name);
        if before != Some(rs) {
            effects.push(Effect::UpdateReplicaSet(rs.clone()));
        }
    }
    if !scaled && !waiting && is_complete(deployment, &status, new.as_ref()) {
        effects.extend(
            prune(deployment, &old)
                .into_iter()
                .map(Effect::DeleteReplicaSet),
        );
    }
    if status != deployment.status {
        effects.push(Effect::UpdateStatus(status));
    }
    Ok(Plan {
        effects,
        requeue_after: waiting.then_some(RECREATE_POLL),
    })
}

/// Keeps the new ReplicaSet's revision above every old one (a rollback to an old template
/// makes that set new again) and its `minReadySeconds` equal to the Deployment's.
fn sync_new(deployment: &Deployment, rs: &mut ReplicaSet, next_revision: i64) {
    if revision(rs) < next_revision {
        rs.metadata
            .annotations
            .insert(REVISION.into(), next_revision.to_string());
    }
    rs.spec.min_ready_seconds = deployment.spec.min_ready_seconds;
}

/// Whether pods of the old ReplicaSets may still run (Recreate waits until none may).
fn old_pods_running(old: &[ReplicaSet], pods: &[Pod]) -> bool {
    if old.iter().any(|rs| rs.status.replicas > 0) {
        return true;
    }
    pods.iter().any(|pod| {
        old.iter()
            .any(|rs| is_controlled_by(&pod.metadata, &rs.metadata.uid))
            && !matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
    })
}

/// The old ReplicaSets beyond the revision history limit, lowest revision first, that are
/// scaled to zero and settled.
fn prune(deployment: &Deployment, old: &[ReplicaSet]) -> Vec<String> {
    let limit = deployment
        .spec
        .revision_history_limit
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
        .max(0);
    let mut alive: Vec<&ReplicaSet> = old
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    alive.sort_by_key(|rs| (revision(rs), rs.metadata.creation_timestamp));
    alive
        .into_iter()
        .take(excess)
        .filter(|rs| {
            replicas(rs) == 0
                && rs.status.replicas == 0
                && rs.status.observed_generation >= rs.metadata.generation
        })
        .map(|rs| rs.metadata.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use flotilla_kernel::object::{
        ConditionStatus, DeploymentCondition, DeploymentStrategy, IntOrString, Kind,
        RollingUpdateDeployment,
    };

    use super::*;

    use crate::controllers::ownership::controller_reference;

    fn at(s: u64) -> Time {
        Time::from(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s))
    }

    fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.name = "web".into();
        d.metadata.namespace = "prod".into();
        d.metadata.uid = "d-uid".into();
        d.metadata.generation = 1;
        d.spec.replicas = Some(replicas);
        d.spec.selector.match_labels = BTreeMap::from([("app".into(), "web".into())]);
        d.spec.template.metadata.labels = BTreeMap::from([("app".into(), "web".into())]);
        d.spec.template.spec.containers = vec![flotilla_kernel::object::Container {
            name: "web".into(),
            image: "web:1".into(),
            ..Default::default()
        }];
        d.spec.strategy = DeploymentStrategy {
            type_: StrategyType::RollingUpdate,
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavailable),
            }),
        };
        d
    }

    /// A toy cluster: the API server, the ReplicaSet controller and the node agents reduced
    /// to counts. Pods of a ReplicaSet appear at once and become available `ready_per_step`
    /// at a time; scaling down removes unavailable pods first.
    struct Cluster {
        deployment: Deployment,
        sets: Vec<ReplicaSet>,
        clock: u64,
        ready_per_step: i32,
    }

    impl Cluster {
        fn new(deployment: Deployment) -> Self {
            Self {
                deployment,
                sets: Vec::new(),
                clock: 0,
                ready_per_step: 2,
            }
        }

        /// Runs the controller once and applies its plan.
        fn reconcile(&mut self) -> Plan {
            self.clock += 1;
            let plan = plan(&self.deployment, &self.sets, &[], &at(self.clock)).unwrap();
            for effect in plan.effects.clone() {
                match effect {
                    Effect::CreateReplicaSet(mut rs) => {
                        assert!(
                            self.sets
                                .iter()
                                .all(|s| s.metadata.name != rs.metadata.name)
                        );
                        rs.metadata.uid = format!("uid-{}", rs.metadata.name);
                        rs.metadata.creation_timestamp = Some(at(self.clock));
                        rs.metadata.generation = 1;
                        self.sets.push(rs);
                    }
                    Effect::UpdateReplicaSet(rs) => {
                        let current = self.find(&rs.metadata.name);
                        let generation = current.metadata.generation + 1;
                        current.metadata = rs.metadata;
                        current.metadata.generation = generation;
                        current.spec = rs.spec;
                    }
                    Effect::DeleteReplicaSet(name) => {
                        self.sets.retain(|rs| rs.metadata.name != name);
                    }
                    Effect::UpdateStatus(status) => self.deployment.status = status,
                }
            }
            plan
        }

        /// The ReplicaSet controller and the node agents catch up with the specs.
        fn run_pods(&mut self) {
            for rs in &mut self.sets {
                let want = replicas(rs);
                rs.status.available_replicas = rs.status.available_replicas.min(want);
                let ready = (rs.status.available_replicas + self.ready_per_step).min(want);
                rs.status.available_replicas = ready;
                rs.status.ready_replicas = ready;
                rs.status.replicas = want;
                rs.status.fully_labeled_replicas = want;
                rs.status.observed_generation = rs.metadata.generation;
            }
        }

        fn find(&mut self, name: &str) -> &mut ReplicaSet {
            self.sets
                .iter_mut()
                .find(|rs| rs.metadata.name == name)
                .unwrap_or_else(|| panic!("no replicaset {name}"))
        }

        fn total_spec(&self) -> i32 {
            self.sets.iter().map(replicas).sum()
        }

        fn total_available(&self) -> i32 {
            self.sets
                .iter()
                .map(|rs| rs.status.available_replicas)
                .sum()
        }

        /// Starts from a settled first revision.
        fn settle(&mut self) {
            for _ in 0..50 {
                let plan = self.reconcile();
                let before = self.sets.clone();
                self.run_pods();
                if plan.effects.is_empty() && self.sets == before {
                    return;
                }
            }
            panic!("the deployment did not settle: {:?}", self.sets);
        }

        /// Rolls to a new image, checking the RollingUpdate invariants after every change.
        fn roll_to(&mut self, image: &str, max_total: i32, min_available: i32) -> usize {
            self.deployment.spec.template.spec.containers[0].image = image.into();
            self.deployment.metadata.generation += 1;
            for step in 1..200 {
                let plan = self.reconcile();
                assert!(
                    self.total_spec() <= max_total,
                    "step {step}: {} replicas asked for, more than {max_total}",
                    self.total_spec()
                );
                assert!(
                    self.total_available() >= min_available,
                    "step {step}: {} available, fewer than {min_available}",
                    self.total_available()
                );
                self.run_pods();
                assert!(self.total_available() >= min_available);
                if plan.effects.is_empty() {
                    return step;
                }
            }
            panic!("the rollout did not finish: {:?}", self.sets);
        }

        fn new_set(&self) -> &ReplicaSet {
            self.sets
                .iter()
                .find(|rs| rs.spec.template.spec == self.deployment.spec.template.spec)
                .unwrap_or_else(|| panic!("no new replicaset among {:?}", self.sets))
        }
    }

    fn condition_reason(d: &Deployment, type_: &str) -> String {
        d.status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| format!("{:?}/{}", c.status, c.reason))
            .unwrap_or_default()
    }

    #[test]
    fn a_first_rollout_creates_the_new_set_at_full_size() {
        let mut cluster = Cluster::new(deployment(3, IntOrString::Int(1), IntOrString::Int(0)));
        let plan = cluster.reconcile();
        let Some(Effect::CreateReplicaSet(rs)) = plan.effects.first() else {
            panic!("expected a new replicaset: {plan:?}");
        };
        assert_eq!(rs.spec.replicas, Some(3));
        assert_eq!(revision(rs), 1);
        assert!(rs.metadata.name.starts_with("web-"));
        let owner = &rs.metadata.owner_references[0];
        assert_eq!(
            *owner,
            controller_reference(Kind::Deployment, &cluster.deployment.metadata)
        );
    }

    fn rolling_update(
        replicas: i32,
        surge: IntOrString,
        unavailable: IntOrString,
        max_total: i32,
        min_available: i32,
    ) {
        let mut cluster = Cluster::new(deployment(replicas, surge, unavailable));
        cluster.settle();
        assert_eq!(cluster.total_available(), replicas);
        cluster.roll_to("web:2", max_total, min_available);
        let new = cluster.new_set().clone();
        assert_eq!(new.spec.replicas, Some(replicas));
        assert_eq!(new.status.available_replicas, replicas);
        assert_eq!(revision(&new), 2);
        assert_eq!(
            cluster.total_spec(),
            replicas,
            "old sets are scaled to zero"
        );
        let d = &cluster.deployment;
        assert_eq!(d.status.replicas, replicas);
        assert_eq!(d.status.updated_replicas, replicas);
        assert_eq!(d.status.available_replicas, replicas);
        assert_eq!(d.status.unavailable_replicas, 0);
        assert_eq!(d.status.observed_generation, 2);
        assert_eq!(
            condition_reason(d, DeploymentCondition::AVAILABLE),
            "True/MinimumReplicasAvailable"
        );
        assert_eq!(
            condition_reason(d, DeploymentCondition::PROGRESSING),
            "True/NewReplicaSetAvailable"
        );
    }

    #[test]
    fn a_rolling_update_keeps_within_surge_and_availability() {
        let pct = |s: &str| IntOrString::String(s.into());
        rolling_update(10, pct("25%"), pct("25%"), 13, 8);
        rolling_update(4, IntOrString::Int(1), IntOrString::Int(0), 5, 4);
        rolling_update(4, IntOrString::Int(0), IntOrString::Int(1), 4, 3);
        rolling_update(1, IntOrString::Int(0), IntOrString::Int(0), 1, 0);
        rolling_update(5, pct("100%"), pct("0%"), 10, 5);
    }

    #[test]
    fn the_rolling_update_goes_step_by_step() {
        let mut cluster = Cluster::new(deployment(4, IntOrString::Int(1), IntOrString::Int(1)));
        cluster.ready_per_step = 4;
        cluster.settle();
        cluster.deployment.spec.template.spec.containers[0].image = "web:2".into();
        let sizes = |c: &Cluster| -> Vec<i32> {
            let mut sets: Vec<&ReplicaSet> = c.sets.iter().collect();
            sets.sort_by_key(|rs| revision(rs));
            sets.iter().map(|rs| replicas(rs)).collect()
        };
        cluster.reconcile();
        assert_eq!(sizes(&cluster), [4, 1], "surge: one new replica");
        cluster.reconcile();
        assert_eq!(sizes(&cluster), [3, 1], "one old may be unavailable");
        cluster.reconcile();
        assert_eq!(
            sizes(&cluster),
            [3, 2],
            "the surge freed by the old replica"
        );
        cluster.reconcile();
        assert_eq!(
            sizes(&cluster),
            [3, 2],
            "nothing more before new pods are available"
        );
        cluster.run_pods();
        cluster.reconcile();
        assert_eq!(sizes(&cluster), [1, 2], "two new available: two old may go");
        cluster.reconcile();
        assert_eq!(sizes(&cluster), [1, 4]);
        cluster.reconcile();
        assert_eq!(sizes(&cluster), [1, 4]);
        cluster.run_pods();
        cluster.reconcile();
        assert_eq!(sizes(&cluster), [0, 4]);
    }

    #[test]
    fn scaling_without_a_template_change_only_resizes_the_new_set() {
        let mut cluster = Cluster::new(deployment(3, IntOrString::Int(1), IntOrString::Int(0)));
        cluster.settle();
        let name = cluster.new_set().metadata.name.clone();
        cluster.deployment.spec.replicas = Some(8);
        let plan = cluster.reconcile();
        assert!(
            matches!(&plan.effects[0], Effect::UpdateReplicaSet(rs) if rs.spec.replicas == Some(8))
        );
        cluster.settle();
        assert_eq!(cluster.sets.len(), 1);
        assert_eq!(cluster.new_set().metadata.name, name);
        assert_eq!(cluster.deployment.status.available_replicas, 8);
        cluster.deployment.spec.replicas = Some(2);
        cluster.reconcile();
        assert_eq!(cluster.new_set().spec.replicas, Some(2));
        cluster.settle();
        assert_eq!(cluster.deployment.status.replicas, 2);
        assert_eq!(revision(cluster.new_set()), 1);
    }

    #[test]
    fn recreate_stops_everything_before_starting_the_new_template() {
        let mut d = deployment(3, IntOrString::Int(1), IntOrString::Int(0));
        d.spec.strategy = DeploymentStrategy {
            type_: StrategyType::Recreate,
            rolling_update: None,
        };
        let mut cluster = Cluster::new(d);
        cluster.settle();
        let old = cluster.new_set().clone();
        cluster.deployment.spec.template.spec.containers[0].image = "web:2".into();

        let plan = cluster.reconcile();
        assert!(
            matches!(&plan.effects[0], Effect::UpdateReplicaSet(rs) if rs.spec.replicas == Some(0))
        );
        assert_eq!(cluster.sets.len(), 1, "no new set while old pods may run");

        // The old set's status still counts its pods: wait.
        let plan = cluster.reconcile();
        assert_eq!(plan.requeue_after, Some(RECREATE_POLL));
        assert_eq!(cluster.sets.len(), 1);
        cluster.run_pods();

        // A pod of the old set is still terminating: wait.
        let mut lingering = Pod::default();
        lingering.metadata.owner_references =
            vec![controller_reference(Kind::ReplicaSet, &old.metadata)];
        lingering.status.phase = PodPhase::Running;
        let waiting = plan_with_pods(&cluster, &[lingering.clone()]);
        assert_eq!(waiting.requeue_after, Some(RECREATE_POLL));
        assert!(
            !waiting
                .effects
                .iter()
                .any(|e| matches!(e, Effect::CreateReplicaSet(_)))
        );
        lingering.status.phase = PodPhase::Succeeded;
        let go = plan_with_pods(&cluster, &[lingering]);
        assert!(
            go.effects
                .iter()
                .any(|e| matches!(e, Effect::CreateReplicaSet(rs) if rs.spec.replicas == Some(3)))
        );

        cluster.settle();
        assert_eq!(cluster.new_set().status.available_replicas, 3);
        assert_eq!(cluster.total_spec(), 3);
    }

    fn plan_with_pods(cluster: &Cluster, pods: &[Pod]) -> Plan {
        plan(&cluster.deployment, &cluster.sets, pods, &at(cluster.clock)).unwrap()
    }

    #[test]
    fn old_sets_beyond_the_history_limit_are_deleted_oldest_first() {
        let mut cluster = Cluster::new(deployment(2, IntOrString::Int(1), IntOrString::Int(0)));
        cluster.deployment.spec.revision_history_limit = Some(1);
        cluster.settle();
        for image in ["web:2", "web:3", "web:4"] {
            cluster.roll_to(image, 3, 2);
        }
        let mut revisions: Vec<i64> = cluster.sets.iter().map(revision).collect();
        revisions.sort();
        assert_eq!(revisions, [3, 4], "one old set is kept for a rollback");
    }

    #[test]
    fn rolling_back_to_an_old_template_reuses_its_set_with_a_new_revision() {
        let mut cluster = Cluster::new(deployment(2, IntOrString::Int(1), IntOrString::Int(0)));
        cluster.settle();
        let first = cluster.new_set().metadata.name.clone();
        cluster.roll_to("web:2", 3, 2);
        cluster.roll_to("web:1", 3, 2);
        assert_eq!(cluster.new_set().metadata.name, first);
        assert_eq!(revision(cluster.new_set()), 3);
        assert_eq!(cluster.sets.len(), 2);
    }

    #[test]
    fn a_paused_deployment_does_not_roll() {
        let mut cluster = Cluster::new(deployment(2, IntOrString::Int(1), IntOrString::Int(0)));
        cluster.settle();
        cluster.deployment.spec.paused = true;
        cluster.deployment.spec.template.spec.containers[0].image = "web:2".into();
        let plan = cluster.reconcile();
        assert!(
            plan.effects
                .iter()
                .all(|e| matches!(e, Effect::UpdateStatus(_)))
        );
        assert_eq!(
            condition_reason(&cluster.deployment, DeploymentCondition::PROGRESSING),
            format!("{:?}/DeploymentPaused", ConditionStatus::Unknown)
        );
    }

    #[test]
    fn replica_sets_of_others_are_ignored() {
        let mut cluster = Cluster::new(deployment(2, IntOrString::Int(1), IntOrString::Int(0)));
        let mut foreign = ReplicaSet::default();
        foreign.metadata.name = "other".into();
        foreign.spec.replicas = Some(5);
        cluster.sets.push(foreign);
        cluster.settle();
        assert_eq!(cluster.find("other").spec.replicas, Some(5));
        assert_eq!(cluster.deployment.status.replicas, 2);
    }
}
