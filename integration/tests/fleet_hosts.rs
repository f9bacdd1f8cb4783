//! End to end on real test hosts (network namespaces on a bridge): `flotilla server` in one
//! host, `flotilla node` in two others. A node serves exec and logs across hosts. Cutting one
//! node off the network makes the control plane mark it NotReady and run its replicas on the
//! other; when the cut heals, the stale node stops the pods it no longer owns and is Ready
//! again.

use std::time::Duration;

use flotilla_integration::{
    Direction, Fleet, Observation, Partition, Peers, running_as_root_or_skip, wait_until,
};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: main
        image: host
        command: [\"/bin/sleep\", \"600\"]
        resources:
          requests:
            cpu: 100m
";

#[test]
fn a_partitioned_node_is_replaced_and_cleans_up_when_healed() {
    if !running_as_root_or_skip("a_partitioned_node_is_replaced_and_cleans_up_when_healed") {
        return;
    }
    let server_flags = ["--node-grace-period", "2s", "--pod-eviction-timeout", "1s"];
    let mut fleet = Fleet::start(2, &server_flags, &["--lease-renew", "250ms"]).expect("fleet");
    fleet.apply(WEB).expect("apply");
    wait_until(
        Duration::from_secs(60),
        "4 replicas Running, some on n2",
        || {
            let pods = fleet.pods()?;
            let running = pods.iter().filter(|p| p.running).count();
            let on_n2 = pods.iter().filter(|p| p.node == "n2").count();
            Ok(if running == 4 && on_n2 > 0 {
                Observation::Done
            } else {
                Observation::Waiting(format!("{pods:?}"))
            })
        },
    );
    let stale: Vec<String> = fleet
        .pods()
        .expect("pods")
        .into_iter()
        .filter(|p| p.node == "n2")
        .map(|p| p.name)
        .collect();

    // A node on another host serves exec and logs over its own connection to the server.
    let on_n2 = &stale[0];
    let ran = fleet
        .cli(&["exec", on_n2, "--", "sh", "-c", "echo ran on n2"])
        .expect("exec on n2");
    assert_eq!(ran, "ran on n2\n");
    fleet.cli(&["logs", on_n2]).expect("logs from n2");

    let n2 = fleet.node_host(2).expect("n2's host");
    let cut = Partition::Drop {
        direction: Direction::Both,
        peers: Peers::All,
    };
    fleet.hosts.partition(n2, cut).expect("partition");
    wait_until(
        Duration::from_secs(60),
        "n2 NotReady and 4 replicas on n1",
        || {
            let pods = fleet.pods()?;
            let live = pods
                .iter()
                .filter(|p| p.node == "n1" && !p.terminating && p.running);
            Ok(if !fleet.ready("n2") && live.count() == 4 {
                Observation::Done
            } else {
                Observation::Waiting(format!("{pods:?}"))
            })
        },
    );

    fleet.hosts.heal(n2).expect("heal");
    wait_until(
        Duration::from_secs(60),
        "n2 Ready again without its stale pods",
        || {
            let pods = fleet.pods()?;
            let left: Vec<_> = pods.iter().filter(|p| stale.contains(&p.name)).collect();
            Ok(if fleet.ready("n2") && left.is_empty() {
                Observation::Done
            } else {
                Observation::Waiting(format!("stale pods left: {left:?}"))
            })
        },
    );
}
