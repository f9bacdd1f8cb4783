//! End to end, on test hosts: a server and two nodes running flotilla's default pod network
//! with the VXLAN backend (`--network-backend vxlan`). Each node has the overlay's device
//! `flotilla.1` with the MAC derived from its address, routes the other node's range through
//! it, and gives its pods the overlay's MTU; pods on the two nodes reach each other by pod IP,
//! with replies larger than one packet.

use std::time::Duration;

use anyhow::Result;

use flotilla_integration::{Fleet, Observation, poll_until, running_as_root_or_skip};

const POLL: Duration = Duration::from_millis(200);

/// The size of the file each web server also serves: many packets' worth.
const BIG: usize = 200_000;

/// A busybox web server pinned to `node`, answering with its hostname at `/` and [`BIG`]
/// bytes at `/big`.
fn web_pod(name: &str, node: &str) -> String {
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
    command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && head -c {BIG} /dev/zero > /www/big && exec httpd -f -p 8080 -h /www']
    ports:
    - containerPort: 8080
"#
    )
}

/// What `script` prints in pod `from`, once it succeeds (retried briefly: the overlay settles
/// as nodes join).
fn run_in_pod(fleet: &Fleet, from: &str, script: &str) -> Result<String> {
    fleet.exec_until_ok(from, &["sh", "-c", script], Duration::from_secs(30))
}

#[test]
fn pods_on_two_nodes_reach_each_other_through_the_vxlan_overlay() {
    if !running_as_root_or_skip("pods_on_two_nodes_reach_each_other_through_the_vxlan_overlay") {
        return;
    }
    let fleet =
        Fleet::start(2, &[], &["--network-backend", "vxlan"]).expect("a server and two nodes");
    fleet.import_busybox().expect("busybox on both nodes");

    let (r1, r2) = (
        fleet.pod_range("n1").unwrap(),
        fleet.pod_range("n2").unwrap(),
    );
    assert_ne!(r1, r2);

    // Each node's device: VNI 1 on port 8472 from its address, with the MAC derived from it,
    // and the other node's range routed through it.
    for (index, peer_range) in [(1, r2), (2, r1)] {
        let address = fleet
            .hosts
            .address(fleet.node_host(index).unwrap())
            .unwrap();
        let [a, b, c, d] = address.octets();
        let mac = format!("0a:58:{a:02x}:{b:02x}:{c:02x}:{d:02x}");
        let mut link = String::new();
        poll_until(Duration::from_secs(30), POLL, || {
            link = fleet
                .in_node_host(index, &["ip", "-d", "link", "show", "flotilla.1"])
                .unwrap_or_default();
            Ok(if link.is_empty() {
                Observation::Waiting(format!("no flotilla.1 in n{index}"))
            } else {
                Observation::Done
            })
        })
        .unwrap();
        for expected in [
            "mtu 1450".to_string(),
            format!("link/ether {mac}"),
            format!("vxlan id 1 local {address}"),
            "dstport 8472".to_string(),
            "nolearning".to_string(),
        ] {
            assert!(link.contains(&expected), "n{index}: {expected:?} in {link}");
        }
        let vtep = peer_range.network();
        let wanted = format!("{peer_range} via {vtep} dev flotilla.1 onlink");
        poll_until(Duration::from_secs(30), POLL, || {
            let routes = fleet.in_node_host(index, &["ip", "route", "show", "proto", "70"])?;
            Ok(if routes.trim() == wanted {
                Observation::Done
            } else {
                Observation::Waiting(format!("n{index}: {routes:?}, not {wanted:?}"))
            })
        })
        .unwrap();
    }

    for (name, node) in [("web-a", "n1"), ("web-c", "n2")] {
        fleet.apply(&web_pod(name, node)).unwrap();
    }
    let running_ip = |name| fleet.running_pod_ip(name, Duration::from_secs(90)).unwrap();
    let (a, c) = (running_ip("web-a"), running_ip("web-c"));
    assert!(r1.contains(&a), "{a} in {r1}");
    assert!(r2.contains(&c), "{c} in {r2}");

    // The pods' interfaces leave room for the encapsulation.
    let mtu = run_in_pod(&fleet, "web-a", "cat /sys/class/net/eth0/mtu").unwrap();
    assert_eq!(mtu.trim(), "1450");

    // Across the nodes both ways, small and large.
    let fetch = |from: &str, url: String| run_in_pod(&fleet, from, &format!("wget -qO- {url}"));
    assert_eq!(
        fetch("web-a", format!("http://{c}:8080/")).unwrap(),
        "web-c\n"
    );
    assert_eq!(
        fetch("web-c", format!("http://{a}:8080/")).unwrap(),
        "web-a\n"
    );
    let size = run_in_pod(
        &fleet,
        "web-a",
        &format!("wget -qO- http://{c}:8080/big | wc -c"),
    );
    assert_eq!(size.unwrap().trim(), BIG.to_string());

    for name in ["web-a", "web-c"] {
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
}
