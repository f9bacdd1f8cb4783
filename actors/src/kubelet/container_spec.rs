//! Translating a pod's container into what the runtime runs: argv, environment (with an
//! image's, by Kubernetes' rules), limits (memory, CFS quota, pids, CPU shares from requests),
//! where its output goes, and for an image container its root and sandbox.

use std::path::{Path, PathBuf};

use flotilla_images::{ContainerProcess, image_process};
use flotilla_kernel::object::{
    CAPABILITY_NAMES, Container, Pod, RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_PIDS, SeccompProfile,
    capability_name,
};
use flotilla_node_os::sandbox::DEFAULT_CAPABILITIES;
use flotilla_node_os::{ContainerSpec, Isolation, ResourceLimits, Security};

use super::images::ReadyImage;
use super::logs::pod_log_path;
use super::sync::container_id;
use super::termination_message;

/// The CFS period Kubernetes uses.
const CPU_PERIOD_MICROS: u64 = 100_000;
/// The smallest quota the kernel accepts.
const MIN_CPU_QUOTA_MICROS: i64 = 1_000;
/// Processes a container may have when its limits do not say.
const DEFAULT_PIDS_MAX: u64 = 4096;

/// The runtime's spec of `container`, with `declared` its resolved `env`/`envFrom` variables
/// and `image` its image and the OCI runtime to run it with (`None` for image `host`). Fails, with the reason for
/// `CreateContainerConfigError`, when an image gives the container nothing to run or would run
/// it as root against `runAsNonRoot`.
pub fn container_spec(
    pod: &Pod,
    container: &Container,
    declared: Vec<(String, String)>,
    log_dir: &Path,
    image: Option<(&ReadyImage, Option<PathBuf>)>,
) -> Result<ContainerSpec, String> {
    let log_path = pod_log_path(log_dir, pod, &container.name);
    let (command, env, working_dir, isolation) = match image {
        None => {
            let mut command = container.command.clone();
            command.extend(container.args.iter().cloned());
            let mut env = vec![(
                "PATH".to_string(),
                flotilla_node_os::runtime::DEFAULT_PATH.to_string(),
            )];
            env.retain(|(name, _)| declared.iter().all(|(set, _)| set != name));
            env.extend(declared);
            (command, env, container.working_dir.clone(), None)
        }
        Some((image, oci_runtime)) => {
            let process = image_process(
                &container.image,
                &image.config,
                &ContainerProcess {
                    command: &container.command,
                    args: &container.args,
                    env: &declared,
                    working_dir: &container.working_dir,
                },
            )
            .map_err(|error| error.to_string())?;
            let security = security(pod, container);
            check_non_root(pod, container, &security, process.user.as_deref())?;
            let isolation = Isolation {
                sandbox: pod.metadata.uid.clone(),
                layers: image.layers.clone(),
                user: process.user,
                security,
                oci_runtime,
                termination_log: termination_message::mount(container, &log_path),
            };
            (
                process.argv,
                process.env,
                process.working_dir,
                Some(isolation),
            )
        }
    };
    Ok(ContainerSpec {
        id: container_id(&pod.metadata.uid, &container.name),
        command,
        env,
        working_dir: (!working_dir.is_empty()).then(|| working_dir.into()),
        hostname: pod_hostname(pod),
        limits: limits(container),
        log_path,
        isolation,
    })
}

/// What the pod's and the container's `securityContext` make of the runtime's defaults; the
/// container's settings win.
pub fn security(pod: &Pod, container: &Container) -> Security {
    let pod_context = pod.spec.security_context.clone().unwrap_or_default();
    let context = container.security_context.clone().unwrap_or_default();
    let privileged = context.privileged == Some(true);
    let mut capabilities: Vec<String> = DEFAULT_CAPABILITIES.map(str::to_string).to_vec();
    if let Some(changes) = &context.capabilities {
        let dropped: Vec<String> = changes
            .drop
            .iter()
            .filter_map(|c| capability_name(c))
            .collect();
        if dropped.iter().any(|c| c == "ALL") {
            capabilities.clear();
        }
        capabilities.retain(|c| !dropped.contains(c));
        for added in changes.add.iter().filter_map(|c| capability_name(c)) {
            if added == "ALL" {
                capabilities = CAPABILITY_NAMES.map(str::to_string).to_vec();
            } else if !capabilities.contains(&added) {
                capabilities.push(added);
            }
        }
    }
    let seccomp_type = context
        .seccomp_profile
        .or(pod_context.seccomp_profile)
        .map(|profile| profile.type_);
    let id = |id: Option<i64>| id.and_then(|id| u32::try_from(id).ok());
    Security {
        capabilities,
        no_new_privs: !(privileged || context.allow_privilege_escalation == Some(true)),
        read_only_root: context.read_only_root_filesystem == Some(true),
        privileged,
        seccomp: !privileged && seccomp_type.as_deref() != Some(SeccompProfile::UNCONFINED),
        run_as_user: id(context.run_as_user.or(pod_context.run_as_user)),
        run_as_group: id(context.run_as_group.or(pod_context.run_as_group)),
        supplemental_groups: pod_context
            .supplemental_groups
            .iter()
            .filter_map(|g| u32::try_from(*g).ok())
            .collect(),
    }
}

