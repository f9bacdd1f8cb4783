//! End to end, on test hosts with three nodes: batch/v1. An Indexed Job with four
//! completions and parallelism 2 completes with every index, each pod seeing its own
//! `JOB_COMPLETION_INDEX` and hostname; deleting the Job deletes its pods. A CronJob every
//! minute runs and keeps one successful Job (its history limit); `create job --from` runs it
//! at once; a `batch/v1beta1` manifest is refused with the version to use. One fleet serves
//! both, one after the other.

use std::collections::BTreeSet;
use std::time::Duration;

use flotilla_integration::{Fleet, Observation, objects, poll_until, running_as_root_or_skip};

const POLL: Duration = Duration::from_millis(500);
const JOB_LIMIT: Duration = Duration::from_secs(180);
/// Two runs of an every-minute CronJob: up to a minute to the first, one more to the second.
const CRON_LIMIT: Duration = Duration::from_secs(170);

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

const CRON_JOB: &str = r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "*/1 * * * *"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    metadata:
      labels: {app: hello}
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: hello
            image: busybox:1.35
            imagePullPolicy: Never
            command: [sh, -c, 'echo hello']
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
fn jobs_and_cron_jobs_run_on_three_nodes() {
    if !running_as_root_or_skip("jobs_and_cron_jobs_run_on_three_nodes") {
        return;
    }
    let fleet = Fleet::start(3, &[], &[]).expect("a server and three nodes");
    fleet.import_busybox().expect("busybox on every node");
    an_indexed_job_completes_with_every_index(&fleet);
    a_cron_job_runs_every_minute_and_keeps_its_history(&fleet);
}

fn an_indexed_job_completes_with_every_index(fleet: &Fleet) {
    fleet.apply(INDEXED_JOB).expect("the Job is accepted");

    poll_until(JOB_LIMIT, POLL, || {
        let conditions = job_conditions(fleet, "indexed")?;
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

/// The Jobs labelled `app: hello`, with whether each completed.
fn hello_jobs(fleet: &Fleet) -> anyhow::Result<Vec<(String, bool)>> {
    let jobs = fleet.json(&["get", "jobs", "-l", "app=hello"])?;
    Ok(objects::items(&jobs)?
        .iter()
        .map(|job| {
            let complete = job["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Complete" && c["status"] == "True");
            (objects::name(job).to_owned(), complete)
        })
        .collect())
}

fn a_cron_job_runs_every_minute_and_keeps_its_history(fleet: &Fleet) {
    let old = CRON_JOB.replace("batch/v1", "batch/v1beta1");
    let refused = fleet.apply(&old).expect_err("batch/v1beta1 is refused");
    assert!(
        format!("{refused:#}").contains(
            "CronJob batch/v1beta1 is no longer served (removed in Kubernetes 1.25); use \
             apiVersion \"batch/v1\""
        ),
        "{refused:#}"
    );
    let bad = CRON_JOB.replace("*/1 * * * *", "*/1 * * *");
    let refused = fleet
        .apply(&bad)
        .expect_err("a four-field schedule is refused");
    assert!(
        format!("{refused:#}").contains("spec.schedule: Invalid value"),
        "{refused:#}"
    );

    fleet.apply(CRON_JOB).expect("the CronJob is accepted");
    let row = fleet.cli(&["get", "cronjobs"]).expect("get cronjobs");
    assert!(
        row.starts_with(
            "NAME    SCHEDULE      TIMEZONE   SUSPEND   ACTIVE   LAST SCHEDULE   AGE\n"
        ),
        "{row}"
    );
    let created = fleet
        .cli(&["create", "job", "hello-now", "--from=cronjob/hello"])
        .expect("create job --from");
    assert_eq!(created, "job.batch/hello-now created\n");

    // Every scheduled Job seen, until two have run and only the latest success is kept.
    let mut seen = BTreeSet::new();
    poll_until(CRON_LIMIT, POLL, || {
        let jobs = hello_jobs(fleet)?;
        seen.extend(
            jobs.iter()
                .filter(|(name, _)| name != "hello-now")
                .map(|(name, _)| name.clone()),
        );
        let complete: Vec<&String> = jobs.iter().filter(|(_, c)| *c).map(|(n, _)| n).collect();
        Ok(if seen.len() >= 2 && complete.len() == 1 {
            Observation::Done
        } else {
            Observation::Waiting(format!("seen {seen:?}, complete now {complete:?}"))
        })
    })
    .expect("two scheduled runs, one kept");

    let cron_job = fleet
        .json(&["get", "cronjob", "hello"])
        .expect("the CronJob");
    assert!(
        cron_job["status"]["lastScheduleTime"].is_string(),
        "{cron_job}"
    );
    assert!(
        cron_job["status"]["lastSuccessfulTime"].is_string(),
        "{cron_job}"
    );
    for name in &seen {
        let minutes = name
            .strip_prefix("hello-")
            .and_then(|m| m.parse::<u64>().ok());
        assert!(
            minutes.is_some(),
            "{name} is not hello-<minutes since the epoch>"
        );
    }

    fleet
        .cli(&["delete", "cronjob", "hello"])
        .expect("the CronJob deleted");
    poll_until(JOB_LIMIT, POLL, || {
        let left = hello_jobs(fleet)?.len();
        Ok(if left == 0 {
            Observation::Done
        } else {
            Observation::Waiting(format!("{left} jobs left"))
        })
    })
    .expect("the CronJob's Jobs are deleted with it");
}
