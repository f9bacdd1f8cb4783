//! End to end: pods of the busybox test image on the native runtime. The image is imported
//! into the node's store; a pod of it runs in its own root (it reads the image's `/marker`,
//! absent from the host) and in mount, PID, network, IPC and UTS namespaces of its own, with
//! the default capabilities, `no_new_privs` and the RuntimeDefault seccomp filter; `flotilla
//! exec` runs commands inside it; a restarted agent adopts it; deleting it leaves no sandbox
//! behind. A pod's
//! `securityContext` takes its user, capabilities and writable root away, and one that must
//! not run as root waits in `CreateContainerConfigError` when its image would. A missing
//! image under `imagePullPolicy: Never` waits with `ErrImageNeverPull`, a command the image
//! lacks ends in `StartError` naming it, and one that outgrows its memory limit in `OOMKilled`.
//! What a failed container writes to its termination log (even as a non-root user on a
//! read-only root) becomes its terminated state's message; under `FallbackToLogsOnError` with
//! nothing written, the end of its log does.
//! The same pods pass the same checks under `runtimeClassName: runc` (Debian's runc), and on
//! a node whose default runtime is Debian's containerd, through its CRI plug-in.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use flotilla_integration::{
    Cluster, MARKER, Observation, PodRuntime, objects, running_as_root_or_skip, wait_until,
};

const NAMESPACE: &str = "default";

/// Reports what the container sees, then stays up.
const BOXED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: boxed
spec:
  containers:
  - name: main
    image: busybox:1.35
    imagePullPolicy: IfNotPresent
    command: [sh, -c]
    args:
    - cat /marker; echo "host=$(hostname) pid=$$ uid=$(id -u)"; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; exec sleep 3600
"#;

/// Runs as a non-root user with nothing to spare.
const RESTRICTED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: restricted
spec:
  securityContext: {runAsUser: 1000, runAsGroup: 1000}
  containers:
  - name: main
    image: busybox:1.35
    securityContext:
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    command: [sh, -c]
    args:
    - echo "uid=$(id -u) gid=$(id -g)"; grep -E '^Cap(Eff|Bnd)' /proc/self/status; touch /x 2>/dev/null || echo read-only; echo done; exec sleep 3600
"#;

/// Asks not to run as root, which the image (no USER) would.
const NOT_ROOT: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: not-root
spec:
  securityContext: {runAsNonRoot: true}
  containers:
  - name: main
    image: busybox:1.35
"#;

const NEVER_PULLED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: never-pulled
spec:
  containers:
  - name: main
    image: busybox:9.9
    imagePullPolicy: Never
"#;

/// Takes more memory than its limit lets it.
const HUNGRY: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: hungry
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.35
    command: [tail, /dev/zero]
    resources:
      limits: {memory: 16Mi}
"#;

/// Two containers in one PID namespace: the second lists the processes it sees.
const SHARED: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  shareProcessNamespace: true
  containers:
  - name: app
    image: busybox:1.35
    command: [sleep, "3600"]
  - name: peek
    image: busybox:1.35
    command: [sh, -c]
    args:
    - sleep 1; echo "me=$$ seen:$(cat /proc/[0-9]*/comm | sort | tr '\n' ' ')"; echo listed; exec sleep 3600
"#;

const NO_COMMAND: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: no-command
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.35
    command: [no-such-command]
"#;

/// Says goodbye in its termination log, as a non-root user on a read-only root, and fails.
const FAREWELL: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: farewell
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000}
  containers:
  - name: main
    image: busybox:1.35
    securityContext: {readOnlyRootFilesystem: true}
    command: [sh, -c, "printf bye > /dev/termination-log; exit 1"]
"#;

/// Writes nothing to its termination log (elsewhere than /dev) but says why in its log.
const FALLBACK: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: fallback
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.35
    terminationMessagePath: /var/message
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, "echo starting; echo it went wrong; exit 2"]
"#;

/// containerd's default capabilities as /proc shows them.
const DEFAULT_CAP_EFF: &str = "CapEff:\t00000000a80425fb";

fn pod(cluster: &Cluster, name: &str) -> Result<Value> {
    cluster.client().get_object("pod", name, Some(NAMESPACE))
}

/// The logs of pod `name` (of its `container`, if it has several) once they hold `last`.
fn report_of(cluster: &Cluster, name: &str, container: Option<&str>, last: &str) -> String {
    let mut args = vec!["logs", name];
    if let Some(container) = container {
        args.extend(["-c", container]);
    }
    wait_until(
        Duration::from_secs(60),
        &format!("the report of {name}"),
        || {
            let logs = cluster.cli(&args);
            let text = String::from_utf8_lossy(&logs.stdout).into_owned();
            Ok(if text.contains(last) {
                Observation::Done
            } else {
                Observation::Waiting(format!(
                    "logs: {text:?} {}",
                    String::from_utf8_lossy(&logs.stderr)
                ))
            })
        },
    );
    cluster.cli_ok(&args)
}

