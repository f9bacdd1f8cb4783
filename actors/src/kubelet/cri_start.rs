//! Starting a container through the node's CRI runtime: its image found or pulled by the
//! runtime as the pull policy says, the pod's sandbox made, then the container created and
//! started from the pod's spec. The runtime applies the image's ENTRYPOINT, CMD, ENV, WORKDIR
//! and USER itself; the rest (limits, security, the termination message file) is decided as
//! for the native runtime.

use std::path::Path;

use flotilla_cri::proto::AuthConfig;
use flotilla_cri::{
    ContainerRequest, CriRuntime, ImageFacts, PodSandboxRequest, SandboxDns, SandboxPort,
};
use flotilla_images::{Credential, RegistryCredentials};
use flotilla_kernel::object::{Container, Pod};
use flotilla_node_os::runtime::empty_termination_log;

use super::container_spec::{check_non_root, limits, pod_hostname, security};
use super::images::{ImageFailure, Source, never_pulled, parse_name, source};
use super::logs::{cri_log_path, pod_log_path};
use super::sync::container_id;
use super::termination_message;

/// Why a container could not be started, as the pod's status says it.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    Sandbox(String),
    Image(ImageFailure),
    Config(String),
    Start(String),
}

/// A container to start through the CRI runtime.
pub struct Start<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    /// Its resolved `env` and `envFrom`.
    pub declared: Vec<(String, String)>,
    /// How many times it ran before.
    pub attempt: u32,
    pub credentials: RegistryCredentials,
    /// The pod's DNS settings, from its DNS policy.
    pub dns: SandboxDns,
}

/// A started container: its main pid and its pod's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub pid: u32,
    pub pod_ips: Vec<String>,
}

/// Starts `start`'s container.
pub async fn start(cri: &CriRuntime, log_dir: &Path, start: Start<'_>) -> Result<Started, Failure> {
    let Start {
        pod,
        container,
        declared,
        attempt,
        credentials,
        dns,
    } = start;
    let log = pod_log_path(log_dir, pod, &container.name);
    let mut sandbox = sandbox_request(pod, &log, cri.cgroup_parent());
    sandbox.dns = dns;
    let (image, facts) = ensure_image(cri, &sandbox, container, &credentials).await?;
    let security = security(pod, container);
    check_non_root(pod, container, &security, facts.user.as_deref()).map_err(Failure::Config)?;
    cri.run_pod_sandbox(&sandbox)
        .await
        .map_err(|error| Failure::Sandbox(error.to_string()))?;
    let termination_log = termination_message::mount(container, &log);
    prepare_files(
        &sandbox.log_directory,
        termination_log.as_ref().map(|file| file.source.as_path()),
    )
    .await
    .map_err(Failure::Config)?;
    let request = ContainerRequest {
        id: container_id(&pod.metadata.uid, &container.name),
        name: container.name.clone(),
        attempt,
        image,
        command: container.command.clone(),
        args: container.args.clone(),
        env: declared,
        working_dir: container.working_dir.clone(),
        limits: limits(container),
        security,
        log_path: cri_log_path(&log)
            .file_name()
            .map(Into::into)
            .unwrap_or_default(),
        termination_log,
        stdin: container.stdin,
        stdin_once: container.stdin_once,
        tty: container.tty,
    };
    let pid = cri
        .start_container(&sandbox, &request)
        .await
        .map_err(|error| Failure::Start(error.to_string()))?;
    let pod_ips =
        if pod.spec.host_network {
            Vec::new()
        } else {
            cri.pod_ips(&pod.metadata.uid).await.unwrap_or_else(|error| {
            tracing::warn!(pod = %pod.metadata.name, %error, "the CRI runtime gave no pod IP");
            Vec::new()
        })
        };
    Ok(Started { pid, pod_ips })
}

/// The sandbox of `pod`, whose containers log beside `log`.
fn sandbox_request(pod: &Pod, log: &Path, cgroup_parent: &str) -> PodSandboxRequest {
    let meta = &pod.metadata;
    PodSandboxRequest {
        uid: meta.uid.clone(),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        hostname: pod_hostname(pod),
        host_network: pod.spec.host_network,
        share_process_namespace: pod.spec.share_process_namespace == Some(true),
        privileged: pod.spec.all_containers().any(|container| {
            container
                .security_context
                .as_ref()
                .is_some_and(|context| context.privileged == Some(true))
        }),
        log_directory: log.parent().map(Path::to_path_buf).unwrap_or_default(),
        cgroup_parent: cgroup_parent.to_string(),
        runtime_handler: String::new(),
        dns: SandboxDns::default(),
        port_mappings: pod
            .spec
            .containers
            .iter()
            .flat_map(|container| &container.ports)
            .filter(|port| port.host_port > 0)
            .map(|port| SandboxPort {
                protocol: port.protocol.clone(),
                container_port: port.container_port,
                host_port: port.host_port,
                host_ip: port.host_ip.clone(),
            })
            .collect(),
    }
}

/// The image of `container` in the runtime, pulled if its policy says so: the reference to
/// create the container with, and what the runtime says of it.
async fn ensure_image(
    cri: &CriRuntime,
    sandbox: &PodSandboxRequest,
    container: &Container,
    credentials: &RegistryCredentials,
) -> Result<(String, ImageFacts), Failure> {
    let image = &container.image;
    let reference = parse_name(image).map_err(Failure::Image)?;
    let pull_failed = |message: String| {
        Failure::Image(ImageFailure {
            reason: "ErrImagePull",
            message,
        })
    };
    let present = cri
        .image(image)
        .await
        .map_err(|failure| pull_failed(failure.message))?;
    let pulled = match source(&container.image_pull_policy, present.is_some()) {
        Source::Store => image.clone(),
        Source::Refused => return Err(Failure::Image(never_pulled(image))),
        Source::Registry => {
            let auth = credentials.for_image(&reference).map(auth_config);
            cri.pull_image(image, auth, sandbox)
                .await
                .map_err(|failure| pull_failed(failure.message))?
        }
    };
    let facts = match present {
        Some(facts) if pulled == *image => facts,
        _ => cri
            .image(&pulled)
            .await
            .map_err(|failure| pull_failed(failure.message))?
            .ok_or_else(|| {
                pull_failed(format!("the runtime lost image {image:?} after pulling it"))
            })?,
    };
    Ok((pulled, facts))
}

/// A registry credential as the CRI passes it.
fn auth_config(credential: &Credential) -> AuthConfig {
    match credential {
        Credential::Basic { username, password } => AuthConfig {
            username: username.clone(),
            password: password.clone(),
            ..AuthConfig::default()
        },
        Credential::Bearer(token) => AuthConfig {
            registry_token: token.clone(),
            ..AuthConfig::default()
        },
    }
}

/// The pod's log directory (the runtime writes its logs there but does not make it) and an
/// empty termination message file anyone may write (a missing one the runtime would make a
/// directory), off the runtime thread.
async fn prepare_files(log_directory: &Path, termination_log: Option<&Path>) -> Result<(), String> {
    let (directory, file) = (
        log_directory.to_path_buf(),
        termination_log.map(Path::to_path_buf),
    );
    let made = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&directory)
            .map_err(|error| format!("cannot create {}: {error}", directory.display()))?;
        if let Some(file) = file {
            empty_termination_log(&file)
                .map_err(|error| format!("cannot create {}: {error}", file.display()))?;
        }
        Ok(())
    });
    made.await.map_err(|error| error.to_string())?
}
