//! Which pods a drain evicts, and the lines it prints, as kubectl's drain: every pod on the
//! node that is not finished, refusing pods no controller would replace unless `--force`.
//! The disruption budgets are the API's business: each eviction asks it.

use std::fmt;
use std::time::Duration;

use flotilla_kernel::object::Pod;

/// How long kubectl's drain waits before asking again for an eviction a budget refused.
pub const EVICTION_RETRY: Duration = Duration::from_secs(5);

/// A pod to evict, and the uid that tells it from a successor of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evictee {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl fmt::Display for Evictee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Pods on the node that no controller would replace, without `--force`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot delete Pods that declare no controller (use --force to override): {}", .0.join(", "))]
pub struct Unmanaged(pub Vec<String>);

/// The pods on `node` to evict, and those among them no controller would replace (which
/// `--force` lets go, with a warning).
pub fn select(
    node: &str,
    pods: &[Pod],
    force: bool,
) -> Result<(Vec<Evictee>, Vec<String>), Unmanaged> {
    let on_node: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.spec.node_name == node && !p.is_terminal())
        .collect();
    let unmanaged: Vec<String> = on_node
        .iter()
        .filter(|p| p.metadata.controller_ref().is_none())
        .map(|p| format!("{}/{}", p.metadata.namespace, p.metadata.name))
        .collect();
    if !unmanaged.is_empty() && !force {
        return Err(Unmanaged(unmanaged));
    }
    let evictees = on_node
        .into_iter()
        .map(|p| Evictee {
            namespace: p.metadata.namespace.clone(),
            name: p.metadata.name.clone(),
            uid: p.metadata.uid.clone(),
        })
        .collect();
    Ok((evictees, unmanaged))
}

/// kubectl's line for an eviction refused for now.
pub fn retry_line(pod: &Evictee, why: &str) -> String {
    format!(
        "error when evicting pods/{:?} -n {:?} (will retry after {}s): {why}",
        pod.name,
        pod.namespace,
        EVICTION_RETRY.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use flotilla_actors::controllers::ownership::controller_reference;
    use flotilla_kernel::object::{Kind, ObjectMeta, PodPhase};

    use super::*;

    fn pod(name: &str, node: &str, managed: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = name.into();
        pod.metadata.namespace = "default".into();
        pod.metadata.uid = format!("{name}-uid");
        pod.spec.node_name = node.into();
        if managed {
            let owner = ObjectMeta {
                name: "web-1".into(),
                uid: "rs".into(),
                ..ObjectMeta::default()
            };
            pod.metadata.owner_references = vec![controller_reference(Kind::ReplicaSet, &owner)];
        }
        pod
    }

    fn names(evictees: &[Evictee]) -> Vec<String> {
        evictees.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_node_s_running_pods_are_evicted() {
        let mut done = pod("done", "n2", false);
        done.status.phase = PodPhase::Succeeded;
        let pods = [
            pod("web-a", "n2", true),
            pod("web-b", "n1", true),
            done,
            pod("web-c", "n2", true),
        ];
        let (evictees, unmanaged) = select("n2", &pods, false).unwrap();
        assert_eq!(names(&evictees), ["default/web-a", "default/web-c"]);
        assert!(unmanaged.is_empty());
        assert_eq!(evictees[0].uid, "web-a-uid");
    }

    #[test]
    fn pods_without_a_controller_need_force() {
        let pods = [pod("web-a", "n2", true), pod("bare", "n2", false)];
        let refused = select("n2", &pods, false).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "cannot delete Pods that declare no controller (use --force to override): default/bare"
        );
        let (evictees, unmanaged) = select("n2", &pods, true).unwrap();
        assert_eq!(names(&evictees), ["default/web-a", "default/bare"]);
        assert_eq!(unmanaged, ["default/bare"]);
    }

    #[test]
    fn a_refusal_reads_like_kubectl() {
        let pod = Evictee {
            namespace: "default".into(),
            name: "web-a".into(),
            uid: "u".into(),
        };
        assert_eq!(
            retry_line(
                &pod,
                "Cannot evict pod as it would violate the pod's disruption budget."
            ),
            "error when evicting pods/\"web-a\" -n \"default\" (will retry after 5s): Cannot \
             evict pod as it would violate the pod's disruption budget."
        );
    }
}
