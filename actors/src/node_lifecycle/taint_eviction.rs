//! Taint-based eviction, after Kubernetes' NoExecute taint manager: a pod bound to a node with
//! a `NoExecute` taint it does not tolerate is deleted gracefully at once; a pod that tolerates
//! every such taint stays for the shortest `tolerationSeconds` among the tolerations it uses,
//! counted from when this controller first saw it under them (on its own clock, as the
//! monitor counts lease silence), or for ever when none of them sets one.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use flotilla_kernel::object::{Node, Pod, Taint, TaintEffect, Toleration};

use super::monitor::Action;
use crate::informer::Cache;

/// What the eviction remembers between looks: when each tolerating pod (by uid) was first
/// seen under `NoExecute` taints.
#[derive(Debug, Default)]
pub struct TaintEviction {
    since: HashMap<String, SystemTime>,
}

/// How long a pod may stay under a node's `NoExecute` taints.
#[derive(Debug, PartialEq, Eq)]
enum Stay<'a> {
    Forever,
    For(Duration),
    /// Not at all: it does not tolerate this taint.
    Not(&'a Taint),
}

impl TaintEviction {
    /// One look at `now`; returns the pods to evict. `pods` must be indexed by
    /// [`crate::informer::bound_node`].
    pub fn observe(
        &mut self,
        now: SystemTime,
        nodes: &Cache<Node>,
        pods: &Cache<Pod>,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut timed = HashMap::new();
        for node in nodes.iter() {
            let taints: Vec<&Taint> = node
                .spec
                .taints
                .iter()
                .filter(|taint| taint.effect == TaintEffect::NoExecute)
                .collect();
            if taints.is_empty() {
                continue;
            }
            let name = &node.metadata.name;
            let live = pods
                .indexed_under(name)
                .filter(|pod| pod.metadata.deletion_timestamp.is_none() && !pod.is_terminal());
            for pod in live {
                let evict = |taint: &Taint| Action::EvictTainted {
                    namespace: pod.metadata.namespace.clone(),
                    name: pod.metadata.name.clone(),
                    node: name.clone(),
                    taint: describe(taint),
                };
                match stay(&taints, &pod.spec.tolerations) {
                    Stay::Forever => {}
                    Stay::Not(taint) => actions.push(evict(taint)),
                    Stay::For(limit) => {
                        let uid = &pod.metadata.uid;
                        let since = self.since.get(uid).copied().unwrap_or(now);
                        timed.insert(uid.clone(), since);
                        if now.duration_since(since).unwrap_or_default() >= limit {
                            actions.push(evict(taints[0]));
                        }
                    }
                }
            }
        }
        // A pod no longer under a tolerated taint starts afresh if one comes back.
        self.since = timed;
        actions
    }
}

/// How long a pod with `tolerations` may stay under `taints` (all `NoExecute`).
fn stay<'a>(taints: &[&'a Taint], tolerations: &[Toleration]) -> Stay<'a> {
    let mut shortest: Option<i64> = None;
    for taint in taints {
        let used: Vec<&Toleration> = tolerations.iter().filter(|t| t.tolerates(taint)).collect();
        if used.is_empty() {
            return Stay::Not(taint);
        }
        for seconds in used.iter().filter_map(|t| t.toleration_seconds) {
            shortest = Some(shortest.map_or(seconds, |s| s.min(seconds)));
        }
    }
    match shortest {
        None => Stay::Forever,
        Some(seconds) => Stay::For(Duration::from_secs(u64::try_from(seconds).unwrap_or(0))),
    }
}

/// A taint as kubectl writes it: `key=value:NoExecute`.
fn describe(taint: &Taint) -> String {
    match taint.value.as_str() {
        "" => format!("{}:{}", taint.key, taint.effect.as_str()),
        value => format!("{}={value}:{}", taint.key, taint.effect.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use flotilla_kernel::api::EventType;

    use super::*;
    use crate::informer::bound_node;
    use crate::scheduler::fixtures::{pod_with, ready_node};

    fn no_execute(key: &str) -> Taint {
        Taint {
            key: key.into(),
            value: "true".into(),
            effect: TaintEffect::NoExecute,
        }
    }

    fn tolerating(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: key.into(),
            operator: Toleration::EXISTS.into(),
            effect: "NoExecute".into(),
            toleration_seconds: seconds,
            ..Toleration::default()
        }
    }

    fn pod(name: &str, tolerations: Vec<Toleration>) -> Pod {
        let mut pod = pod_with(&[], &[]);
        pod.metadata.name = name.into();
        pod.metadata.uid = format!("uid-{name}");
        pod.spec.node_name = "n1".into();
        pod.spec.tolerations = tolerations;
        pod
    }

    fn evicted(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::EvictTainted { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn how_long_a_pod_may_stay() {
        let (a, b) = (no_execute("a"), no_execute("b"));
        assert_eq!(stay(&[&a], &[]), Stay::Not(&a));
        assert_eq!(stay(&[&a, &b], &[tolerating("a", None)]), Stay::Not(&b));
        assert_eq!(stay(&[&a], &[tolerating("a", None)]), Stay::Forever);
        let both = [tolerating("a", Some(60)), tolerating("", Some(30))];
        assert_eq!(stay(&[&a, &b], &both), Stay::For(Duration::from_secs(30)));
        assert_eq!(
            stay(&[&a], &[tolerating("a", Some(-5))]),
            Stay::For(Duration::ZERO)
        );
    }

    #[test]
    fn untolerating_pods_go_at_once_and_tolerating_ones_after_their_seconds() {
        let mut nodes = Cache::new();
        let mut node = ready_node("n1", "1", "1Gi");
        node.spec.taints = vec![no_execute("maintenance")];
        nodes.apply(EventType::Added, node);
        let mut pods = Cache::indexed(bound_node);
        pods.apply(EventType::Added, pod("plain", vec![]));
        pods.apply(
            EventType::Added,
            pod("patient", vec![tolerating("maintenance", Some(10))]),
        );
        pods.apply(EventType::Added, pod("staying", vec![tolerating("", None)]));
        let mut eviction = TaintEviction::default();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let actions = eviction.observe(start, &nodes, &pods);
        assert_eq!(evicted(&actions), ["plain"]);
        assert_eq!(
            actions[0],
            Action::EvictTainted {
                namespace: "default".into(),
                name: "plain".into(),
                node: "n1".into(),
                taint: "maintenance=true:NoExecute".into(),
            }
        );
        let later = |seconds| start + Duration::from_secs(seconds);
        assert_eq!(
            evicted(&eviction.observe(later(9), &nodes, &pods)),
            ["plain"]
        );
        assert_eq!(
            evicted(&eviction.observe(later(10), &nodes, &pods)),
            ["patient", "plain"]
        );

        // The taint gone and back: the patient pod's time starts again.
        let mut untainted = ready_node("n1", "1", "1Gi");
        nodes.apply(EventType::Modified, untainted.clone());
        assert!(eviction.observe(later(11), &nodes, &pods).is_empty());
        untainted.spec.taints = vec![no_execute("maintenance")];
        nodes.apply(EventType::Modified, untainted);
        pods.apply(EventType::Deleted, pod("plain", vec![]));
        assert!(eviction.observe(later(12), &nodes, &pods).is_empty());
        assert_eq!(
            evicted(&eviction.observe(later(22), &nodes, &pods)),
            ["patient"]
        );
    }
}
