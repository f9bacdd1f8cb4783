//! The OCI runtime spec (`config.json` of a bundle) of a container that an OCI runtime such
//! as runc runs: the same sandbox as the container init sets up ([`InitConfig`]), written in
//! the runtime spec's terms. The container joins its pod sandbox's namespaces by path and gets
//! new PID and mount namespaces; its root is the overlay the runtime mounted; the mounts,
//! masked paths, capabilities and seccomp profile are the container init's.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxDeviceCgroup, LinuxNamespace, LinuxNamespaceType,
    LinuxResources, Mount, Process, Root, Spec, User,
};
use rustix::thread::CapabilitySet;

use super::config::InitConfig;
use super::pod::Namespace;
use super::seccomp;
use super::setup::{MASKED_PATHS, READ_ONLY_PATHS, environment};
use super::user::Identity;

/// The version of the runtime spec the bundle is written for (runc 1.1 reads it).
const SPEC_VERSION: &str = "1.0.2";

/// The spec of the container `config` describes, running as `identity` (resolved in its root)
/// in the cgroup at `cgroups_path` (below each hierarchy's root).
pub(crate) fn runtime_spec(
    config: &InitConfig,
    identity: &Identity,
    cgroups_path: &str,
) -> Result<Spec, String> {
    let security = &config.security;
    let allowed = security.capability_set()?;
    let mut spec = Spec::default();
    spec.set_version(SPEC_VERSION.to_string());
    spec.set_hostname(None);
    spec.set_annotations(None);
    spec.set_root(Some(root(config)));
    spec.set_mounts(Some(mounts(config)));
    spec.set_process(Some(process(config, identity, allowed)));

    let linux = spec
        .linux_mut()
        .as_mut()
        .ok_or("the default runtime spec has no linux section")?;
    linux.set_namespaces(Some(namespaces(config)));
    linux.set_cgroups_path(Some(PathBuf::from(cgroups_path)));
    let mut resources = LinuxResources::default();
    // Every device denied but those runc always allows, or all of them when privileged.
    let mut devices = LinuxDeviceCgroup::default();
    devices.set_allow(security.privileged);
    devices.set_access(Some("rwm".to_string()));
    resources.set_devices(Some(vec![devices]));
    linux.set_resources(Some(resources));
    let paths = |paths: &[&str]| (!security.privileged).then(|| strings(paths));
    linux.set_masked_paths(paths(&MASKED_PATHS));
    linux.set_readonly_paths(paths(&READ_ONLY_PATHS));
    if security.seccomp && !security.privileged {
        let profile = seccomp::profile(allowed)
            .map_err(|error| format!("writing the seccomp profile: {error}"))?;
        linux.set_seccomp(Some(profile));
    }
    Ok(spec)
}

fn root(config: &InitConfig) -> Root {
    let mut root = Root::default();
    root.set_path(config.rootfs.merged.clone());
    root.set_readonly(Some(config.security.read_only_root));
    root
}

fn process(config: &InitConfig, identity: &Identity, allowed: CapabilitySet) -> Process {
    let mut user = User::default();
    user.set_uid(identity.uid);
    user.set_gid(identity.gid);
    user.set_additional_gids((!identity.groups.is_empty()).then(|| identity.groups.clone()));
    // A non-root user's exec gains no capability, as under the container init.
    let kept = if identity.uid == 0 {
        capabilities(allowed)
    } else {
        HashSet::new()
    };
    let mut caps = LinuxCapabilities::default();
    caps.set_bounding(Some(capabilities(allowed)));
    caps.set_effective(Some(kept.clone()));
    caps.set_permitted(Some(kept));
    caps.set_inheritable(Some(HashSet::new()));
    caps.set_ambient(Some(HashSet::new()));

    let mut process = Process::default();
    process.set_terminal(Some(false));
    process.set_args(Some(config.argv.clone()));
    process.set_env(Some(
        environment(&config.env, identity)
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect(),
    ));
    process.set_cwd(config.working_dir.clone());
    process.set_user(user);
    process.set_capabilities(Some(caps));
    process.set_no_new_privileges(Some(config.security.no_new_privs));
    process.set_rlimits(None);
    process
}

/// The capabilities of `set` the runtime spec knows by name.
fn capabilities(set: CapabilitySet) -> HashSet<Capability> {
    set.iter_names()
        .filter_map(|(name, _)| Capability::from_str(name).ok())
        .collect()
}

