use flotilla_kernel::object::{
    Affinity, LABEL_HOSTNAME, LABEL_ZONE, LabelSelector, PodAffinity, WeightedPodAffinityTerm,
};

use super::*;
use crate::scheduler::fixtures::{cycle_state, labelled, node_in, pod_with, schedule};
use crate::scheduler::framework::Framework;

fn term(key: &str, app: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: [("app".to_string(), app.to_string())].into(),
            match_expressions: Vec::new(),
        }),
        topology_key: key.into(),
        ..PodAffinityTerm::default()
    }
}

fn required(terms: Vec<PodAffinityTerm>) -> PodAffinity {
    PodAffinity {
        required_during_scheduling_ignored_during_execution: terms,
        ..PodAffinity::default()
    }
}

fn app(name: &str, app: &str) -> Pod {
    labelled(pod_with(&[], &[]), name, &[("app", app)])
}

fn on(mut pod: Pod, node: &str) -> Pod {
    pod.spec.node_name = node.into();
    pod
}

fn with(mut pod: Pod, affinity: Option<PodAffinity>, anti: Option<PodAffinity>) -> Pod {
    pod.spec.affinity = Some(Affinity {
        pod_affinity: affinity,
        pod_anti_affinity: anti,
        ..Affinity::default()
    });
    pod
}

/// Three nodes: n1 and n2 in zone a, n3 in zone b.
fn nodes() -> Vec<Node> {
    vec![
        node_in("n1", &[(LABEL_ZONE, "a")]),
        node_in("n2", &[(LABEL_ZONE, "a")]),
        node_in("n3", &[(LABEL_ZONE, "b")]),
    ]
}

/// Which nodes the filter lets `pod` onto, and the reason it gives the others.
fn verdicts(pod: &Pod, placed: &[Pod]) -> Vec<Result<(), Unfit>> {
    let nodes = nodes();
    let state = cycle_state(pod, &nodes, placed);
    let info = PodInfo::with_state(pod, &state);
    nodes
        .iter()
        .map(|node| InterPodAffinity.filter(&info, &NodeInfo::new(node)))
        .collect()
}

