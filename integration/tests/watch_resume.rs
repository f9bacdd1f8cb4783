//! End to end: `flotilla get --watch` outlives a restart of the control plane. The CLI's watch
//! reconnects with backoff and resumes after the last change it printed, so an object made
//! before the restart is printed once and one made after it still arrives.

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use flotilla_integration::{Cluster, ClusterOptions, running_as_root_or_skip};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

/// A running `get --watch`: its events as they are printed; killed when dropped.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<(String, String)>,
}

impl Watch {
    fn start(cluster: &Cluster) -> Result<Watch> {
        let mut child =
            cluster
                .client()
                .spawn_piped(&["get", "namespaces", "--watch", "-o", "json"])?;
        let stdout = child.stdout.take().context("the watch's stdout is piped")?;
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Watch {
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Reads events until `name` has been ADDED.
    fn wait_added(&mut self, name: &str) -> Result<()> {
        let until = Instant::now() + DEADLINE;
        while !self
            .seen
            .iter()
            .any(|(kind, seen)| kind == "ADDED" && seen == name)
        {
            let left = until.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => bail!(
                    "namespace {name} was not ADDED within {DEADLINE:?}; the watch printed {:?}, exited: {:?}",
                    self.seen,
                    self.child.try_wait()
                ),
            };
            let event: Value = serde_json::from_str(&line)
                .with_context(|| format!("the watch printed a line that is not JSON: {line}"))?;
            let kind = event["type"].as_str().unwrap_or_default().to_owned();
            let name = event["object"]["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.seen.push((kind, name));
        }
        Ok(())
    }

    fn times_added(&self, name: &str) -> usize {
        self.seen
            .iter()
            .filter(|(kind, seen)| kind == "ADDED" && seen == name)
            .count()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_watch_resumes_across_a_control_plane_restart() {
    if !running_as_root_or_skip("a_watch_resumes_across_a_control_plane_restart") {
        return;
    }
    let mut cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let applied = cluster.apply_manifest("before.yaml", &namespace("before"));
    assert!(applied.status.success(), "apply: {applied:?}");
    let mut watch = Watch::start(&cluster).expect("the watch starts");
    watch.wait_added("before").expect("the listing");

    let status = cluster.stop().expect("flotilla up stops on SIGTERM");
    assert!(status.success(), "flotilla up exited with {status}");
    cluster
        .restart()
        .expect("cluster starts again on the same data dir");
    let applied = cluster.apply_manifest("after.yaml", &namespace("after"));
    assert!(applied.status.success(), "apply: {applied:?}");

    watch
        .wait_added("after")
        .expect("the watch resumed after the restart");
    assert_eq!(
        watch.times_added("before"),
        1,
        "the resumed watch did not list again: {:?}",
        watch.seen
    );
    assert!(
        watch.child.try_wait().unwrap().is_none(),
        "the watch is still running"
    );
}