/// The terminated state of pod `name`'s container, once it has one.
fn terminated(cluster: &Cluster, name: &str) -> Value {
    let mut state = Value::Null;
    wait_until(
        Duration::from_secs(60),
        &format!("{name} terminated"),
        || {
            let pod = pod(cluster, name)?;
            Ok(
                match pod.pointer("/status/containerStatuses/0/state/terminated") {
                    Some(terminated) => {
                        state = terminated.clone();
                        Observation::Done
                    }
                    None => Observation::Waiting(format!("{:?}", pod.pointer("/status"))),
                },
            )
        },
    );
    state
}

fn namespace_of(pid: &str, kind: &str) -> Result<std::path::PathBuf> {
    let path = format!("/proc/{pid}/ns/{kind}");
    fs::read_link(&path).with_context(|| format!("reading {path}"))
}

#[test]
fn an_image_pod_runs_isolated_and_bad_images_and_commands_say_why() {
    if !running_as_root_or_skip("an_image_pod_runs_isolated_and_bad_images_and_commands_say_why") {
        return;
    }
    run_image_pods(PodRuntime::Native);
}

#[test]
fn the_same_pods_run_under_runc() {
    if !running_as_root_or_skip("the_same_pods_run_under_runc") {
        return;
    }
    run_image_pods(PodRuntime::Runc);
}

#[test]
fn the_same_pods_run_under_containerd_through_the_cri() {
    if !running_as_root_or_skip("the_same_pods_run_under_containerd_through_the_cri") {
        return;
    }
    run_image_pods(PodRuntime::Cri);
}