const AFFINITY: &str = "node(s) didn't match pod affinity rules";
const ANTI: &str = "node(s) didn't match pod anti-affinity rules";
const EXISTING: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// A case: what it shows, the pod, the placed pods, and the verdict on each node.
type Case = (&'static str, Pod, Vec<Pod>, Vec<Result<(), Unfit>>);

fn no(reason: &str) -> Result<(), Unfit> {
    Err(Unfit::because(reason))
}

#[test]
fn required_terms_filter_as_kubernetes_does() {
    let db_on_n1 = on(app("db", "db"), "n1");
    let web = app("web", "web");
    let anti_web = on(
        with(
            app("w0", "web"),
            None,
            Some(required(vec![term(LABEL_HOSTNAME, "web")])),
        ),
        "n2",
    );
    let table: Vec<Case> = vec![
        (
            "affinity to db by zone: only zone a",
            with(
                web.clone(),
                Some(required(vec![term(LABEL_ZONE, "db")])),
                None,
            ),
            vec![db_on_n1.clone()],
            vec![Ok(()), Ok(()), no(AFFINITY)],
        ),
        (
            "affinity to db by host: only n1",
            with(
                web.clone(),
                Some(required(vec![term(LABEL_HOSTNAME, "db")])),
                None,
            ),
            vec![db_on_n1.clone()],
            vec![Ok(()), no(AFFINITY), no(AFFINITY)],
        ),
        (
            "affinity to pods that exist nowhere: nowhere",
            with(
                web.clone(),
                Some(required(vec![term(LABEL_ZONE, "cache")])),
                None,
            ),
            vec![db_on_n1.clone()],
            vec![no(AFFINITY), no(AFFINITY), no(AFFINITY)],
        ),
        (
            "the first of a group that selects itself may go anywhere",
            with(
                web.clone(),
                Some(required(vec![term(LABEL_ZONE, "web")])),
                None,
            ),
            vec![db_on_n1.clone()],
            vec![Ok(()), Ok(()), Ok(())],
        ),
        (
            "anti-affinity to db by zone: not zone a",
            with(
                web.clone(),
                None,
                Some(required(vec![term(LABEL_ZONE, "db")])),
            ),
            vec![db_on_n1.clone()],
            vec![no(ANTI), no(ANTI), Ok(())],
        ),
        (
            "a placed pod's anti-affinity keeps what it selects off its node",
            web.clone(),
            vec![anti_web.clone()],
            vec![Ok(()), no(EXISTING), Ok(())],
        ),
        (
            "pods of other namespaces are not selected",
            with(
                web.clone(),
                None,
                Some(required(vec![term(LABEL_ZONE, "db")])),
            ),
            vec![{
                let mut other = db_on_n1.clone();
                other.metadata.namespace = "other".into();
                other
            }],
            vec![Ok(()), Ok(()), Ok(())],
        ),
    ];
    for (case, pod, placed, expected) in table {
        assert_eq!(verdicts(&pod, &placed), expected, "{case}");
    }
}

#[test]
fn replicas_with_anti_affinity_spread_one_per_node() {
    let nodes = nodes();
    let mut framework = Framework::with_default_plugins();
    let mut placed: Vec<Pod> = Vec::new();
    for i in 0..3 {
        let pod = with(
            app(&format!("web-{i}"), "web"),
            None,
            Some(required(vec![term(LABEL_HOSTNAME, "web")])),
        );
        let node = schedule(&mut framework, &pod, &nodes, &placed).unwrap();
        placed.push(on(pod, &node));
    }
    let mut hosts: Vec<&str> = placed.iter().map(|p| p.spec.node_name.as_str()).collect();
    hosts.sort();
    assert_eq!(hosts, ["n1", "n2", "n3"]);
    let fourth = with(
        app("web-3", "web"),
        None,
        Some(required(vec![term(LABEL_HOSTNAME, "web")])),
    );
    let error = schedule(&mut framework, &fourth, &nodes, &placed).unwrap_err();
    assert_eq!(
        error.to_string(),
        "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules.",
        "as Kubernetes, the placed pods' terms are checked first"
    );
}

#[test]
fn preferred_terms_score_both_ways() {
    let nodes = nodes();
    let weighted = |weight, term| WeightedPodAffinityTerm {
        weight,
        pod_affinity_term: term,
    };
    let near_db = with(
        app("web", "web"),
        Some(PodAffinity {
            preferred_during_scheduling_ignored_during_execution: vec![weighted(
                50,
                term(LABEL_ZONE, "db"),
            )],
            ..PodAffinity::default()
        }),
        None,
    );
    let placed = [on(app("db", "db"), "n3")];
    let mut framework = Framework::with_default_plugins();
    assert_eq!(
        schedule(&mut framework, &near_db, &nodes, &placed).as_deref(),
        Ok("n3")
    );

    let shy = on(
        with(
            app("cache", "cache"),
            None,
            Some(PodAffinity {
                preferred_during_scheduling_ignored_during_execution: vec![weighted(
                    100,
                    term(LABEL_ZONE, "web"),
                )],
                ..PodAffinity::default()
            }),
        ),
        "n1",
    );
    let state = cycle_state(&app("web", "web"), &nodes, &[shy]);
    let info = PodInfo::with_state(&near_db, &state);
    let mut scores: Vec<i64> = nodes
        .iter()
        .map(|n| InterPodAffinity.score(&info, &NodeInfo::new(n)))
        .collect();
    assert_eq!(
        scores,
        [-100, -100, 0],
        "a placed pod's preferred anti-affinity counts"
    );
    InterPodAffinity.normalize(&info, &mut scores);
    assert_eq!(scores, [0, 0, MAX_SCORE]);
}
