//! The scheduling framework, after Kubernetes': plug-ins per stage. What a pod's plug-ins need
//! from the rest of the cluster (the pods in each topology domain) is computed once per pod
//! first ([`CycleState`], Kubernetes' PreFilter); every filter plug-in must then accept a node
//! for the pod to go there (the first that rejects it gives the node's reasons); the score
//! plug-ins rank the nodes left, each normalising its scores over them, and the best wins
//! (ties go to the first node by name, so decisions are reproducible). A pod that fits nowhere
//! gets a [`FitError`] whose message goes into its `PodScheduled` condition.
//!
//! As in Kubernetes, a large cluster is not filtered whole for every pod: the search stops
//! once enough feasible nodes are found ([`feasible_nodes_to_find`]) and the next pod starts
//! where it stopped, so every node gets its turn.

use std::collections::BTreeMap;

use flotilla_kernel::object::Pod;

use super::events::ClusterEvents;
use super::fit_error::FitError;
use super::node_info::{NodeInfo, PodRequests};
use super::plugins::{self, InterPodState, SpreadState};
use super::pod_index::PodIndex;

/// The labels of a namespace, by name (for `namespaceSelector`).
pub type NamespaceLabels<'a> = &'a dyn Fn(&str) -> Option<BTreeMap<String, String>>;

/// What a decision looks at: the nodes with their load (sorted by name) and the placed pods.
#[derive(Clone, Copy)]
pub struct Cluster<'a> {
    pub nodes: &'a [NodeInfo<'a>],
    pub pods: &'a PodIndex,
    pub namespace_labels: NamespaceLabels<'a>,
}

impl<'a> Cluster<'a> {
    /// The node named `name`, if it is one of the cluster's.
    pub fn node(&self, name: &str) -> Option<&'a NodeInfo<'a>> {
        let nodes = self.nodes;
        nodes
            .binary_search_by(|info| info.name().cmp(name))
            .ok()
            .map(|at| &nodes[at])
    }
}

/// What the plug-ins computed about one pod before looking at nodes.
#[derive(Debug, Default)]
pub struct CycleState {
    pub inter_pod: Option<InterPodState>,
    pub spread: Option<SpreadState>,
}

/// The state of a pod that needs nothing from other pods.
static NO_STATE: CycleState = CycleState {
    inter_pod: None,
    spread: None,
};

impl CycleState {
    pub fn compute(pod: &Pod, cluster: &Cluster<'_>) -> Self {
        Self {
            inter_pod: plugins::inter_pod_pre_filter(pod, cluster),
            spread: plugins::spread_pre_filter(pod, cluster),
        }
    }
}

/// The pod being scheduled, with what it asks for and its cycle state computed once.
#[derive(Debug, Clone, Copy)]
pub struct PodInfo<'a> {
    pub pod: &'a Pod,
    pub requests: PodRequests,
    pub state: &'a CycleState,
}

impl<'a> PodInfo<'a> {
    /// The pod with an empty cycle state (for plug-ins that need none).
    pub fn new(pod: &'a Pod) -> Self {
        Self::with_state(pod, &NO_STATE)
    }

    pub fn with_state(pod: &'a Pod, state: &'a CycleState) -> Self {
        Self {
            pod,
            requests: PodRequests::of(pod),
            state,
        }
    }
}

/// Why a filter rejects a node: the reasons shown to the user, counted per node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit(pub Vec<String>);

impl Unfit {
    pub fn because(reason: impl Into<String>) -> Self {
        Self(vec![reason.into()])
    }
}

/// A filter stage plug-in: may the pod go to this node?
pub trait FilterPlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn filter(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> Result<(), Unfit>;
    /// The cluster events that could turn this plug-in's rejection into a pass (Kubernetes'
    /// `EventsToRegister`); a pod it rejected everywhere waits for one of them.
    fn requeue_on(&self) -> ClusterEvents;
}

/// A score stage plug-in: how good is this node for the pod, from 0 to [`MAX_SCORE`] once
/// normalised.
pub trait ScorePlugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn score(&self, pod: &PodInfo<'_>, node: &NodeInfo<'_>) -> i64;
    /// Brings the raw scores of the feasible nodes into 0..=[`MAX_SCORE`] (Kubernetes'
    /// `NormalizeScore`); scores already in range stay as they are.
    fn normalize(&self, _pod: &PodInfo<'_>, _scores: &mut [i64]) {}
    /// How much this plug-in counts against the others.
    fn weight(&self) -> i64 {
        1
    }
}

/// The best score a plug-in gives.
pub const MAX_SCORE: i64 = 100;

/// Scales scores so the highest becomes [`MAX_SCORE`] (`reverse`: the lowest does), as
/// Kubernetes' `DefaultNormalizeScore`.
pub fn normalize_to_max(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    for score in scores.iter_mut() {
        let scaled = if max == 0 {
            0
        } else {
            *score * MAX_SCORE / max
        };
        *score = if reverse { MAX_SCORE - scaled } else { scaled };
    }
}