fn run_image_pods(runtime: PodRuntime) {
    let mut cluster = runtime.start_cluster().expect("the busybox test image");
    let data_dir = cluster.data_dir();

    cluster.apply_pod("boxed", BOXED);
    cluster.apply_pod("restricted", RESTRICTED);
    cluster.apply_pod("never-pulled", NEVER_PULLED);
    cluster.apply_pod("not-root", NOT_ROOT);
    cluster.apply_pod("no-command", NO_COMMAND);
    cluster.apply_pod("hungry", HUNGRY);
    cluster.apply_pod("farewell", FAREWELL);
    cluster.apply_pod("fallback", FALLBACK);
    cluster.apply_pod("shared", SHARED);

    let logs = report_of(&cluster, "boxed", None, "NoNewPrivs");
    assert!(logs.starts_with(MARKER), "{logs}");
    assert!(logs.contains("host=boxed pid=1 uid=0"), "{logs}");
    assert!(logs.contains(DEFAULT_CAP_EFF), "{logs}");
    assert!(logs.contains("NoNewPrivs:\t1"), "{logs}");
    assert!(logs.contains("Seccomp:\t2"), "filtered: {logs}");
    assert!(!Path::new("/marker").exists(), "the host has no /marker");

    // One PID namespace: its first process is the pod's pause, and each container sees the
    // other's processes.
    let logs = report_of(&cluster, "shared", Some("peek"), "listed");
    assert!(!logs.contains("me=1 "), "{logs}");
    assert!(logs.contains(" sleep "), "the app's sleep: {logs}");

    let logs = report_of(&cluster, "restricted", None, "done");
    assert!(logs.contains("uid=1000 gid=1000"), "{logs}");
    assert!(logs.contains("CapEff:\t0000000000000000"), "{logs}");
    assert!(logs.contains("CapBnd:\t0000000000000000"), "{logs}");
    assert!(logs.contains("read-only"), "{logs}");

    // exec runs in the container: its root, its PID namespace, its exit code.
    assert_eq!(
        cluster.cli_ok(&["exec", "boxed", "--", "cat", "/marker"]),
        MARKER
    );
    let first = cluster.cli_ok(&["exec", "boxed", "--", "cat", "/proc/1/comm"]);
    assert_eq!(first, "sleep\n", "PID 1 of the container's namespace");
    let failed = cluster.cli(&["exec", "boxed", "--", "sh", "-c", "echo oops >&2; exit 3"]);
    assert_eq!(failed.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&failed.stderr), "oops\n");
    let missing = cluster.cli(&["exec", "boxed", "--", "no-such-command"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("exec: \"no-such-command\": executable file not found in $PATH"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    // From the host: the command (the container init's child, or runc's) is in namespaces of
    // its own.
    let boxed = pod(&cluster, "boxed").expect("the pod boxed");
    // containerd wires the sandbox through its CNI configuration (the harness's plug-in gives
    // 10.88.0.0/16); these test nodes run no pod network of their own.
    let pod_ip = boxed["status"]["podIP"].as_str().unwrap_or_default();
    match runtime {
        PodRuntime::Cri => assert!(pod_ip.starts_with("10.88."), "{}", boxed["status"]),
        PodRuntime::Native | PodRuntime::Runc => assert_eq!(pod_ip, "", "{}", boxed["status"]),
    }
    let container = objects::container_ids(&boxed)
        .pop()
        .expect("a running container");
    let cgroup = cluster
        .image_container_cgroup(&container)
        .expect("the container's cgroup");
    let pids = cgroup.pids().expect("the container's processes");
    let expected = match runtime {
        PodRuntime::Native => 2,
        PodRuntime::Runc | PodRuntime::Cri => 1,
    };
    assert_eq!(
        pids.len(),
        expected,
        "the init (if any) and the command: {pids:?}"
    );
    let command = pids
        .iter()
        .map(u32::to_string)
        .find(|pid| namespace_of(pid, "pid").ok() != namespace_of("self", "pid").ok())
        .expect("a process in a PID namespace of its own");
    for kind in ["mnt", "pid", "net", "ipc", "uts"] {
        assert_ne!(
            namespace_of(&command, kind).expect("the command's namespace"),
            namespace_of("self", kind).expect("the host's namespace"),
            "{kind} namespace"
        );
    }

    wait_until(
        Duration::from_secs(30),
        "CreateContainerConfigError",
        || {
            let pod = pod(&cluster, "not-root")?;
            let waiting = pod.pointer("/status/containerStatuses/0/state/waiting");
            Ok(match waiting {
                Some(state) if state["reason"] == "CreateContainerConfigError" => {
                    let message = state["message"].as_str().unwrap_or_default();
                    let refused = "container has runAsNonRoot and image will run as root";
                    assert!(message.contains(refused), "{message}");
                    Observation::Done
                }
                _ => Observation::Waiting(format!("{:?}", pod.pointer("/status"))),
            })
        },
    );
    wait_until(Duration::from_secs(30), "ErrImageNeverPull", || {
        let pod = pod(&cluster, "never-pulled")?;
        Ok(objects::waiting_reasons(&pod).contains(&"ErrImageNeverPull"))
    });
    wait_until(Duration::from_secs(30), "StartError", || {
        let pod = pod(&cluster, "no-command")?;
        let terminated = pod.pointer("/status/containerStatuses/0/state/terminated");
        Ok(match terminated {
            Some(state) if state["reason"] == "StartError" => {
                let message = state["message"].as_str().unwrap_or_default();
                assert!(
                    message
                        .contains("exec: \"no-such-command\": executable file not found in $PATH"),
                    "{message}"
                );
                Observation::Done
            }
            _ => Observation::Waiting(format!("{:?}", pod.pointer("/status"))),
        })
    });

    wait_until(Duration::from_secs(60), "OOMKilled", || {
        let pod = pod(&cluster, "hungry")?;
        let reason = pod.pointer("/status/containerStatuses/0/state/terminated/reason");
        Ok(if reason.and_then(Value::as_str) == Some("OOMKilled") {
            Observation::Done
        } else {
            Observation::Waiting(format!("{:?}", pod.pointer("/status")))
        })
    });

    let farewell = terminated(&cluster, "farewell");
    assert_eq!(
        (&farewell["exitCode"], &farewell["message"]),
        (&Value::from(1), &Value::from("bye")),
        "{farewell}"
    );
    let fallback = terminated(&cluster, "fallback");
    assert_eq!(fallback["exitCode"], 2, "{fallback}");
    assert_eq!(
        fallback["message"], "starting\nit went wrong\n",
        "{fallback}"
    );

    // The successor of a crashed agent adopts the running container: the same processes, and
    // exec still reaches them.
    cluster.kill().expect("the agent crashes");
    cluster.restart().expect("the agent comes back");
    wait_until(Duration::from_secs(30), "the container re-adopted", || {
        Ok(cluster.log().contains("re-adopted a running container"))
    });
    let adopted = cgroup.pids().expect("the container's processes");
    assert_eq!(adopted, pids);
    assert_eq!(
        cluster.cli_ok(&["exec", "boxed", "--", "cat", "/marker"]),
        MARKER
    );

    // Deleting the pod whose containers share a PID namespace stops its pause process.
    let shared_uid = objects::uid(&pod(&cluster, "shared").expect("the pod shared")).to_string();
    let pause_of_shared = || cluster.sandbox_running(&shared_uid);
    assert!(pause_of_shared(), "the shared pod's pause runs");
    cluster.cli_ok(&["delete", "pod", "shared", "--grace-period", "1"]);
    wait_until(
        Duration::from_secs(30),
        "the shared pod's pause gone",
        || Ok(pod(&cluster, "shared").is_err() && !pause_of_shared()),
    );

    cluster.cli_ok(&["delete", "pod", "boxed", "--grace-period", "1"]);
    wait_until(Duration::from_secs(30), "the pod gone", || {
        Ok(pod(&cluster, "boxed").is_err())
    });
    let sandboxes = data_dir.join("runtime/sandboxes");
    let left: Vec<_> = fs::read_dir(&sandboxes)
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let boxed_uid = objects::uid(&boxed).to_string();
    assert!(
        !cluster.sandbox_running(&boxed_uid),
        "the deleted pod's sandbox stopped"
    );
    assert!(
        !left.iter().any(|name| *name == *boxed_uid),
        "the sandbox of the deleted pod is gone: {left:?}"
    );
    assert!(
        !data_dir
            .join("runtime/containers")
            .join(container.as_str())
            .exists()
    );
}
