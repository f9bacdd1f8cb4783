use flotilla_kernel::object::{LABEL_HOSTNAME, LABEL_ZONE, LabelSelector, Taint};

use super::*;
use crate::scheduler::fixtures::{cycle_state, labelled, node_in, pod_with, schedule};
use crate::scheduler::framework::Framework;

fn spread(key: &str, skew: i32, when: UnsatisfiableConstraintAction) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: skew,
        topology_key: key.into(),
        when_unsatisfiable: when,
        label_selector: Some(LabelSelector {
            match_labels: [("app".to_string(), "web".to_string())].into(),
            match_expressions: Vec::new(),
        }),
        ..TopologySpreadConstraint::default()
    }
}

fn web(name: &str, constraints: Vec<TopologySpreadConstraint>) -> Pod {
    let mut pod = labelled(pod_with(&[], &[]), name, &[("app", "web")]);
    pod.spec.topology_spread_constraints = constraints;
    pod
}

fn on(mut pod: Pod, node: &str) -> Pod {
    pod.spec.node_name = node.into();
    pod
}

/// Zone a: n1, n2; zone b: n3; n4 has no zone.
fn nodes() -> Vec<Node> {
    vec![
        node_in("n1", &[(LABEL_ZONE, "a")]),
        node_in("n2", &[(LABEL_ZONE, "a")]),
        node_in("n3", &[(LABEL_ZONE, "b")]),
        node_in("n4", &[]),
    ]
}

const SKEW: &str = "node(s) didn't match pod topology spread constraints";
const MISSING: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

fn verdicts(pod: &Pod, nodes: &[Node], placed: &[Pod]) -> Vec<Result<(), Unfit>> {
    let state = cycle_state(pod, nodes, placed);
    let info = PodInfo::with_state(pod, &state);
    nodes
        .iter()
        .map(|node| PodTopologySpread.filter(&info, &NodeInfo::new(node)))
        .collect()
}

/// A case: what it shows, the pod, the placed pods, and the verdict on each node.
type Case = (&'static str, Pod, Vec<Pod>, Vec<Result<(), Unfit>>);

fn no(reason: &str) -> Result<(), Unfit> {
    Err(Unfit::because(reason))
}

#[test]
fn do_not_schedule_keeps_the_skew_within_max_skew() {
    use UnsatisfiableConstraintAction::DoNotSchedule;
    let by_zone = |skew| web("new", vec![spread(LABEL_ZONE, skew, DoNotSchedule)]);
    let two_in_a = [on(web("w1", vec![]), "n1"), on(web("w2", vec![]), "n2")];
    let table: Vec<Case> = vec![
        (
            "empty zones: anywhere with a zone",
            by_zone(1),
            vec![],
            vec![Ok(()), Ok(()), Ok(()), no(MISSING)],
        ),
        (
            "2 in a, 0 in b, skew 1: only b",
            by_zone(1),
            two_in_a.to_vec(),
            vec![no(SKEW), no(SKEW), Ok(()), no(MISSING)],
        ),
        (
            "2 in a, 0 in b, skew 3: both",
            by_zone(3),
            two_in_a.to_vec(),
            vec![Ok(()), Ok(()), Ok(()), no(MISSING)],
        ),
        (
            "pods of other apps do not count",
            by_zone(1),
            vec![on(
                labelled(pod_with(&[], &[]), "db", &[("app", "db")]),
                "n1",
            )],
            vec![Ok(()), Ok(()), Ok(()), no(MISSING)],
        ),
        (
            "minDomains above the domains there are: the fewest counts as 0",
            {
                let mut pod = by_zone(1);
                pod.spec.topology_spread_constraints[0].min_domains = Some(3);
                pod
            },
            vec![on(web("w1", vec![]), "n1"), on(web("w3", vec![]), "n3")],
            vec![no(SKEW), no(SKEW), no(SKEW), no(MISSING)],
        ),
    ];
    for (case, pod, placed, expected) in table {
        assert_eq!(verdicts(&pod, &nodes(), &placed), expected, "{case}");
    }
}

#[test]
fn node_policies_decide_which_domains_count() {
    use UnsatisfiableConstraintAction::DoNotSchedule;
    let mut nodes = nodes();
    nodes[2].spec.taints = vec![Taint {
        key: "dedicated".into(),
        value: "db".into(),
        effect: TaintEffect::NoSchedule,
    }];
    let placed = [on(web("w1", vec![]), "n1")];
    let pod = web("new", vec![spread(LABEL_ZONE, 1, DoNotSchedule)]);
    assert_eq!(
        verdicts(&pod, &nodes, &placed)[..3],
        [no(SKEW), no(SKEW), Ok(())],
        "taints are ignored by default: zone b counts with 0"
    );
    let mut honoring = pod.clone();
    honoring.spec.topology_spread_constraints[0].node_taints_policy =
        Some(flotilla_kernel::object::NodeInclusionPolicy::Honor);
    assert_eq!(
        verdicts(&honoring, &nodes, &placed)[..2],
        [Ok(()), Ok(())],
        "zone b is not eligible: zone a is the emptiest"
    );
    let mut only_a = pod;
    only_a.spec.node_selector = [(LABEL_ZONE.to_string(), "a".to_string())].into();
    assert_eq!(
        verdicts(&only_a, &nodes, &placed)[..2],
        [Ok(()), Ok(())],
        "node affinity is honoured by default: zone b does not count"
    );
}

#[test]
fn replicas_spread_evenly_over_zones_and_hosts() {
    use UnsatisfiableConstraintAction::{DoNotSchedule, ScheduleAnyway};
    let nodes = nodes();
    let mut framework = Framework::with_default_plugins();
    let mut placed: Vec<Pod> = Vec::new();
    for i in 0..4 {
        let pod = web(
            &format!("web-{i}"),
            vec![
                spread(LABEL_ZONE, 1, DoNotSchedule),
                spread(LABEL_HOSTNAME, 1, ScheduleAnyway),
            ],
        );
        let node = schedule(&mut framework, &pod, &nodes, &placed).unwrap();
        placed.push(on(pod, &node));
    }
    let count = |n: &str| placed.iter().filter(|p| p.spec.node_name == n).count();
    assert_eq!(
        (count("n1") + count("n2"), count("n3")),
        (2, 2),
        "zones even"
    );
    assert_eq!(
        (count("n1"), count("n2")),
        (1, 1),
        "hosts in zone a even, by preference"
    );
    assert_eq!(
        count("n4"),
        0,
        "a node without the zone key is never chosen"
    );
}