/// New mount and PID namespaces (unless the pod's PID namespace is shared); the sandbox's, by
/// path.
fn namespaces(config: &InitConfig) -> Vec<LinuxNamespace> {
    let shared_pid = config.join.iter().any(|(kind, _)| *kind == Namespace::Pid);
    let own = [LinuxNamespaceType::Mount, LinuxNamespaceType::Pid]
        .into_iter()
        .filter(|typ| !(shared_pid && *typ == LinuxNamespaceType::Pid))
        .map(|typ| {
            let mut namespace = LinuxNamespace::default();
            namespace.set_typ(typ);
            namespace
        });
    let joined = config.join.iter().map(|(kind, path)| {
        let mut namespace = LinuxNamespace::default();
        namespace.set_typ(match kind {
            Namespace::Network => LinuxNamespaceType::Network,
            Namespace::Ipc => LinuxNamespaceType::Ipc,
            Namespace::Uts => LinuxNamespaceType::Uts,
            Namespace::Pid => LinuxNamespaceType::Pid,
        });
        namespace.set_path(Some(path.clone()));
        namespace
    });
    own.chain(joined).collect()
}

/// The container init's kernel file systems, the sandbox's `/etc` files and the termination
/// log; a privileged container gets the host's devices and a writable /sys.
fn mounts(config: &InitConfig) -> Vec<Mount> {
    let privileged = config.security.privileged;
    let dev = if privileged {
        mount("/dev", "bind", "/dev", &["rbind", "rprivate"])
    } else {
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )
    };
    let sys_access = if privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        dev,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_access],
        ),
    ];
    for (name, source) in &config.etc {
        mounts.push(bind(
            PathBuf::from("/etc").join(name),
            source.clone(),
            &["rbind", "rprivate"],
        ));
    }
    // After /dev, so runc makes its mount point in the container's /dev.
    if let Some(file) = &config.termination_log {
        mounts.push(bind(
            file.target.clone(),
            file.source.clone(),
            &["rbind", "rprivate", "rw"],
        ));
    }
    mounts
}

