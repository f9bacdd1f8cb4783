//! Topology spread constraints, as Kubernetes' PodTopologySpread plug-in.
//!
//! Before looking at nodes ([`pre_filter`]) it counts, for each constraint, the placed pods of
//! the pod's namespace its selector matches in every domain (value of `topologyKey`) of the
//! eligible nodes: those carrying every constraint's key and, by the constraint's policies,
//! matching the pod's node affinity (by default) and tolerating its taints (not by default).
//! Filter (`DoNotSchedule`): placing the pod in the node's domain may not make it exceed the
//! emptiest eligible domain by more than `maxSkew` (with fewer domains than `minDomains`, the
//! emptiest counts as 0). Score (`ScheduleAnyway`): the fewer matching pods in the node's
//! domains, the better.

use std::collections::HashMap;

use flotilla_kernel::object::{
    Node, Pod, TaintEffect, TopologySpreadConstraint, UnsatisfiableConstraintAction, tolerated,
};

use super::node_affinity::node_matches;
use crate::scheduler::events::ClusterEvents;
use crate::scheduler::framework::{Cluster, FilterPlugin, MAX_SCORE, PodInfo, ScorePlugin, Unfit};
use crate::scheduler::node_info::NodeInfo;

pub struct PodTopologySpread;

/// One constraint with its counts.
#[derive(Debug)]
struct Counted {
    key: String,
    max_skew: i64,
    /// 1 if the pod matches the constraint's own selector (it counts once placed).
    self_match: i64,
    /// Matching pods per domain of the eligible nodes (every such domain listed).
    counts: HashMap<String, i64>,
    /// The fewest in any domain (0 with fewer domains than `minDomains`).
    min: i64,
    /// How much the constraint counts when scoring: more domains, more weight (Kubernetes'
    /// log(domains + 2)).
    weight: f64,
}

/// What the plug-in computed about one pod (see the module doc).
#[derive(Debug, Default)]
pub struct SpreadState {
    hard: Vec<Counted>,
    soft: Vec<Counted>,
}

/// Counts for the pod's constraints, or `None` when it has none.
pub fn pre_filter(pod: &Pod, cluster: &Cluster<'_>) -> Option<SpreadState> {
    let constraints = &pod.spec.topology_spread_constraints;
    if constraints.is_empty() {
        return None;
    }
    let (hard, soft): (Vec<_>, Vec<_>) = constraints
        .iter()
        .partition(|c| c.when_unsatisfiable == UnsatisfiableConstraintAction::DoNotSchedule);
    Some(SpreadState {
        hard: count(pod, &hard, cluster),
        soft: count(pod, &soft, cluster),
    })
}

fn count(
    pod: &Pod,
    constraints: &[&TopologySpreadConstraint],
    cluster: &Cluster<'_>,
) -> Vec<Counted> {
    let has_keys = |node: &Node| {
        constraints
            .iter()
            .all(|c| node.metadata.labels.contains_key(&c.topology_key))
    };
    constraints
        .iter()
        .map(|constraint| {
            let eligible = |node: &Node| {
                has_keys(node)
                    && (!constraint.honors_node_affinity() || node_matches(pod, node))
                    && (!constraint.honors_node_taints() || tolerates_taints(pod, node))
            };
            let key = &constraint.topology_key;
            let mut counts: HashMap<String, i64> = cluster
                .nodes
                .iter()
                .filter(|info| eligible(info.node))
                .filter_map(|info| info.node.metadata.labels.get(key))
                .map(|value| (value.clone(), 0))
                .collect();
            let namespace = &pod.metadata.namespace;
            if let Some(selector) = &constraint.label_selector {
                for placed in cluster.pods.matching(selector) {
                    let node = cluster.node(&placed.node).map(|info| info.node);
                    if &placed.namespace == namespace
                        && let Some(node) = node.filter(|n| eligible(n))
                        && let Some(value) = node.metadata.labels.get(key)
                    {
                        *counts.entry(value.clone()).or_default() += 1;
                    }
                }
            }
            let too_few = constraint
                .min_domains
                .is_some_and(|min| counts.len() < usize::try_from(min).unwrap_or(0));
            let min = if too_few {
                0
            } else {
                counts.values().copied().min().unwrap_or(0)
            };
            let self_match = constraint
                .label_selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.metadata.labels));
            Counted {
                key: key.clone(),
                max_skew: i64::from(constraint.max_skew),
                self_match: i64::from(self_match),
                weight: ((counts.len() + 2) as f64).ln(),
                counts,
                min,
            }
        })
        .collect()
}

/// Whether the pod tolerates the node's NoSchedule and NoExecute taints.
fn tolerates_taints(pod: &Pod, node: &Node) -> bool {
    node.spec.taints.iter().all(|taint| {
        taint.effect == TaintEffect::PreferNoSchedule || tolerated(&pod.spec.tolerations, taint)
    })
}

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "pod_topology_spread"
    }

    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit> {
        let Some(state) = &pod.state.spread else {
            return Ok(());
        };
        let labels = &node.node.metadata.labels;
        for constraint in &state.hard {
            let Some(value) = labels.get(&constraint.key) else {
                return Err(Unfit::because(
                    "node(s) didn't match pod topology spread constraints (missing required label)",
                ));
            };
            let here = constraint.counts.get(value).copied().unwrap_or(0);
            if here + constraint.self_match - constraint.min > constraint.max_skew {
                return Err(Unfit::because(
                    "node(s) didn't match pod topology spread constraints",
                ));
            }
        }
        Ok(())
    }

    fn requeue_on(&self) -> ClusterEvents {
        ClusterEvents::ASSIGNED_POD_ADD
            | ClusterEvents::ASSIGNED_POD_DELETE
            | ClusterEvents::NODE_ADD
            | ClusterEvents::NODE_LABEL_UPDATE
            | ClusterEvents::NODE_TAINT_UPDATE
    }
}

/// The raw score of a node missing a soft constraint's key: it gets none.
const NOT_SCORED: i64 = -1;

impl ScorePlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "pod_topology_spread"
    }

    /// The weighted count of matching pods in the node's domains (lower is better), in
    /// thousandths.
    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> i64 {
        let Some(state) = pod.state.spread.as_ref().filter(|s| !s.soft.is_empty()) else {
            return 0;
        };
        let labels = &node.node.metadata.labels;
        let mut total = 0.0;
        for constraint in &state.soft {
            let Some(value) = labels.get(&constraint.key) else {
                return NOT_SCORED;
            };
            let here = constraint.counts.get(value).copied().unwrap_or(0);
            total += here as f64 * constraint.weight + (constraint.max_skew - 1) as f64;
        }
        (total * 1000.0).round() as i64
    }

    /// The emptiest node gets the most, as Kubernetes: MAX × (max + min − score) / max.
    fn normalize(&self, pod: &PodInfo<'_>, scores: &mut [i64]) {
        if pod.state.spread.as_ref().is_none_or(|s| s.soft.is_empty()) {
            return;
        }
        let scored = || scores.iter().copied().filter(|s| *s != NOT_SCORED);
        let max = scored().max().unwrap_or(0);
        let min = scored().min().unwrap_or(0);
        for score in scores.iter_mut() {
            *score = if *score == NOT_SCORED {
                0
            } else if max == 0 {
                MAX_SCORE
            } else {
                MAX_SCORE * (max + min - *score) / max
            };
        }
    }

    /// Kubernetes' default weight for this plug-in.
    fn weight(&self) -> i64 {
        2
    }
}

#[cfg(test)]
mod tests;
