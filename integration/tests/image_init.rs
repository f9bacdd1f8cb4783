//! End to end: init containers of a busybox pod run in order, each to completion, before the
//! pod's container starts; the pod is Pending and reads `Init:N/2` meanwhile, and their logs
//! stay readable by name. The same under `runtimeClassName: runc`.

use std::time::Duration;

use serde_json::Value;

use flotilla_integration::{Observation, PodRuntime, running_as_root_or_skip, wait_until};

const INITIALIZED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: initialized
spec:
  initContainers:
  - name: first
    image: busybox:1.35
    command: [sh, -c, 'echo first; sleep 1']
  - name: second
    image: busybox:1.35
    command: [sh, -c, 'echo second']
  containers:
  - name: app
    image: busybox:1.35
    command: [sh, -c, 'echo app; exec sleep 3600']
"#;

fn time_at<'a>(pod: &'a Value, pointer: &str) -> &'a str {
    pod.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[test]
fn init_containers_run_in_order_before_the_container() {
    if !running_as_root_or_skip("init_containers_run_in_order_before_the_container") {
        return;
    }
    run_init_containers(PodRuntime::Native);
}

#[test]
fn init_containers_run_in_order_under_runc() {
    if !running_as_root_or_skip("init_containers_run_in_order_under_runc") {
        return;
    }
    run_init_containers(PodRuntime::Runc);
}

#[test]
fn init_containers_run_in_order_under_containerd_through_the_cri() {
    if !running_as_root_or_skip("init_containers_run_in_order_under_containerd_through_the_cri") {
        return;
    }
    run_init_containers(PodRuntime::Cri);
}

fn run_init_containers(runtime: PodRuntime) {
    let cluster = runtime.start_cluster().expect("the busybox test image");
    cluster.apply_pod("initialized", INITIALIZED);

    let mut seen_initializing = false;
    let mut pod = Value::Null;
    wait_until(Duration::from_secs(60), "the container running", || {
        let listed = cluster.cli_ok(&["get", "pods", "initialized"]);
        seen_initializing |= listed.contains("Init:");
        pod = cluster
            .client()
            .get_object("pod", "initialized", Some("default"))?;
        let running = pod
            .pointer("/status/containerStatuses/0/state/running")
            .is_some();
        Ok(if running {
            Observation::Done
        } else {
            Observation::Waiting(listed)
        })
    });
    assert!(
        seen_initializing,
        "get pods showed the init containers' progress"
    );
    let first_done = time_at(
        &pod,
        "/status/initContainerStatuses/0/state/terminated/finishedAt",
    );
    let second_started = time_at(
        &pod,
        "/status/initContainerStatuses/1/state/terminated/startedAt",
    );
    let second_done = time_at(
        &pod,
        "/status/initContainerStatuses/1/state/terminated/finishedAt",
    );
    let app_started = time_at(&pod, "/status/containerStatuses/0/state/running/startedAt");
    assert!(!first_done.is_empty() && !second_done.is_empty(), "{pod}");
    // RFC 3339 times of one zone compare as text.
    assert!(
        first_done <= second_started,
        "{first_done} <= {second_started}"
    );
    assert!(second_done <= app_started, "{second_done} <= {app_started}");
    assert_eq!(
        cluster.cli_ok(&["logs", "initialized", "-c", "first"]),
        "first\n"
    );
    assert_eq!(
        cluster.cli_ok(&["logs", "initialized", "-c", "second"]),
        "second\n"
    );
    assert_eq!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Running")
    );
}
