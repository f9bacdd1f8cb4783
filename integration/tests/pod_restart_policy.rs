//! End to end: a pod's restartPolicy decides what happens when its command exits. A failing
//! command under OnFailure is restarted with back-off (restartCount grows, the container waits in
//! CrashLoopBackOff); a command that exits 0 under Never leaves the pod Succeeded.

use std::time::Duration;

use flotilla_integration::{
    Cluster, ClusterOptions, Observation, objects, running_as_root_or_skip, wait_until,
};

const NAMESPACE: &str = "default";

fn pod(name: &str, restart_policy: &str, script: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {restart_policy}
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "{script}"]
"#
    )
}

fn start_with_pod(name: &str, restart_policy: &str, script: &str) -> Cluster {
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let applied =
        cluster.apply_manifest(&format!("{name}.yaml"), &pod(name, restart_policy, script));
    assert!(
        applied.status.success(),
        "apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    cluster
}

#[test]
fn failing_pod_with_on_failure_restarts_and_backs_off() {
    if !running_as_root_or_skip("failing_pod_with_on_failure_restarts_and_backs_off") {
        return;
    }
    let cluster = start_with_pod("crasher", "OnFailure", "exit 1");
    let mut restarts = 0;
    let mut saw_back_off = false;
    wait_until(
        Duration::from_secs(90),
        "crasher to be restarted and seen in CrashLoopBackOff",
        || {
            let pod = cluster.get_object("pod", "crasher", Some(NAMESPACE))?;
            restarts = restarts.max(objects::restart_count(&pod));
            saw_back_off |= objects::waiting_reasons(&pod).contains(&"CrashLoopBackOff");
            Ok(if restarts > 0 && saw_back_off {
                Observation::Done
            } else {
                Observation::Waiting(format!(
                    "restartCount {restarts}, CrashLoopBackOff seen: {saw_back_off}, status: {}",
                    pod["status"]
                ))
            })
        },
    );
}

#[test]
fn pod_exiting_zero_with_never_succeeds() {
    if !running_as_root_or_skip("pod_exiting_zero_with_never_succeeds") {
        return;
    }
    let cluster = start_with_pod("finisher", "Never", "exit 0");
    wait_until(Duration::from_secs(60), "finisher to be Succeeded", || {
        let pod = cluster.get_object("pod", "finisher", Some(NAMESPACE))?;
        Ok(match objects::phase(&pod) {
            "Succeeded" => Observation::Done,
            "Failed" => panic!("finisher Failed: {}", pod["status"]),
            phase => Observation::Waiting(format!("phase {phase:?}")),
        })
    });
}
