//! End to end on real test hosts (network namespaces on a bridge): `flotilla server` in one
//! host, `flotilla node` in two others. Cutting one node off the network makes the control
//! plane mark it NotReady and run its replicas on the other; when the cut heals, the stale
//! node stops the pods it no longer owns and is Ready again.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use flotilla_integration::{
    Direction, HostId, Hosts, Observation, Partition, Peers, ProcessSpec, flotilla_binary, objects,
    running_as_root_or_skip, wait_until,
};
use serde_json::Value;

const CLI_LIMIT: Duration = Duration::from_secs(30);

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

/// The operator's CLI, run in the server's host.
struct Cli {
    host: HostId,
    binary: String,
    config: String,
}

impl Cli {
    fn run(&self, hosts: &Hosts, args: &[&str]) -> Result<String> {
        let mut argv = vec![self.binary.as_str(), "--config", self.config.as_str()];
        argv.extend_from_slice(args);
        let out = hosts.run_in(self.host, &argv, CLI_LIMIT)?;
        if !out.status.success() {
            bail!(
                "flotilla {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn json(&self, hosts: &Hosts, args: &[&str]) -> Result<Value> {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        Ok(serde_json::from_str(&self.run(hosts, &args)?)?)
    }

    fn ready(&self, hosts: &Hosts, node: &str) -> bool {
        self.json(hosts, &["get", "node", node])
            .is_ok_and(|node| objects::node_is_ready(&node))
    }

    /// (pod name, node, terminating, Running) of every pod.
    fn pods(&self, hosts: &Hosts) -> Result<Vec<(String, String, bool, bool)>> {
        let list = self.json(hosts, &["get", "pods"])?;
        Ok(objects::items(&list)?
            .iter()
            .map(|p| {
                (
                    objects::name(p).to_string(),
                    p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                    !p["metadata"]["deletionTimestamp"].is_null(),
                    objects::is_running(p),
                )
            })
            .collect())
    }
}

#[test]
fn a_partitioned_node_is_replaced_and_cleans_up_when_healed() {
    if !running_as_root_or_skip("a_partitioned_node_is_replaced_and_cleans_up_when_healed") {
        return;
    }
    if let Err(error) = scenario() {
        panic!("{error:#}");
    }
}

fn scenario() -> Result<()> {
    let mut hosts = Hosts::build(3)?;
    let (server, n1, n2) = (hosts.host(0)?, hosts.host(1)?, hosts.host(2)?);
    let dir = tempfile::tempdir()?;
    let binary = flotilla_binary()?.display().to_string();
    let address = hosts.address(server)?.to_string();
    let listen = format!("{address}:7443");
    let data = dir.path().join("server");
    let data_dir = data.display().to_string();
    let home = dir.path().join("home").display().to_string();
    let server_argv = [
        binary.as_str(),
        "server",
        "--data-dir",
        &data_dir,
        "--listen",
        &listen,
        "--san",
        &address,
        "--node-grace-period",
        "2s",
        "--pod-eviction-timeout",
        "1s",
    ];
    hosts.spawn(
        server,
        ProcessSpec::new("server", &server_argv).env("HOME", &home),
    )?;
    wait_for_file(&data.join("admin.conf"))?;
    let cli = Cli {
        host: server,
        binary,
        config: data.join("admin.conf").display().to_string(),
    };

    for (host, name) in [(n1, "n1"), (n2, "n2")] {
        let out = cli.run(&hosts, &["token", "create"])?;
        let token = out.lines().next().context("a token")?.trim().to_string();
        let pin = out
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .context("the CA pin")?
            .to_string();
        let cgroup_root = hosts.cgroup_root(host)?;
        let node_dir = dir.path().join(name).display().to_string();
        let argv = [
            cli.binary.as_str(),
            "node",
            "--server",
            &listen,
            "--token",
            &token,
            "--ca-hash",
            &pin,
            "--node-name",
            name,
            "--data-dir",
            &node_dir,
            "--cgroup-root",
            &cgroup_root,
            "--lease-renew",
            "250ms",
        ];
        hosts.spawn(host, ProcessSpec::new(name, &argv))?;
    }
    wait_until(Duration::from_secs(60), "both nodes Ready", || {
        Ok(if cli.ready(&hosts, "n1") && cli.ready(&hosts, "n2") {
            Observation::Done
        } else {
            Observation::Waiting("nodes not Ready".into())
        })
    });
    let manifest = dir.path().join("web.yaml");
    std::fs::write(&manifest, WEB)?;
    cli.run(&hosts, &["apply", "-f", &manifest.display().to_string()])?;
    wait_until(
        Duration::from_secs(60),
        "4 replicas Running, some on n2",
        || {
            let pods = cli.pods(&hosts)?;
            let running = pods.iter().filter(|p| p.3).count();
            let on_n2 = pods.iter().filter(|p| p.1 == "n2").count();
            Ok(if running == 4 && on_n2 > 0 {
                Observation::Done
            } else {
                Observation::Waiting(format!("{pods:?}"))
            })
        },
    );
    let stale: Vec<String> = cli
        .pods(&hosts)?
        .into_iter()
        .filter(|p| p.1 == "n2")
        .map(|p| p.0)
        .collect();

    let cut = Partition::Drop {
        direction: Direction::Both,
        peers: Peers::All,
    };
    hosts.partition(n2, cut)?;
    wait_until(
        Duration::from_secs(60),
        "n2 NotReady and 4 replicas on n1",
        || {
            let pods = cli.pods(&hosts)?;
            let live_on_n1 = pods.iter().filter(|p| p.1 == "n1" && !p.2 && p.3).count();
            Ok(if !cli.ready(&hosts, "n2") && live_on_n1 == 4 {
                Observation::Done
            } else {
                Observation::Waiting(format!("{pods:?}"))
            })
        },
    );

    hosts.heal(n2)?;
    wait_until(
        Duration::from_secs(60),
        "n2 Ready again without its stale pods",
        || {
            let pods = cli.pods(&hosts)?;
            let left: Vec<&(String, String, bool, bool)> =
                pods.iter().filter(|p| stale.contains(&p.0)).collect();
            Ok(if cli.ready(&hosts, "n2") && left.is_empty() {
                Observation::Done
            } else {
                Observation::Waiting(format!("stale pods left: {left:?}"))
            })
        },
    );
    Ok(())
}

fn wait_for_file(path: &Path) -> Result<()> {
    wait_until(Duration::from_secs(30), "the server's admin config", || {
        Ok(if path.exists() {
            Observation::Done
        } else {
            Observation::Waiting(format!("no {}", path.display()))
        })
    });
    Ok(())
}
