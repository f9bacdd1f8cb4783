//! Translating a pod's container into what the runtime runs: argv, environment, limits
//! (memory, CFS quota, pids, CPU shares from requests) and where its output goes.

use std::path::Path;

use flotilla_kernel::object::{Container, Pod, RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_PIDS};
use flotilla_node_os::{ContainerSpec, ResourceLimits};

use super::logs::log_path;
use super::sync::container_id;

/// The CFS period Kubernetes uses.
const CPU_PERIOD_MICROS: u64 = 100_000;
/// The smallest quota the kernel accepts.
const MIN_CPU_QUOTA_MICROS: i64 = 1_000;
/// Processes a container may have when its limits do not say.
const DEFAULT_PIDS_MAX: u64 = 4096;

/// The runtime's spec of `container`, with `declared` its resolved `env`/`envFrom` variables.
pub fn container_spec(
    pod: &Pod,
    container: &Container,
    declared: Vec<(String, String)>,
    log_dir: &Path,
) -> ContainerSpec {
    let mut command = container.command.clone();
    command.extend(container.args.iter().cloned());
    let mut env = vec![(
        "PATH".to_string(),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
    )];
    env.retain(|(name, _)| declared.iter().all(|(set, _)| set != name));
    env.extend(declared);
    let hostname = if pod.spec.hostname.is_empty() {
        &pod.metadata.name
    } else {
        &pod.spec.hostname
    };
    ContainerSpec {
        id: container_id(&pod.metadata.uid, &container.name),
        command,
        env,
        working_dir: (!container.working_dir.is_empty())
            .then(|| container.working_dir.clone().into()),
        hostname: hostname.chars().take(63).collect(),
        limits: limits(container),
        log_path: log_path(
            log_dir,
            &pod.metadata.namespace,
            &pod.metadata.name,
            &pod.metadata.uid,
            &container.name,
        ),
    }
}

fn limits(container: &Container) -> ResourceLimits {
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
        let spec = container_spec(&pod, &pod.spec.containers[0], declared, Path::new("/logs"));
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
}