/// Below this many nodes every node is filtered for every pod (Kubernetes'
/// `minFeasibleNodesToFind`).
const MIN_FEASIBLE_NODES: usize = 100;
/// The least share of a large cluster filtered per pod, in percent.
const MIN_FEASIBLE_PERCENT: usize = 5;

/// How many feasible nodes are enough to choose from: every node up to 100, then a share
/// that shrinks from 50% as the cluster grows (Kubernetes' adaptive
/// `percentageOfNodesToScore`: 50 − nodes/125, at least 5%), never fewer than 100.
pub fn feasible_nodes_to_find(nodes: usize) -> usize {
    if nodes < MIN_FEASIBLE_NODES {
        return nodes;
    }
    let percent = 50usize
        .saturating_sub(nodes / 125)
        .max(MIN_FEASIBLE_PERCENT);
    (nodes * percent / 100).max(MIN_FEASIBLE_NODES)
}

/// The plug-ins, in the order they run, and where the next search starts.
pub struct Framework {
    filters: Vec<Box<dyn FilterPlugin>>,
    scorers: Vec<Box<dyn ScorePlugin>>,
    next_start: usize,
}

impl Framework {
    pub fn new(filters: Vec<Box<dyn FilterPlugin>>, scorers: Vec<Box<dyn ScorePlugin>>) -> Self {
        Self {
            filters,
            scorers,
            next_start: 0,
        }
    }

    /// node_ready, node_unschedulable, node_affinity, taint_toleration, node_ports,
    /// resources_fit, inter_pod_affinity and pod_topology_spread filters; least_allocated,
    /// node_affinity, taint_toleration, inter_pod_affinity and pod_topology_spread scoring
    /// with Kubernetes' weights.
    pub fn with_default_plugins() -> Self {
        Self::new(
            vec![
                Box::new(plugins::NodeReady),
                Box::new(plugins::NodeUnschedulable),
                Box::new(plugins::NodeAffinity),
                Box::new(plugins::TaintToleration),
                Box::new(plugins::NodePorts),
                Box::new(plugins::ResourcesFit),
                Box::new(plugins::InterPodAffinity),
                Box::new(plugins::PodTopologySpread),
            ],
            vec![
                Box::new(plugins::LeastAllocated),
                Box::new(plugins::NodeAffinity),
                Box::new(plugins::TaintToleration),
                Box::new(plugins::InterPodAffinity),
                Box::new(plugins::PodTopologySpread),
            ],
        )
    }

    /// The name of the node `pod` should go to, or why none will do.
    pub fn schedule(&mut self, pod: &Pod, cluster: &Cluster<'_>) -> Result<String, FitError> {
        let state = CycleState::compute(pod, cluster);
        let pod = PodInfo::with_state(pod, &state);
        let nodes = cluster.nodes;
        let mut error = FitError::new(nodes.len());
        let wanted = feasible_nodes_to_find(nodes.len());
        let start = self.next_start % nodes.len().max(1);
        let mut feasible: Vec<&NodeInfo<'_>> = Vec::new();
        let mut examined = 0;
        for node in nodes[start..].iter().chain(&nodes[..start]) {
            examined += 1;
            match self.filter(&pod, node) {
                Err((plugin, Unfit(reasons))) => error.add_node(&reasons, plugin.requeue_on()),
                Ok(()) => {
                    feasible.push(node);
                    if feasible.len() >= wanted {
                        break;
                    }
                }
            }
        }
        self.next_start = (start + examined) % nodes.len().max(1);
        let totals = self.score(&pod, &feasible);
        feasible
            .iter()
            .zip(totals)
            .max_by(|(a, x), (b, y)| x.cmp(y).then_with(|| b.name().cmp(a.name())))
            .map(|(node, _)| node.name().to_string())
            .ok_or(error)
    }

    /// Runs the filters until one rejects the node; returns that one and why.
    fn filter(
        &self,
        pod: &PodInfo<'_>,
        node: &NodeInfo<'_>,
    ) -> Result<(), (&dyn FilterPlugin, Unfit)> {
        self.filters.iter().try_for_each(|f| {
            f.filter(pod, node).map_err(|unfit| {
                tracing::trace!(plugin = f.name(), node = node.name(), reasons = ?unfit.0, "filtered out");
                (f.as_ref(), unfit)
            })
        })
    }

