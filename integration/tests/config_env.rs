//! End to end: a container's environment comes from a ConfigMap and a Secret. A pod that names
//! a missing ConfigMap waits in CreateContainerConfigError until it is created, then starts
//! with the values, which its output shows. `get secret` never shows the data in a table.

use std::time::Duration;

use flotilla_integration::{
    Cluster, ClusterOptions, Observation, objects, running_as_root_or_skip, wait_until,
};

const NAMESPACE: &str = "default";

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: configured
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "echo level=$LEVEL password=$DB_PASSWORD app_mode=$APP_mode; sleep 300"]
    envFrom:
    - prefix: APP_
      configMapRef:
        name: settings
    env:
    - name: LEVEL
      valueFrom:
        configMapKeyRef:
          name: settings
          key: level
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef:
          name: db
          key: password
"#;

const CONFIG: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  level: debug
  mode: fast
---
apiVersion: v1
kind: Secret
metadata:
  name: db
stringData:
  password: hunter2
"#;

#[test]
fn environment_from_configmap_and_secret() {
    if !running_as_root_or_skip("environment_from_configmap_and_secret") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let applied = cluster.apply_manifest("pod.yaml", POD);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_until(
        Duration::from_secs(60),
        "the pod to wait for its configmap",
        || {
            let pod = cluster.get_object("pod", "configured", Some(NAMESPACE))?;
            Ok(
                if objects::waiting_reasons(&pod).contains(&"CreateContainerConfigError") {
                    Observation::Done
                } else {
                    Observation::Waiting(format!("status: {}", pod["status"]))
                },
            )
        },
    );
    let applied = cluster.apply_manifest("config.yaml", CONFIG);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    wait_until(
        Duration::from_secs(60),
        "the pod to print its environment",
        || {
            let logs = cluster.cli(&["logs", "configured"]);
            let text = String::from_utf8_lossy(&logs.stdout).to_string();
            Ok(
                if text.contains("level=debug password=hunter2 app_mode=fast") {
                    Observation::Done
                } else {
                    Observation::Waiting(format!(
                        "logs {text:?} {}",
                        String::from_utf8_lossy(&logs.stderr)
                    ))
                },
            )
        },
    );
    let table = cluster.cli_ok(&["get", "secrets"]);
    assert!(table.contains("db") && table.contains("Opaque"), "{table}");
    assert!(!table.contains("hunter2"), "{table}");
}
