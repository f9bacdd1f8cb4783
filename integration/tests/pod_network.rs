//! End to end, on test hosts: a server and two nodes, each node given its own pod range by
//! the IPAM controller and running flotilla's default pod network (bridge, host-local,
//! portmap; host-gw routes between the nodes; masquerade). Pods on one node listen on the
//! same port without colliding, reach each other by pod IP across the nodes, and a hostPort
//! answers from outside; deleting the pods detaches their networks, leaving no veth or record.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use flotilla_integration::{Fleet, Observation, poll_until, running_as_root_or_skip};

const POLL: Duration = Duration::from_millis(200);

/// A busybox web server pinned to `node`, answering with its hostname.
fn web_pod(name: &str, node: &str, host_port: Option<u16>) -> String {
    let host_port = host_port
        .map(|port| format!("\n      hostPort: {port}"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeSelector:
    kubernetes.io/hostname: {node}
  containers:
  - name: web
    image: busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports:
    - containerPort: 8080{host_port}
"#
    )
}

/// What `wget` in pod `from` gets from `url` (retried briefly: routes settle as nodes join).
fn fetch_from(fleet: &Fleet, from: &str, url: &str) -> Result<String> {
    // (busybox 1.35's wget crashes with -T; the CLI's own limit bounds it.)
    fleet.exec_until_ok(from, &["wget", "-qO-", url], Duration::from_secs(30))
}

/// The pods' veths on node `nN`'s bridge.
fn pod_veths(fleet: &Fleet, index: usize) -> Result<String> {
    fleet.in_node_host(index, &["ip", "-o", "link", "show", "master", "flotilla0"])
}

fn attachments(node_dir: &Path) -> usize {
    std::fs::read_dir(node_dir.join("cni/attachments"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[test]
fn pods_on_two_nodes_reach_each_other_by_pod_ip() {
    if !running_as_root_or_skip("pods_on_two_nodes_reach_each_other_by_pod_ip") {
        return;
    }
    let fleet = Fleet::start(2, &[], &[]).expect("a server and two nodes");
    fleet.import_busybox().expect("busybox on both nodes");

    let (r1, r2) = (
        fleet.pod_range("n1").unwrap(),
        fleet.pod_range("n2").unwrap(),
    );
    assert_ne!(r1, r2);
    let cluster: ipnet::Ipv4Net = "10.42.0.0/16".parse().unwrap();
    assert!(cluster.contains(&r1) && cluster.contains(&r2), "{r1} {r2}");

    for (name, node, host_port) in [
        ("web-a", "n1", None),
        ("web-b", "n1", Some(30080)),
        ("web-c", "n2", None),
    ] {
        fleet.apply(&web_pod(name, node, host_port)).unwrap();
    }
    let running_ip = |name| fleet.running_pod_ip(name, Duration::from_secs(90)).unwrap();
    let (a, b, c) = (
        running_ip("web-a"),
        running_ip("web-b"),
        running_ip("web-c"),
    );
    for (ip, range) in [(a, r1), (b, r1), (c, r2)] {
        assert!(range.contains(&ip), "{ip} in {range}");
    }
    let wide = fleet.cli(&["get", "pods", "-o", "wide"]).unwrap();
    assert!(
        wide.contains(&a.to_string()) && wide.contains(&c.to_string()),
        "{wide}"
    );

    // Same port on one node, across nodes both ways.
    assert_eq!(
        fetch_from(&fleet, "web-a", &format!("http://{b}:8080/")).unwrap(),
        "web-b\n"
    );
    assert_eq!(
        fetch_from(&fleet, "web-a", &format!("http://{c}:8080/")).unwrap(),
        "web-c\n"
    );
    assert_eq!(
        fetch_from(&fleet, "web-c", &format!("http://{a}:8080/")).unwrap(),
        "web-a\n"
    );

    // A hostPort answers on the node's address, from another host.
    let n1 = fleet.hosts.address(fleet.node_host(1).unwrap()).unwrap();
    let server = fleet.hosts.host(0).unwrap();
    let url = format!("http://{n1}:30080/");
    poll_until(Duration::from_secs(30), POLL, || {
        let out = fleet.hosts.run_in(
            server,
            &["busybox", "wget", "-qO-", &url],
            Duration::from_secs(10),
        )?;
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        Ok(if body == "web-b\n" {
            Observation::Done
        } else {
            Observation::Waiting(format!("{url}: {body:?}"))
        })
    })
    .unwrap();

    assert_eq!(attachments(&fleet.node_dir(1)), 2);
    assert_eq!(pod_veths(&fleet, 1).unwrap().lines().count(), 2);
    for name in ["web-a", "web-b", "web-c"] {
        fleet.cli(&["delete", "pod", name]).unwrap();
    }
    poll_until(Duration::from_secs(60), POLL, || {
        let left = fleet.pods()?.len();
        Ok(if left == 0 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{left} pods left"))
        })
    })
    .unwrap();
    for index in [1, 2] {
        assert_eq!(attachments(&fleet.node_dir(index)), 0, "n{index}");
        let left = pod_veths(&fleet, index).unwrap();
        assert!(left.is_empty(), "n{index}: {left}");
    }
}
