//! End to end: pods whose images come from registries. The busybox test image is pushed to two
//! local registries (Debian's docker-registry, plain HTTP): an open one, whose pod is pulled and
//! runs; and one requiring basic auth, whose pod waits in `ErrImagePull`/`ImagePullBackOff`
//! with the registry's reason until a `kubernetes.io/dockerconfigjson` Secret is named in its
//! `imagePullSecrets`. The same with containerd pulling, through the CRI.

use std::time::Duration;

use serde_json::Value;

use flotilla_integration::{
    Cluster, MARKER, Observation, PodRuntime, Registry, busybox_archives, objects,
    running_as_root_or_skip, wait_until,
};

fn pod(name: &str, image: &str, secret: Option<&str>) -> String {
    let secrets = secret
        .map(|secret| format!("  imagePullSecrets: [{{name: {secret}}}]\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
{secrets}  containers:
  - name: main
    image: {image}
    command: [sh, -c, 'cat /marker; exec sleep 3600']
"
    )
}

fn pull_secret(registry: &str, credentials: &str) -> String {
    let (user, password) = credentials.split_once(':').expect("USER:PASSWORD");
    let config = serde_json::json!({
        "auths": {registry: {"username": user, "password": password}}
    });
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: registry-login
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{config}'
"
    )
}

fn pod_json(cluster: &Cluster, name: &str) -> anyhow::Result<Value> {
    cluster.client().get_object("pod", name, Some("default"))
}

fn apply(cluster: &Cluster, name: &str, yaml: &str) {
    let applied = cluster.apply_manifest(&format!("{name}.yaml"), yaml);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
}

fn wait_for_marker(cluster: &Cluster, name: &str) {
    wait_until(
        Duration::from_secs(60),
        &format!("{name} running its image"),
        || {
            let logs = cluster.cli(&["logs", name]);
            let text = String::from_utf8_lossy(&logs.stdout).into_owned();
            Ok(if text == MARKER {
                Observation::Done
            } else {
                let status = pod_json(cluster, name).map(|pod| pod["status"].clone());
                Observation::Waiting(format!("logs {text:?}, status {status:?}"))
            })
        },
    );
}

#[test]
fn images_are_pulled_from_registries_with_and_without_credentials() {
    if !running_as_root_or_skip("images_are_pulled_from_registries_with_and_without_credentials") {
        return;
    }
    pull_from_registries(PodRuntime::Native);
}

#[test]
fn containerd_pulls_through_the_cri_with_and_without_credentials() {
    if !running_as_root_or_skip("containerd_pulls_through_the_cri_with_and_without_credentials") {
        return;
    }
    pull_from_registries(PodRuntime::Cri);
}

fn pull_from_registries(runtime: PodRuntime) {
    let work = tempfile::tempdir().expect("a work dir");
    let archives = busybox_archives(work.path()).expect("the busybox test image");
    let open = Registry::start(&work.path().join("open"), None).expect("an open registry");
    let locked =
        Registry::start(&work.path().join("locked"), Some("puller:s3cret")).expect("a registry");
    let open_image = open
        .push(&archives.oci, "library/busybox:1.35")
        .expect("push");
    let locked_image = locked
        .push(&archives.oci, "team/busybox:1.35")
        .expect("push");

    let cluster = runtime
        .start_cluster_pulling_from(&[open.host.clone(), locked.host.clone()])
        .expect("cluster starts");

    apply(&cluster, "pulled", &pod("pulled", &open_image, None));
    wait_for_marker(&cluster, "pulled");
    assert!(cluster.has_image(&open_image).expect("the node's images"));

    apply(
        &cluster,
        "locked-out",
        &pod("locked-out", &locked_image, None),
    );
    let mut reasons = Vec::new();
    wait_until(
        Duration::from_secs(60),
        "ErrImagePull then ImagePullBackOff",
        || {
            let pod = pod_json(&cluster, "locked-out")?;
            let waiting = pod.pointer("/status/containerStatuses/0/state/waiting");
            if let Some(waiting) = waiting {
                let reason = waiting["reason"].as_str().unwrap_or_default().to_string();
                if reason == "ErrImagePull" {
                    let message = waiting["message"].as_str().unwrap_or_default();
                    assert!(message.to_lowercase().contains("unauthorized"), "{message}");
                }
                if !reasons.contains(&reason) {
                    reasons.push(reason);
                }
            }
            Ok(objects::waiting_reasons(&pod).contains(&"ImagePullBackOff"))
        },
    );
    assert!(reasons.contains(&"ErrImagePull".to_string()), "{reasons:?}");

    apply(
        &cluster,
        "secret",
        &pull_secret(&locked.host, "puller:s3cret"),
    );
    apply(
        &cluster,
        "logged-in",
        &pod("logged-in", &locked_image, Some("registry-login")),
    );
    wait_for_marker(&cluster, "logged-in");
}
