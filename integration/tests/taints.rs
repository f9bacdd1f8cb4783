//! End to end: taints and tolerations. A node tainted with `flotilla taint` takes no pod that
//! does not tolerate the taint (the pod stays Pending, saying which taint), takes one that
//! does, and takes the waiting pod once the taint is removed; a `NoExecute` taint evicts the
//! running pods that do not tolerate it at once and those that tolerate it for a while when
//! their time is up; bad taint specs and tolerations are refused with what is wrong. `label`
//! and `annotate` set and remove a node's labels and annotations. A pod with scheduling gates
//! waits, unbound, until they are removed.

use std::process::Output;
use std::time::Duration;

use flotilla_integration::{
    Cluster, ClusterOptions, Observation, objects, running_as_root_or_skip, wait_until,
};

const DEADLINE: Duration = Duration::from_secs(60);
const NODE: &str = "flotilla-test";

/// A host pod sleeping, with `tolerations` (YAML lines under `tolerations:`, or none).
fn sleeper(name: &str, tolerations: &str) -> String {
    let tolerations = if tolerations.is_empty() {
        String::new()
    } else {
        format!("  tolerations:\n{tolerations}")
    };
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
{tolerations}  containers:
  - name: main
    image: host
    command: ["/bin/sh", "-c", "exec sleep 3600"]
"#
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn wait_running(cluster: &Cluster, name: &str) {
    wait_until(DEADLINE, &format!("pod {name} Running"), || {
        let pod = cluster.get_object("pod", name, None)?;
        Ok(if objects::is_running(&pod) {
            Observation::Done
        } else {
            Observation::Waiting(format!("{}", pod["status"]))
        })
    });
}

#[test]
fn a_tainted_node_takes_only_pods_that_tolerate_it() {
    if !running_as_root_or_skip("a_tainted_node_takes_only_pods_that_tolerate_it") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    // Labels and annotations, as kubectl sets them.
    assert_eq!(
        cluster.cli_ok(&["label", "nodes", NODE, "disk=ssd", "rack=r1"]),
        format!("node/{NODE} labeled\n")
    );
    let clash = cluster.cli(&["label", "node", NODE, "disk=hdd"]);
    assert!(!clash.status.success());
    assert!(
        stderr(&clash).contains("\"disk\" already has a value (ssd), and --overwrite is false"),
        "{}",
        stderr(&clash)
    );
    cluster.cli_ok(&["label", "node", NODE, "disk=nvme", "rack-", "--overwrite"]);
    cluster.cli_ok(&["annotate", &format!("node/{NODE}"), "owner=team a"]);
    let node = cluster.get_object("node", NODE, None).expect("the node");
    assert_eq!(node["metadata"]["labels"]["disk"], "nvme", "{node}");
    assert_eq!(
        node["metadata"]["labels"]["rack"],
        serde_json::Value::Null,
        "{node}"
    );
    assert_eq!(node["metadata"]["annotations"]["owner"], "team a", "{node}");

    assert_eq!(
        cluster.cli_ok(&["taint", "nodes", NODE, "dedicated=gpu:NoSchedule"]),
        format!("node/{NODE} tainted\n")
    );
    let described = cluster.cli_ok(&["describe", "node", NODE]);
    assert!(
        described.contains("dedicated=gpu:NoSchedule"),
        "{described}"
    );

    let applied = cluster.apply_manifest("plain.yaml", &sleeper("plain", ""));
    assert!(applied.status.success(), "{}", stderr(&applied));
    wait_until(DEADLINE, "the plain pod says why it waits", || {
        let pod = cluster.get_object("pod", "plain", None)?;
        let message = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "PodScheduled")
            .and_then(|c| c["message"].as_str())
            .unwrap_or_default()
            .to_string();
        Ok(
            if message
                == "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}."
            {
                Observation::Done
            } else {
                Observation::Waiting(format!("message {message:?}"))
            },
        )
    });

    let tolerating = sleeper(
        "tolerating",
        "  - {key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}\n",
    );
    let applied = cluster.apply_manifest("tolerating.yaml", &tolerating);
    assert!(applied.status.success(), "{}", stderr(&applied));
    wait_running(&cluster, "tolerating");
    let described = cluster.cli_ok(&["describe", "pod", "tolerating"]);
    assert!(
        described.contains("dedicated=gpu:NoSchedule"),
        "{described}"
    );
    let plain = cluster
        .get_object("pod", "plain", None)
        .expect("the plain pod");
    assert_eq!(
        plain["spec"]["nodeName"],
        serde_json::Value::Null,
        "{plain}"
    );

    // Removing the taint lets the waiting pod in.
    assert_eq!(
        cluster.cli_ok(&["taint", "nodes", NODE, "dedicated-"]),
        format!("node/{NODE} untainted\n")
    );
    wait_running(&cluster, "plain");

    // A NoExecute taint evicts: at once without a toleration, after tolerationSeconds with
    // one, never with one that sets no time.
    for (name, toleration) in [
        (
            "patient",
            "  - {key: maintenance, operator: Exists, effect: NoExecute, tolerationSeconds: 8}\n",
        ),
        ("staying", "  - {operator: Exists}\n"),
    ] {
        let applied = cluster.apply_manifest(&format!("{name}.yaml"), &sleeper(name, toleration));
        assert!(applied.status.success(), "{}", stderr(&applied));
        wait_running(&cluster, name);
    }
    cluster.cli_ok(&["taint", "nodes", NODE, "maintenance=now:NoExecute"]);
    wait_until(DEADLINE, "the untolerating pods evicted", || {
        let deleting = |name| {
            cluster
                .get_object("pod", name, None)
                .map_or(true, |pod| !pod["metadata"]["deletionTimestamp"].is_null())
        };
        Ok(if deleting("plain") && deleting("tolerating") {
            Observation::Done
        } else {
            Observation::Waiting("plain and tolerating still bound".into())
        })
    });
    let patient = cluster.get_object("pod", "patient", None).expect("patient");
    assert!(
        patient["metadata"]["deletionTimestamp"].is_null(),
        "evicted before its 8 s: {patient}"
    );
    wait_until(
        DEADLINE,
        "the patient pod evicted after its seconds",
        || {
            Ok(match cluster.get_object("pod", "patient", None) {
                Ok(pod) if pod["metadata"]["deletionTimestamp"].is_null() => {
                    Observation::Waiting("patient not evicted yet".into())
                }
                _ => Observation::Done,
            })
        },
    );
    let staying = cluster.get_object("pod", "staying", None).expect("staying");
    assert!(objects::is_running(&staying), "{staying}");
    cluster.cli_ok(&["taint", "nodes", NODE, "maintenance-"]);

    // Bad specs and bad tolerations say what is wrong and change nothing.
    for (args, expected) in [
        (
            vec!["taint", "nodes", NODE, "dedicated=gpu"],
            "a taint to add needs an effect",
        ),
        (
            vec!["taint", "nodes", NODE, "dedicated=gpu:Sometimes"],
            "unsupported taint effect \"Sometimes\"",
        ),
        (
            vec!["taint", "nodes", NODE, "dedicated-"],
            "taint \"dedicated\" not found",
        ),
        (
            vec!["taint", "pods", "plain", "a=b:NoSchedule"],
            "only nodes have taints",
        ),
        (
            vec!["taint", "nodes", "no-such-node", "a=b:NoSchedule"],
            "no-such-node",
        ),
    ] {
        let output = cluster.cli(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let bad = sleeper(
        "bad",
        "  - {key: dedicated, operator: Exists, value: gpu}\n",
    );
    let refused = cluster.apply_manifest("bad.yaml", &bad);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(
            "spec.tolerations[0].operator: Invalid value: \"gpu\": value must be empty when \
             `operator` is 'Exists'"
        ),
        "{}",
        stderr(&refused)
    );
    let node = cluster.get_object("node", NODE, None).expect("the node");
    assert_eq!(node["spec"]["taints"], serde_json::Value::Null, "{node}");
}

#[test]
fn a_gated_pod_waits_until_its_gates_are_removed() {
    if !running_as_root_or_skip("a_gated_pod_waits_until_its_gates_are_removed") {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("cluster starts");
    let gated = |gates: &str| {
        sleeper("gated", "").replace("spec:\n", &format!("spec:\n  schedulingGates: [{gates}]\n"))
    };
    let applied = cluster.apply_manifest("gated.yaml", &gated("{name: example.com/quota}"));
    assert!(applied.status.success(), "{}", stderr(&applied));
    let listed = cluster.cli_ok(&["get", "pod", "gated"]);
    assert!(listed.contains("SchedulingGated"), "{listed}");
    let pod = cluster.get_object("pod", "gated", None).expect("the pod");
    assert_eq!(pod["spec"]["nodeName"], serde_json::Value::Null, "{pod}");

    let added = cluster.apply_manifest(
        "more.yaml",
        &gated("{name: example.com/quota}, {name: later}"),
    );
    assert!(!added.status.success());
    assert!(
        stderr(&added).contains("only deletion is allowed, but found new scheduling gate"),
        "{}",
        stderr(&added)
    );
    let applied = cluster.apply_manifest("ungated.yaml", &sleeper("gated", ""));
    assert!(applied.status.success(), "{}", stderr(&applied));
    wait_running(&cluster, "gated");
}