    /// Every feasible node's weighted total over the score plug-ins (none needed for one).
    fn score(&self, pod: &PodInfo<'_>, nodes: &[&NodeInfo<'_>]) -> Vec<i64> {
        let mut totals = vec![0; nodes.len()];
        if nodes.len() < 2 {
            return totals;
        }
        let mut scores = Vec::with_capacity(nodes.len());
        for scorer in &self.scorers {
            scores.clear();
            scores.extend(nodes.iter().map(|node| scorer.score(pod, node)));
            scorer.normalize(pod, &mut scores);
            for ((total, score), node) in totals.iter_mut().zip(&scores).zip(nodes) {
                let score = (*score).clamp(0, MAX_SCORE);
                tracing::trace!(plugin = scorer.name(), node = node.name(), score, "scored");
                *total += score * scorer.weight();
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::fixtures::{pod_with, ready_node, schedule};

    #[test]
    fn the_least_loaded_fitting_node_wins() {
        let nodes = [
            ready_node("a", "2", "4Gi"),
            ready_node("b", "2", "4Gi"),
            ready_node("c", "8", "16Gi"),
        ];
        let mut busy = pod_with(&[("cpu", "1")], &[]);
        busy.spec.node_name = "a".into();
        let mut selective = pod_with(&[("cpu", "500m")], &[]);
        selective.spec.node_selector = [("disk".to_string(), "ssd".to_string())].into();
        let mut framework = Framework::with_default_plugins();
        let placed = [busy];
        let pod = pod_with(&[("cpu", "500m")], &[]);
        assert_eq!(
            schedule(&mut framework, &pod, &nodes, &placed).as_deref(),
            Ok("c")
        );
        let error = schedule(&mut framework, &selective, &nodes, &placed).unwrap_err();
        assert_eq!(
            error.to_string(),
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
        );
        assert_eq!(
            error.wake_on,
            ClusterEvents::NODE_ADD | ClusterEvents::NODE_LABEL_UPDATE,
            "only a node with other labels could take it"
        );
    }

    #[test]
    fn every_decision_accounts_for_the_previous_ones() {
        let nodes = [ready_node("a", "2", "4Gi"), ready_node("b", "2", "4Gi")];
        let mut framework = Framework::with_default_plugins();
        let mut bound = Vec::new();
        for i in 0..4 {
            let mut pod = pod_with(&[("cpu", "1")], &[]);
            pod.metadata.name = format!("p{i}");
            pod.spec.node_name = schedule(&mut framework, &pod, &nodes, &bound).unwrap();
            bound.push(pod);
        }
        let on = |n: &str| bound.iter().filter(|p| p.spec.node_name == n).count();
        assert_eq!((on("a"), on("b")), (2, 2));
        let one_more = pod_with(&[("cpu", "1")], &[]);
        let error = schedule(&mut framework, &one_more, &nodes, &bound).unwrap_err();
        assert_eq!(
            error.to_string(),
            "0/2 nodes are available: 2 Insufficient cpu."
        );
    }

    #[test]
    fn the_first_failing_filter_gives_the_reason() {
        let mut cordoned = ready_node("a", "1", "1Gi");
        cordoned.spec.unschedulable = true;
        let mut not_ready = ready_node("b", "1", "1Gi");
        not_ready.status.conditions.clear();
        let small = ready_node("c", "1", "64Mi");
        let nodes = [cordoned, not_ready, small];
        let pod = pod_with(&[("memory", "128Mi")], &[]);
        let error =
            schedule(&mut Framework::with_default_plugins(), &pod, &nodes, &[]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) were not ready, 1 node(s) were unschedulable."
        );
    }

    #[test]
    fn large_clusters_are_searched_in_part_and_in_turn() {
        let table = [
            (50, 50),
            (100, 100),
            (1000, 420),
            (5000, 500),
            (6000, 300),
            (20000, 1000),
        ];
        for (nodes, wanted) in table {
            assert_eq!(feasible_nodes_to_find(nodes), wanted, "{nodes} nodes");
        }
        let nodes: Vec<_> = (0..400)
            .map(|i| ready_node(&format!("n{i:03}"), "4", "8Gi"))
            .collect();
        let mut framework = Framework::with_default_plugins();
        let pod = pod_with(&[], &[]);
        let first = schedule(&mut framework, &pod, &nodes, &[]).unwrap();
        assert_eq!(
            first, "n000",
            "all equal: the first by name of those searched"
        );
        let second = schedule(&mut framework, &pod, &nodes, &[]).unwrap();
        assert!(
            second.as_str() >= "n188",
            "the next search starts where the last stopped: {second}"
        );
    }

    #[test]
    fn scores_are_normalised_before_they_are_weighed() {
        let mut scores = [0, 50, 200];
        normalize_to_max(&mut scores, false);
        assert_eq!(scores, [0, 25, 100]);
        normalize_to_max(&mut scores, true);
        assert_eq!(scores, [100, 75, 0]);
        let mut none = [0, 0];
        normalize_to_max(&mut none, false);
        assert_eq!(none, [0, 0]);
    }
}
