//! End to end, on test hosts with three nodes: batch/v1. An Indexed Job with four
//! completions and parallelism 2 completes with every index, each pod seeing its own
//! `JOB_COMPLETION_INDEX` and hostname; deleting the Job deletes its pods.

use std::collections::BTreeSet;
use std::time::Duration;

use flotilla_integration::{Fleet, Observation, objects, poll_until, running_as_root_or_skip};

const POLL: Duration = Duration::from_millis(500);
const JOB_LIMIT: Duration = Duration::from_secs(180);

const INDEXED_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: indexed
spec:
  completions: 4
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: worker
        image: busybox:1.35
        imagePullPolicy: Never
        command: [sh, -c, 'echo "index $JOB_COMPLETION_INDEX host $(hostname)"; sleep 1']
"#;

/// The True condition types of Job `name`.
fn job_conditions(fleet: &Fleet, name: &str) -> anyhow::Result<Vec<String>> {
    let job = fleet.json(&["get", "job", name])?;
    Ok(job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "True")
        .filter_map(|c| c["type"].as_str().map(str::to_owned))
        .collect())
}

#[test]
fn an_indexed_job_completes_with_every_index() {
    if !running_as_root_or_skip("an_indexed_job_completes_with_every_index") {
        return;
    }
    let fleet = Fleet::start(3, &[], &[]).expect("a server and three nodes");
    fleet.import_busybox().expect("busybox on every node");
    fleet.apply(INDEXED_JOB).expect("the Job is accepted");

    poll_until(JOB_LIMIT, POLL, || {
        let conditions = job_conditions(&fleet, "indexed")?;
        Ok(if conditions.iter().any(|c| c == "Complete") {
            Observation::Done
        } else if conditions.iter().any(|c| c == "Failed") {
            anyhow::bail!(
                "the Job failed: {}",
                fleet.cli(&["describe", "job", "indexed"])?
            )
        } else {
            Observation::Waiting(format!("conditions {conditions:?}"))
        })
    })
    .expect("the Job completes");

    let job = fleet.json(&["get", "job", "indexed"]).expect("the Job");
    assert_eq!(job["status"]["completedIndexes"], "0-3", "{job}");
    assert_eq!(job["status"]["succeeded"], 4, "{job}");
    let row = fleet.cli(&["get", "jobs"]).expect("get jobs");
    assert!(
        row.starts_with("NAME      STATUS     COMPLETIONS   DURATION   AGE\n"),
        "{row}"
    );
    assert!(row.contains("indexed   Complete   4/4"), "{row}");

    let pods = fleet
        .json(&["get", "pods", "-l", "batch.kubernetes.io/job-name=indexed"])
        .expect("the Job's pods");
    let mut seen = BTreeSet::new();
    for pod in objects::items(&pods).expect("a pod list") {
        let name = objects::name(pod);
        assert_eq!(pod["status"]["phase"], "Succeeded", "{pod}");
        let index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            .as_str()
            .expect("an index annotation")
            .to_owned();
        let logs = fleet.cli(&["logs", name]).expect("the pod's logs");
        assert_eq!(
            logs.trim(),
            format!("index {index} host indexed-{index}"),
            "{name}"
        );
        seen.insert(index);
    }
    assert_eq!(seen, BTreeSet::from(["0", "1", "2", "3"].map(String::from)));

    fleet
        .cli(&["delete", "job", "indexed"])
        .expect("the Job deleted");
    poll_until(JOB_LIMIT, POLL, || {
        let pods = fleet.json(&["get", "pods", "-l", "batch.kubernetes.io/job-name=indexed"])?;
        let left = objects::items(&pods)?.len();
        Ok(if left == 0 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{left} pods left"))
        })
    })
    .expect("the Job's pods are deleted with it");
}