/// A bind mount of the host's `source` at `destination`.
fn bind(destination: PathBuf, source: PathBuf, options: &[&str]) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(destination);
    mount.set_typ(Some("bind".to_string()));
    mount.set_source(Some(source));
    mount.set_options(Some(strings(options)));
    mount
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut mount = Mount::default();
    mount.set_destination(PathBuf::from(destination));
    mount.set_typ(Some(typ.to_string()));
    mount.set_source(Some(PathBuf::from(source)));
    mount.set_options(Some(strings(options)));
    mount
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sandbox::config::Overlay;
    use crate::sandbox::{FileMount, Security};

    fn config(security: Security) -> InitConfig {
        InitConfig {
            id: "pod-web".into(),
            argv: vec!["sh".into(), "-c".into(), "sleep 1".into()],
            env: vec![("A".into(), "1".into())],
            working_dir: PathBuf::from("/srv"),
            join: vec![
                (Namespace::Network, PathBuf::from("/sb/net")),
                (Namespace::Uts, PathBuf::from("/sb/uts")),
            ],
            rootfs: Overlay::in_dir(Path::new("/c/pod-web"), &[PathBuf::from("/l/1")]),
            etc: vec![("hosts".into(), PathBuf::from("/sb/hosts"))],
            termination_log: Some(FileMount {
                target: PathBuf::from("/dev/termination-log"),
                source: PathBuf::from("/logs/web.termination-log"),
            }),
            user: None,
            security,
        }
    }

    fn identity(uid: u32) -> Identity {
        Identity {
            uid,
            gid: 7,
            groups: vec![20],
            home: "/home/x".into(),
        }
    }

    fn json(spec: &Spec) -> serde_json::Value {
        serde_json::to_value(spec).unwrap()
    }

    #[test]
    fn the_bundle_holds_the_sandbox_of_the_container_init() {
        let spec = runtime_spec(&config(Security::default()), &identity(0), "/flotilla/x").unwrap();
        let spec = json(&spec);
        assert_eq!(spec["root"]["path"], "/c/pod-web/merged");
        assert_eq!(spec["root"]["readonly"], false);
        assert_eq!(spec["process"]["args"][2], "sleep 1");
        assert_eq!(spec["process"]["cwd"], "/srv");
        let env = spec["process"]["env"].as_array().unwrap();
        assert!(env.contains(&"A=1".into()));
        assert!(env.contains(&"HOME=/home/x".into()));
        assert!(env.iter().any(|e| e.as_str().unwrap().starts_with("PATH=")));
        assert_eq!(spec["process"]["user"]["gid"], 7);
        assert_eq!(spec["process"]["user"]["additionalGids"][0], 20);
        assert_eq!(spec["process"]["noNewPrivileges"], true);
        assert!(spec["process"].get("rlimits").is_none());
        let bounding = spec["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert_eq!(bounding.len(), 14);
        assert!(bounding.contains(&"CAP_NET_BIND_SERVICE".into()));
        let namespaces = &spec["linux"]["namespaces"];
        assert_eq!(namespaces[0]["type"], "mount");
        assert_eq!(namespaces[1]["type"], "pid");
        assert!(namespaces[1].get("path").is_none());
        assert_eq!(namespaces[2]["type"], "network");
        assert_eq!(namespaces[2]["path"], "/sb/net");
        assert_eq!(namespaces.as_array().unwrap().len(), 4);
        assert_eq!(spec["linux"]["cgroupsPath"], "/flotilla/x");
        assert_eq!(spec["linux"]["resources"]["devices"][0]["allow"], false);
        assert!(spec.get("hostname").is_none());
        assert_eq!(spec["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(spec["linux"]["maskedPaths"].as_array().unwrap().len(), 11);
        let mounts = spec["mounts"].as_array().unwrap();
        let hosts = mounts
            .iter()
            .find(|m| m["destination"] == "/etc/hosts")
            .unwrap();
        assert_eq!(hosts["source"], "/sb/hosts");
        let sys = mounts.iter().find(|m| m["destination"] == "/sys").unwrap();
        assert!(sys["options"].as_array().unwrap().contains(&"ro".into()));
        let log = mounts
            .iter()
            .position(|m| m["destination"] == "/dev/termination-log")
            .unwrap();
        assert_eq!(mounts[log]["type"], "bind");
        assert_eq!(mounts[log]["source"], "/logs/web.termination-log");
        assert_eq!(
            mounts[log]["options"],
            serde_json::json!(["rbind", "rprivate", "rw"])
        );
        let dev = mounts.iter().position(|m| m["destination"] == "/dev");
        assert!(dev.unwrap() < log, "mounted once /dev is");
    }

    #[test]
    fn a_shared_pid_namespace_is_joined_by_path() {
        let mut shared = config(Security::default());
        shared.join.push((Namespace::Pid, PathBuf::from("/sb/pid")));
        let spec = json(&runtime_spec(&shared, &identity(0), "/x").unwrap());
        let pid: Vec<&serde_json::Value> = spec["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|ns| ns["type"] == "pid")
            .collect();
        assert_eq!(pid.len(), 1);
        assert_eq!(pid[0]["path"], "/sb/pid");
    }

    #[test]
    fn a_non_root_user_keeps_no_effective_capability() {
        let spec =
            json(&runtime_spec(&config(Security::default()), &identity(1000), "/x").unwrap());
        let caps = &spec["process"]["capabilities"];
        assert_eq!(caps["effective"].as_array().unwrap().len(), 0);
        assert_eq!(caps["bounding"].as_array().unwrap().len(), 14);
    }

    #[test]
    fn privileged_lifts_the_restrictions() {
        let security = Security {
            privileged: true,
            read_only_root: true,
            ..Security::default()
        };
        let spec = json(&runtime_spec(&config(security), &identity(0), "/x").unwrap());
        assert!(spec["linux"].get("seccomp").is_none());
        assert!(spec["linux"].get("maskedPaths").is_none());
        assert_eq!(spec["linux"]["resources"]["devices"][0]["allow"], true);
        assert_eq!(spec["root"]["readonly"], true);
        assert!(
            spec["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .contains(&"CAP_SYS_ADMIN".into())
        );
        let mounts = spec["mounts"].as_array().unwrap();
        let dev = mounts.iter().find(|m| m["destination"] == "/dev").unwrap();
        assert_eq!(dev["source"], "/dev");
    }

    #[test]
    fn unknown_capabilities_are_refused() {
        let security = Security {
            capabilities: vec!["FLY".into()],
            ..Security::default()
        };
        let error = runtime_spec(&config(security), &identity(0), "/x").unwrap_err();
        assert!(error.contains("FLY"), "{error}");
    }
}