/// `runAsNonRoot`: the user must be known not to be root before anything starts, from
/// `runAsUser` or a numeric image USER, as the kubelet checks it.
pub fn check_non_root(
    pod: &Pod,
    container: &Container,
    security: &Security,
    image_user: Option<&str>,
) -> Result<(), String> {
    let required = container
        .security_context
        .as_ref()
        .and_then(|c| c.run_as_non_root)
        .or(pod
            .spec
            .security_context
            .as_ref()
            .and_then(|c| c.run_as_non_root));
    if required != Some(true) {
        return Ok(());
    }
    let meta = &pod.metadata;
    let whose = format!(
        "(pod: \"{}_{}({})\", container: {})",
        meta.name, meta.namespace, meta.uid, container.name
    );
    let uid = match (security.run_as_user, image_user) {
        (Some(uid), _) => uid,
        (None, None) => 0,
        (None, Some(user)) => {
            let name = user.split(':').next().unwrap_or(user);
            name.parse().map_err(|_| {
                format!(
                    "container has runAsNonRoot and image has non-numeric user ({name}), cannot \
                     verify user is non-root {whose}"
                )
            })?
        }
    };
    if uid == 0 {
        return Err(format!(
            "container has runAsNonRoot and image will run as root {whose}"
        ));
    }
    Ok(())
}

/// The pod's hostname: `spec.hostname`, else its name, cut to the kernel's 63 bytes.
pub fn pod_hostname(pod: &Pod) -> String {
    let hostname = if pod.spec.hostname.is_empty() {
        &pod.metadata.name
    } else {
        &pod.spec.hostname
    };
    hostname.chars().take(63).collect()
}

