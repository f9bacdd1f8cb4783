//! The proxy actor on a test API server, writing a real table in a network namespace of the
//! test's own (root only): the full resync at start, incremental updates, and a resync after
//! a failed update.

use std::process::Command;
use std::time::{Duration, Instant};

use ractor::Actor;
use serde_json::Value;

use flotilla_kernel::object::{
    Endpoint, EndpointConditions, EndpointPort, EndpointSlice, Kind, ObjectMeta,
    SERVICE_NAME_LABEL, Service, ServicePort, ServiceSpec,
};
use flotilla_node_os::network::service_table::{self, Chain, Table};

use super::*;
use crate::test_api::TestApi;

const PATIENCE: Duration = Duration::from_secs(10);

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: name.into(),
        namespace: "default".into(),
        ..ObjectMeta::default()
    }
}

fn web_service() -> Service {
    Service {
        metadata: meta("web"),
        spec: ServiceSpec {
            cluster_ip: "10.43.0.10".into(),
            ports: vec![ServicePort {
                name: "http".into(),
                port: 80,
                ..ServicePort::default()
            }],
            ..ServiceSpec::default()
        },
        ..Service::default()
    }
}

fn web_slice(ready: bool) -> EndpointSlice {
    let mut metadata = meta("web-abcde");
    metadata
        .labels
        .insert(SERVICE_NAME_LABEL.into(), "web".into());
    EndpointSlice {
        metadata,
        endpoints: vec![Endpoint {
            addresses: vec!["10.42.1.5".into()],
            conditions: EndpointConditions {
                ready: Some(ready),
                ..EndpointConditions::default()
            },
            ..Endpoint::default()
        }],
        ports: vec![EndpointPort {
            name: "http".into(),
            protocol: "TCP".into(),
            port: Some(8080),
            ..EndpointPort::default()
        }],
        ..EndpointSlice::default()
    }
}

/// The table as nft lists it, empty without one.
fn listing() -> Vec<Value> {
    let output = Command::new("nft")
        .args(["-j", "list", "table", "ip", service_table::TABLE])
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

/// The elements of the map `name`, as JSON text.
fn elements(listing: &[Value], name: &str) -> Vec<String> {
    listing
        .iter()
        .find(|object| object["map"]["name"] == name)
        .and_then(|map| map["map"]["elem"].as_array())
        .map(|elements| elements.iter().map(Value::to_string).collect())
        .unwrap_or_default()
}

/// Waits until the table satisfies `condition`.
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

#[test]
fn the_proxy_resyncs_at_start_then_follows_services_and_endpoints() {
    if !flotilla_test_policy::root_or_skip(
        "the_proxy_resyncs_at_start_then_follows_services_and_endpoints",
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
            .block_on(follows_services_and_endpoints());
    })
    .join()
    .unwrap();
}

async fn follows_services_and_endpoints() {
    let ours = network_namespace();
    let pool = tokio::task::spawn_blocking(network_namespace)
        .await
        .unwrap();
    assert_eq!(pool, ours, "nft would run outside the test's namespace");
    // What a previous run left.
    service_table::replace(&Table {
        chains: vec![Chain {
            name: "svc-default/gone/tcp/80".into(),
            rules: vec![],
        }],
        ..Table::default()
    })
    .unwrap();

    let api_server = TestApi::start().await;
    let admin = api_server.client("admin", "admin");
    admin.create(&web_service()).await.unwrap();
    let slice = admin.create(&web_slice(true)).await.unwrap();
    let (proxy, handle) = Actor::spawn(
        None,
        ServiceProxy,
        ServiceProxyArgs {
            node_name: "n1".into(),
            api: api_server.client("node:n1", "node"),
        },
    )
    .await
    .unwrap();

    let chain = "svc-default/web/tcp/http";
    let routed =
        format!(r#"[{{"concat":["10.43.0.10","tcp",80]}},{{"goto":{{"target":"{chain}"}}}}]"#);
    until("the resync", |listing| {
        !has_chain(listing, "svc-default/gone/tcp/80")
            && has_chain(listing, chain)
            && elements(listing, "service-ips") == [routed.clone()]
    })
    .await;

    // The endpoint stops being ready: the address is refused instead.
    let mut not_ready = slice.clone();
    not_ready.endpoints[0].conditions.ready = Some(false);
    admin.update(&not_ready).await.unwrap();
    let refused = r#"[{"concat":["10.43.0.10","tcp",80]},{"goto":{"target":"reject-chain"}}]"#;
    until("the reject", |listing| {
        !has_chain(listing, chain)
            && elements(listing, "service-ips").is_empty()
            && elements(listing, "no-endpoint-services") == [refused]
    })
    .await;

    // Someone deletes the table: the next update fails, and the proxy resyncs it whole.
    service_table::remove().unwrap();
    // A second Service comes, the first goes.
    let mut api = web_service();
    api.metadata.name = "api".into();
    api.spec.cluster_ip = "10.43.0.11".into();
    admin.create(&api).await.unwrap();
    admin
        .delete(Kind::Service, "default", "web", None)
        .await
        .unwrap();
    until("the resync after a failure", |listing| {
        elements(listing, "no-endpoint-services")
            == [r#"[{"concat":["10.43.0.11","tcp",80]},{"goto":{"target":"reject-chain"}}]"#]
    })
    .await;

    proxy.stop(None);
    handle.await.unwrap();
    // The table outlives the proxy: connections do too.
    assert!(has_chain(&listing(), "services"));
    service_table::remove().unwrap();
}
