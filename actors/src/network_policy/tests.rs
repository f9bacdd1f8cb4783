//! The enforcer against the real API server in this process, writing its table, as root, in a
//! network namespace the test makes.

use std::process::Command;
use std::time::{Duration, Instant};

use ractor::Actor;
use serde_json::Value;

use flotilla_kernel::object::{
    IntOrString, Kind, LabelSelector, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, PodIp, PodPhase, ResolvedPeer,
};
use flotilla_node_os::network::policy_table::{PodRules, TABLE};

use super::*;
use crate::test_api::{TestApi, host_pod_on};

/// How long the table may take to follow a change.
const PATIENCE: Duration = Duration::from_secs(30);

/// The table's objects as nft lists them; empty without the table.
fn listing() -> Vec<Value> {
    let output = Command::new("nft")
        .args(["-j", "list", "table", "ip", TABLE])
        .output()
        .unwrap();
    if !output.status.success() {
        return Vec::new();
    }
    let listing: Value = serde_json::from_slice(&output.stdout).unwrap();
    listing["nftables"].as_array().cloned().unwrap_or_default()
}

fn has_chain(listing: &[Value], name: &str) -> bool {
    listing.iter().any(|object| object["chain"]["name"] == name)
}

/// The elements of a set or map, as JSON text, in order.
fn elements(listing: &[Value], name: &str) -> Vec<String> {
    let set = listing
        .iter()
        .filter_map(|object| object.get("set").or(object.get("map")))
        .find(|set| set["name"] == name);
    let mut elements: Vec<String> = set
        .and_then(|set| set["elem"].as_array())
        .map(|elements| elements.iter().map(Value::to_string).collect())
        .unwrap_or_default();
    elements.sort();
    elements
}

/// Waits until `condition` holds of the table.
async fn until(what: &str, condition: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let listing = listing();
        if condition(&listing) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {PATIENCE:?}; the table: {listing:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The network namespace of the calling thread.
fn network_namespace() -> std::path::PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").unwrap()
}

fn db_pod(node: &str, name: &str) -> Pod {
    let mut pod = host_pod_on(node, name);
    pod.metadata.labels = [("app".to_string(), "db".to_string())].into();
    pod
}

async fn run_with_address(api: &ApiClient, name: &str, ip: &str) {
    let mut pod: Pod = api.get("default", name).await.unwrap();
    pod.status.phase = PodPhase::Running;
    pod.status.pod_ip = ip.into();
    pod.status.pod_ips = vec![PodIp { ip: ip.into() }];
    api.update_status(&pod).await.unwrap();
}

/// `db`: the db pods accept port 5432 from the web pods.
fn db_policy() -> NetworkPolicy {
    let mut policy = NetworkPolicy::default();
    policy.metadata.namespace = "default".into();
    policy.metadata.name = "db".into();
    policy.spec.pod_selector = LabelSelector {
        match_labels: [("app".to_string(), "db".to_string())].into(),
        ..LabelSelector::default()
    };
    policy.spec.ingress = vec![NetworkPolicyIngressRule {
        from: vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector {
                match_labels: [("app".to_string(), "web".to_string())].into(),
                ..LabelSelector::default()
            }),
            ..NetworkPolicyPeer::default()
        }],
        ports: vec![NetworkPolicyPort {
            port: Some(IntOrString::Int(5432)),
            ..NetworkPolicyPort::default()
        }],
    }];
    policy
}

/// Writes the web pods' addresses into the policy's status, as the controller would.
async fn resolve_web(api: &ApiClient, addresses: &[&str]) {
    let mut policy: NetworkPolicy = api.get("default", "db").await.unwrap();
    policy.status.observed_generation = policy.metadata.generation;
    policy.status.peers = vec![ResolvedPeer {
        rule: "ingress[0].from[0]".into(),
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
        named_ports: vec![],
    }];
    api.update_status(&policy).await.unwrap();
}

#[test]
fn the_enforcer_writes_the_policies_of_its_own_pods_and_follows_them() {
    if !flotilla_test_policy::root_or_skip(
        "the_enforcer_writes_the_policies_of_its_own_pods_and_follows_them",
    ) {
        return;
    }
    // The namespace, the runtime and its blocking pool (where nft runs) die with the thread.
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(follows_policies());
    })
    .join()
    .unwrap();
}

async fn follows_policies() {
    let ours = network_namespace();
    let pool = tokio::task::spawn_blocking(network_namespace)
        .await
        .unwrap();
    assert_eq!(pool, ours, "nft would run outside the test's namespace");
    // What a previous run left.
    let stale = Table {
        pods: [(
            "10.42.9.9".parse().unwrap(),
            PodRules {
                ingress: Some(vec![]),
                egress: None,
            },
        )]
        .into(),
        ..Table::default()
    };
    policy_table::replace(&stale).unwrap();

    let api_server = TestApi::start().await;
    let admin = api_server.client("admin", "admin");
    for (node, name, ip) in [("n1", "db-1", "10.42.0.6"), ("n2", "db-2", "10.42.1.6")] {
        admin.create(&db_pod(node, name)).await.unwrap();
        run_with_address(&admin, name, ip).await;
    }
    admin.create(&db_policy()).await.unwrap();
    resolve_web(&admin, &["10.42.0.5"]).await;
    let (enforcer, handle) = Actor::spawn(
        None,
        NetworkPolicyEnforcer,
        NetworkPolicyArgs {
            node_name: "n1".into(),
            api: api_server.client("node:n1", "node"),
        },
    )
    .await
    .unwrap();

    let set = "peers-default/db/ingress/0";
    until("the first table", |listing| {
        has_chain(listing, "ingress-10.42.0.6")
            && !has_chain(listing, "ingress-10.42.9.9")
            && !has_chain(listing, "ingress-10.42.1.6")
            && elements(listing, set) == [r#""10.42.0.5""#]
    })
    .await;

    // A web pod more: the set grows, nothing else is rewritten.
    resolve_web(&admin, &["10.42.0.5", "10.42.0.7"]).await;
    until("the second web pod", |listing| {
        elements(listing, set) == [r#""10.42.0.5""#, r#""10.42.0.7""#]
    })
    .await;

    // A pod of this node finishes: it is no longer filtered.
    let mut finished: Pod = admin.get("default", "db-1").await.unwrap();
    finished.status.phase = PodPhase::Succeeded;
    admin.update_status(&finished).await.unwrap();
    until("the finished pod", |listing| {
        !has_chain(listing, "ingress-10.42.0.6") && elements(listing, "ingress-pods").is_empty()
    })
    .await;

    admin.create(&db_pod("n1", "db-3")).await.unwrap();
    run_with_address(&admin, "db-3", "10.42.0.8").await;
    until("the new pod", |listing| {
        has_chain(listing, "ingress-10.42.0.8")
    })
    .await;
    admin
        .delete(Kind::NetworkPolicy, "default", "db", None)
        .await
        .unwrap();
    until("the deleted policy", |listing| {
        !has_chain(listing, "ingress-10.42.0.8") && elements(listing, set).is_empty()
    })
    .await;

    enforcer.stop(None);
    handle.await.unwrap();
    // The table outlives the enforcer.
    assert!(has_chain(&listing(), "forward"));
    policy_table::remove().unwrap();
}
