//! End to end: probes of a busybox pod, made from inside its own network namespace. A startup
//! probe (TCP) and a readiness probe (HTTP) wait for busybox's httpd, started three seconds in,
//! so the pod runs but stays not Ready until then; an exec liveness probe that starts failing
//! (its file removed through `flotilla exec`) gets the container killed — its preStop hook
//! first, then SIGTERM — and restarted, with the probe's reason on its last state. Its
//! postStart hook runs in the container. The same under `runtimeClassName: runc`.

use std::time::{Duration, Instant};

use serde_json::Value;

use flotilla_integration::{Cluster, Observation, PodRuntime, running_as_root_or_skip, wait_until};

const PROBED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: busybox:1.35
    command: [sh, -c]
    args:
    - mkdir -p /tmp /www; touch /tmp/alive; echo ok > /www/index.html; (sleep 3; exec httpd -f -p 8080 -h /www) & trap 'echo got-term; exit 0' TERM; while :; do sleep 1; done
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'echo post-start > /tmp/post-start']}
      preStop:
        exec: {command: [sh, -c, 'echo pre-stop > /proc/1/fd/1']}
    ports: [{name: http, containerPort: 8080}]
    startupProbe:
      tcpSocket: {port: http}
      periodSeconds: 1
      failureThreshold: 30
    readinessProbe:
      httpGet: {path: /index.html, port: 8080}
      periodSeconds: 1
    livenessProbe:
      exec: {command: [test, -e, /tmp/alive]}
      periodSeconds: 1
      failureThreshold: 2
"#;

fn pod(cluster: &Cluster) -> anyhow::Result<Value> {
    cluster
        .client()
        .get_object("pod", "probed", Some("default"))
}

fn status<'a>(pod: &'a Value, pointer: &str) -> &'a Value {
    pod.pointer(pointer).unwrap_or(&Value::Null)
}

#[test]
fn probes_gate_readiness_and_restart_a_container_that_stops_being_alive() {
    if !running_as_root_or_skip(
        "probes_gate_readiness_and_restart_a_container_that_stops_being_alive",
    ) {
        return;
    }
    run_probed(PodRuntime::Native);
}

#[test]
fn probes_work_the_same_under_runc() {
    if !running_as_root_or_skip("probes_work_the_same_under_runc") {
        return;
    }
    run_probed(PodRuntime::Runc);
}

#[test]
fn probes_work_under_containerd_through_the_cri() {
    if !running_as_root_or_skip("probes_work_under_containerd_through_the_cri") {
        return;
    }
    run_probed(PodRuntime::Cri);
}

fn run_probed(runtime: PodRuntime) {
    let cluster = runtime.start_cluster().expect("the busybox test image");
    cluster.apply_pod("probed", PROBED);

    // Running but not Ready (nor started) while httpd is not up yet.
    let mut running_since = None;
    wait_until(
        Duration::from_secs(30),
        "the pod running, not ready",
        || {
            let pod = pod(&cluster)?;
            let running = status(&pod, "/status/containerStatuses/0/state/running").is_object();
            let ready = status(&pod, "/status/containerStatuses/0/ready") == &Value::Bool(true);
            Ok(if running && !ready {
                running_since = Some(Instant::now());
                Observation::Done
            } else {
                Observation::Waiting(format!("{:?}", pod.pointer("/status")))
            })
        },
    );
    wait_until(Duration::from_secs(30), "the pod ready", || {
        let pod = pod(&cluster)?;
        let ready = status(&pod, "/status/containerStatuses/0/ready") == &Value::Bool(true);
        let started = status(&pod, "/status/containerStatuses/0/started") == &Value::Bool(true);
        let condition = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        Ok(if ready && started && condition {
            Observation::Done
        } else {
            Observation::Waiting(format!("{:?}", pod.pointer("/status")))
        })
    });
    let waited = running_since.expect("seen running").elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "ready only once httpd answers ({waited:?})"
    );

    wait_until(Duration::from_secs(10), "the postStart hook's file", || {
        let output = cluster.cli(&["exec", "probed", "--", "cat", "/tmp/post-start"]);
        Ok(String::from_utf8_lossy(&output.stdout) == "post-start\n")
    });
    cluster.cli_ok(&["exec", "probed", "--", "rm", "/tmp/alive"]);
    wait_until(Duration::from_secs(60), "a restart for liveness", || {
        let pod = pod(&cluster)?;
        let restarts = status(&pod, "/status/containerStatuses/0/restartCount").as_u64();
        let message = status(
            &pod,
            "/status/containerStatuses/0/lastState/terminated/message",
        )
        .as_str()
        .unwrap_or_default()
        .to_string();
        Ok(
            if restarts == Some(1) && message.starts_with("Liveness probe failed") {
                Observation::Done
            } else {
                Observation::Waiting(format!("{:?}", pod.pointer("/status")))
            },
        )
    });
    let logs = cluster.cli_ok(&["logs", "probed"]);
    let pre_stop = logs
        .find("pre-stop")
        .expect("the preStop hook wrote to the log");
    let term = logs
        .find("got-term")
        .expect("SIGTERM reached the container");
    assert!(pre_stop < term, "preStop before SIGTERM: {logs}");
    // The new run has its file again and becomes ready again.
    wait_until(Duration::from_secs(30), "ready after the restart", || {
        let pod = pod(&cluster)?;
        Ok(status(&pod, "/status/containerStatuses/0/ready") == &Value::Bool(true))
    });
}
