//! End to end: `flotilla exec -i` passes standard input to the command (its end too), and `-t`
//! runs the command on a terminal of the caller's size, with the caller's terminal in raw mode;
//! without a terminal to read from, `-t` is dropped with kubectl's warning. The same under the
//! native runtime, runc and containerd through its CRI plug-in.

use flotilla_integration::{Observation, PodRuntime, running_as_root_or_skip, wait_until};
use std::time::Duration;

const IDLE: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: idle
spec:
  containers:
  - name: main
    image: busybox:1.35
    command: [sleep, "3600"]
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn attach_to_a_running_pod(runtime: PodRuntime) {
    let cluster = runtime.start_cluster().expect("the busybox test image");
    cluster.apply_pod("idle", IDLE);
    wait_until(Duration::from_secs(60), "the pod running", || {
        let pod = cluster
            .client()
            .get_object("pod", "idle", Some("default"))?;
        Ok(
            if pod
                .pointer("/status/containerStatuses/0/state/running")
                .is_some()
            {
                Observation::Done
            } else {
                Observation::Waiting(format!("{:?}", pod.pointer("/status")))
            },
        )
    });

    let piped = cluster.client().cli_with_input(
        &[
            "exec",
            "-i",
            "idle",
            "--",
            "sh",
            "-c",
            "cat; echo done; exit 4",
        ],
        b"typed\nlines\n",
    );
    assert_eq!(
        text(&piped.stdout),
        "typed\nlines\ndone\n",
        "{}",
        text(&piped.stderr)
    );
    assert_eq!(piped.status.code(), Some(4), "{}", text(&piped.stderr));

    let on_terminal = cluster.client().cli_on_terminal(
        &[
            "exec",
            "-i",
            "-t",
            "idle",
            "--",
            "sh",
            "-c",
            // containerd 1.6 sizes an exec's terminal just after starting the command.
            "test -t 0 && echo on-a-tty; for i in 1 2 3 4 5 6 7 8 9 10; do \
             size=$(stty size 2>/dev/null); [ -n \"$size\" ] && break; sleep 0.2; done; \
             echo \"$size\"",
        ],
        100,
        30,
    );
    let shown = text(&on_terminal.stdout);
    assert!(
        shown.contains("on-a-tty"),
        "{shown:?} {}",
        text(&on_terminal.stderr)
    );
    assert!(shown.contains("30 100"), "the caller's size: {shown:?}");
    assert_eq!(on_terminal.status.code(), Some(0));

    let no_terminal = cluster.cli(&[
        "exec",
        "-t",
        "idle",
        "--",
        "sh",
        "-c",
        "test -t 0 || echo plain",
    ]);
    assert!(
        text(&no_terminal.stderr).contains("Unable to use a TTY - input is not a terminal"),
        "{}",
        text(&no_terminal.stderr)
    );
    assert_eq!(text(&no_terminal.stdout), "plain\n");
}

#[test]
fn exec_attaches_stdin_and_a_terminal() {
    if !running_as_root_or_skip("exec_attaches_stdin_and_a_terminal") {
        return;
    }
    attach_to_a_running_pod(PodRuntime::Native);
}

#[test]
fn exec_attaches_the_same_under_runc() {
    if !running_as_root_or_skip("exec_attaches_the_same_under_runc") {
        return;
    }
    attach_to_a_running_pod(PodRuntime::Runc);
}

#[test]
fn exec_attaches_the_same_under_containerd_through_the_cri() {
    if !running_as_root_or_skip("exec_attaches_the_same_under_containerd_through_the_cri") {
        return;
    }
    attach_to_a_running_pod(PodRuntime::Cri);
}
