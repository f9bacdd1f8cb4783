//! End to end: `flotilla top` with no metrics server. A host pod that spins a CPU and holds a
//! few megabytes shows in `top pod` (alone, per container and across namespaces) with well
//! over 100m of CPU and its memory, measured by the node's agent from the container's cgroup;
//! `top node` shows the node with what it uses and the shares of what it offers.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use flotilla_integration::{
    Cluster, ClusterOptions, Observation, objects, running_as_root_or_skip, wait_until,
};

/// Holds a 16 MB string (well over the 8 MiB the test looks for, whatever the shell's own
/// share), then spins.
const SPINNER: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: spinner
spec:
  containers:
  - name: spin
    image: host
    command:
    - /bin/sh
    - -c
    - |
      held=$(head -c 16000000 /dev/zero | tr '\000' a)
      while :; do :; done
    resources:
      limits:
        memory: 64Mi
"#;

/// A busy loop uses a whole core; anything above this shows it was measured.
const BUSY_MILLIS: u64 = 100;

/// Runs `flotilla ARGS`, prints what it wrote (for the test's log), and returns its output.
fn top(cluster: &Cluster, args: &[&str]) -> Result<String> {
    let output = cluster.cli(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("$ flotilla {}\n{stdout}{stderr}", args.join(" "));
    if !output.status.success() {
        bail!("flotilla {} failed: {stderr}", args.join(" "));
    }
    Ok(stdout)
}

/// The cells of the table row whose first cell is `first`, under the header's columns.
fn row<'a>(table: &'a str, first: &str) -> Result<Vec<&'a str>> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .context("no header")?
        .split_whitespace()
        .collect();
    let cells: Vec<&str> = lines
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .with_context(|| format!("no row {first:?} in\n{table}"))?;
    if cells.len() != header.len() {
        bail!("row {cells:?} does not fit header {header:?}");
    }
    Ok(cells)
}

fn millicores(cell: &str) -> Result<u64> {
    let number = cell
        .strip_suffix('m')
        .with_context(|| format!("CPU {cell:?}"))?;
    Ok(number.parse()?)
}

fn mebibytes(cell: &str) -> Result<u64> {
    let number = cell
        .strip_suffix("Mi")
        .with_context(|| format!("memory {cell:?}"))?;
    Ok(number.parse()?)
}

fn percent(cell: &str) -> Result<u64> {
    let number = cell
        .strip_suffix('%')
        .with_context(|| format!("share {cell:?}"))?;
    Ok(number.parse()?)
}

#[test]
fn top_shows_a_busy_pod_and_its_node() {
    if !running_as_root_or_skip("top_shows_a_busy_pod_and_its_node") {
        return;
    }
    let options = ClusterOptions::default();
    let node = options.node_name.clone();
    let cluster = Cluster::start(options).expect("cluster starts");
    let applied = cluster.apply_manifest("spinner.yaml", SPINNER);
    assert!(
        applied.status.success(),
        "apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_until(Duration::from_secs(60), "spinner to run", || {
        let pod = cluster.get_object("pod", "spinner", Some("default"))?;
        Ok(objects::is_running(&pod))
    });

    // The string is built before the loop starts: wait until both show.
    wait_until(
        Duration::from_secs(30),
        "top pod to show spinner busy",
        || {
            let table = top(&cluster, &["top", "pod"])?;
            let cells = row(&table, "spinner")?;
            let (cpu, memory) = (millicores(cells[1])?, mebibytes(cells[2])?);
            Ok(if cpu > BUSY_MILLIS && memory >= 8 {
                Observation::Done
            } else {
                Observation::Waiting(format!("CPU {cpu}m, memory {memory}Mi"))
            })
        },
    );

    let table = top(&cluster, &["top", "pod", "spinner", "--containers"]).unwrap();
    assert!(
        table.starts_with("POD ") && table.contains("CPU(cores)"),
        "{table}"
    );
    let cells = row(&table, "spinner").unwrap();
    assert_eq!(cells[1], "spin", "{table}");
    assert!(millicores(cells[2]).unwrap() > BUSY_MILLIS, "{table}");
    assert!(mebibytes(cells[3]).unwrap() > 0, "{table}");

    let table = top(&cluster, &["top", "pods", "-A"]).unwrap();
    let cells = row(&table, "default").unwrap();
    assert_eq!(cells[1], "spinner", "{table}");

    let table = top(&cluster, &["top", "node"]).unwrap();
    assert!(
        table.starts_with("NAME ") && table.contains("MEMORY(%)"),
        "{table}"
    );
    let cells = row(&table, &node).unwrap();
    assert!(millicores(cells[1]).unwrap() > BUSY_MILLIS, "{table}");
    assert!(percent(cells[2]).unwrap() > 0, "{table}");
    assert!(mebibytes(cells[3]).unwrap() > 0, "{table}");
    assert!(percent(cells[4]).unwrap() > 0, "{table}");

    let table = top(&cluster, &["top", "node", &node]).unwrap();
    assert_eq!(table.lines().count(), 2, "{table}");

    // A pod that does not exist reads as kubectl words it.
    let missing = cluster.cli(&["top", "pod", "ghost"]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("pods \"ghost\" not found"), "{stderr}");
}