pub fn limits(container: &Container) -> ResourceLimits {
    let limits = &container.resources.limits;
    let requests = &container.resources.requests;
    let cpu_quota_micros = limits
        .get(RESOURCE_CPU)
        .and_then(|q| q.cpu_millis().ok())
        .map(|millis| {
            let quota = i128::from(millis) * i128::from(CPU_PERIOD_MICROS) / 1000;
            i64::try_from(quota)
                .unwrap_or(i64::MAX)
                .max(MIN_CPU_QUOTA_MICROS)
        });
    // Kubernetes' shares: 1024 per requested CPU, at least 2.
    let cpu_shares = requests
        .get(RESOURCE_CPU)
        .or_else(|| limits.get(RESOURCE_CPU))
        .and_then(|q| q.cpu_millis().ok())
        .map(|millis| {
            u64::try_from(i128::from(millis) * 1024 / 1000)
                .unwrap_or(u64::MAX)
                .max(2)
        });
    ResourceLimits {
        memory_bytes: limits.get(RESOURCE_MEMORY).and_then(|q| q.bytes().ok()),
        cpu_quota_micros,
        cpu_period_micros: CPU_PERIOD_MICROS,
        pids_max: Some(
            limits
                .get(RESOURCE_PIDS)
                .and_then(|q| q.bytes().ok())
                .unwrap_or(DEFAULT_PIDS_MAX),
        ),
        cpu_shares,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_kernel::object::{Object, parse_manifests};

    #[test]
    fn limits_follow_the_spec() {
        let yaml = "apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, uid: u1}
spec:
  containers:
  - name: c
    image: host
    command: [/bin/sh, -c]
    args: ['sleep 1']
    workingDir: /tmp
    env: [{name: A, value: b}]
    resources:
      limits: {cpu: 250m, memory: 64Mi, pids: 100}
      requests: {cpu: 100m}
";
        let Ok(Object::Pod(pod)) = parse_manifests("p.yaml", yaml).remove(0) else {
            panic!("fixture does not parse")
        };
        let declared = vec![("A".to_string(), "b".to_string())];
        let spec = container_spec(
            &pod,
            &pod.spec.containers[0],
            declared,
            Path::new("/logs"),
            None,
        )
        .unwrap();
        assert_eq!(spec.id, "u1-c");
        assert_eq!(spec.command, ["/bin/sh", "-c", "sleep 1"]);
        assert!(spec.env.contains(&("A".into(), "b".into())));
        assert_eq!(spec.hostname, "web-1");
        assert_eq!(spec.working_dir.as_deref(), Some(Path::new("/tmp")));
        assert_eq!(spec.limits.memory_bytes, Some(64 * 1024 * 1024));
        assert_eq!(spec.limits.cpu_quota_micros, Some(25_000));
        assert_eq!(spec.limits.cpu_shares, Some(102));
        assert_eq!(spec.limits.pids_max, Some(100));
        assert_eq!(spec.log_path, Path::new("/logs/default_web-1_u1/c.log"));
    }

    #[test]
    fn image_containers_run_the_images_process_in_the_pod_sandbox() {
        let yaml = "apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: default, uid: u1}
spec:
  containers:
  - name: c
    image: nginx:1.25
    args: [-g, daemon off;]
    env: [{name: A, value: b}]
    terminationMessagePath: /tmp/message
";
        let Ok(Object::Pod(pod)) = parse_manifests("p.yaml", yaml).remove(0) else {
            panic!("fixture does not parse")
        };
        let config = serde_json::from_value(serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Cmd": ["nginx"],
                "Env": ["PATH=/usr/bin", "A=image"],
                "WorkingDir": "/srv",
                "User": "101"
            },
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap();
        let image = ReadyImage {
            layers: vec!["/layers/1".into()],
            config,
        };
        let declared = vec![("A".to_string(), "b".to_string())];
        let spec = container_spec(
            &pod,
            &pod.spec.containers[0],
            declared,
            Path::new("/logs"),
            Some((&image, None)),
        )
        .unwrap();
        assert_eq!(spec.command, ["/docker-entrypoint.sh", "-g", "daemon off;"]);
        assert_eq!(
            spec.env,
            [("PATH".into(), "/usr/bin".into()), ("A".into(), "b".into())]
        );
        assert_eq!(spec.working_dir.as_deref(), Some(Path::new("/srv")));
        let isolation = spec.isolation.unwrap();
        assert_eq!(isolation.sandbox, "u1");
        assert_eq!(isolation.user.as_deref(), Some("101"));
        assert_eq!(isolation.security, Security::default());
        let log = isolation.termination_log.unwrap();
        assert_eq!(log.target, Path::new("/tmp/message"));
        assert_eq!(
            log.source,
            Path::new("/logs/default_web-1_u1/c.termination-log")
        );
    }

    fn pod_with(yaml_spec: &str) -> Pod {
        let yaml = format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: default, uid: u1}}
spec:
{yaml_spec}"
        );
        let Ok(Object::Pod(pod)) = parse_manifests("p.yaml", &yaml).remove(0) else {
            panic!("fixture does not parse")
        };
        pod
    }

    #[test]
    fn security_contexts_adjust_the_defaults_and_containers_win() {
        let pod = pod_with(
            "  securityContext: {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000], seccompProfile: {type: Unconfined}}
  containers:
  - name: c
    image: app:1
    securityContext:
      runAsUser: 2000
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: true
      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE, cap_net_admin]}
      seccompProfile: {type: RuntimeDefault}
",
        );
        let s = security(&pod, &pod.spec.containers[0]);
        assert_eq!(s.capabilities, ["NET_BIND_SERVICE", "NET_ADMIN"]);
        assert!(!s.no_new_privs && s.read_only_root && s.seccomp && !s.privileged);
        assert_eq!((s.run_as_user, s.run_as_group), (Some(2000), Some(3000)));
        assert_eq!(s.supplemental_groups, [4000]);

        let pod = pod_with(
            "  containers:
  - name: c
    image: app:1
    securityContext: {privileged: true}
",
        );
        let s = security(&pod, &pod.spec.containers[0]);
        assert!(s.privileged && !s.seccomp && !s.no_new_privs);
        assert_eq!(
            s,
            Security {
                privileged: true,
                seccomp: false,
                no_new_privs: false,
                ..Security::default()
            }
        );
    }

    #[test]
    fn run_as_non_root_needs_a_known_non_root_user() {
        let pod = pod_with(
            "  securityContext: {runAsNonRoot: true}
  containers:
  - {name: c, image: app:1}
",
        );
        let c = &pod.spec.containers[0];
        let check = |user: Option<&str>, run_as: Option<u32>| {
            let security = Security {
                run_as_user: run_as,
                ..Security::default()
            };
            check_non_root(&pod, c, &security, user)
        };
        assert!(
            check(None, None)
                .unwrap_err()
                .contains("image will run as root")
        );
        assert!(check(Some("0:0"), None).is_err());
        assert!(
            check(Some("nginx"), None)
                .unwrap_err()
                .contains("non-numeric user (nginx)")
        );
        assert!(check(Some("101"), None).is_ok());
        assert!(check(None, Some(1000)).is_ok());
        assert!(check(Some("101"), Some(0)).is_err());
    }
}
