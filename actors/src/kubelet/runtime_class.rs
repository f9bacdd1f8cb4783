//! Which runtime runs a pod's image containers: the handler of the RuntimeClass its
//! `runtimeClassName` names, looked up among this node's handlers. The native runtime (the
//! container init) answers to no class, to handler `native` and to the empty handler; an OCI
//! runtime such as runc answers to its name when its binary is on the agent's `PATH`, or to
//! any name the operator gives with `--oci-runtime HANDLER=PATH`. A node connected to a CRI
//! runtime (`--container-runtime-endpoint`) answers to handler `cri` with it, and runs there
//! the image pods that name no class.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flotilla_kernel::api::ApiClient;
use flotilla_kernel::object::{Pod, RuntimeClass, check_dns1123_label};
use flotilla_node_os::runtime::{DEFAULT_PATH, find_in_path};

/// The handler of the native runtime.
pub const NATIVE_HANDLER: &str = "native";

/// The handler of the CRI runtime, when the node has one.
pub const CRI_HANDLER: &str = "cri";

/// OCI runtimes a node offers without being told, when their binary is on its `PATH`.
const KNOWN_OCI_RUNTIMES: [&str; 2] = ["runc", "crun"];

/// This node's runtime handlers besides the native one: handler name to OCI runtime binary,
/// and whether a CRI runtime is connected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeHandlers {
    oci: BTreeMap<String, PathBuf>,
    cri: bool,
}

/// What runs a pod's image containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerEngine {
    /// The container init.
    Native,
    /// An OCI runtime, by its binary.
    Oci(PathBuf),
    /// The node's CRI runtime.
    Cri,
}

impl RuntimeHandlers {
    /// The known OCI runtimes found on `search_path`, then `configured` over them.
    pub fn detect(search_path: Option<&str>, configured: &[(String, PathBuf)]) -> Self {
        let search_path = search_path.unwrap_or(DEFAULT_PATH);
        let mut oci: BTreeMap<String, PathBuf> = KNOWN_OCI_RUNTIMES
            .iter()
            .filter_map(|name| Some((name.to_string(), find_in_path(name, search_path)?)))
            .collect();
        oci.extend(configured.iter().cloned());
        Self { oci, cri: false }
    }

    /// These handlers and the CRI runtime's, which also runs the pods that name no class.
    pub fn with_cri(self) -> Self {
        Self { cri: true, ..self }
    }

    /// Every handler, the native one first.
    pub fn names(&self) -> Vec<String> {
        std::iter::once(NATIVE_HANDLER.to_string())
            .chain(self.cri.then(|| CRI_HANDLER.to_string()))
            .chain(self.oci.keys().cloned())
            .collect()
    }

    /// What runs the containers of a pod whose class has `handler` (`None`: no class); fails,
    /// as containerd does, for a handler this node does not have.
    pub fn engine(&self, handler: Option<&str>) -> Result<ContainerEngine, String> {
        match handler {
            None if self.cri => Ok(ContainerEngine::Cri),
            Some(CRI_HANDLER) if self.cri => Ok(ContainerEngine::Cri),
            None => Ok(ContainerEngine::Native),
            Some(handler) => Ok(self
                .binary(handler)?
                .map_or(ContainerEngine::Native, |binary| {
                    ContainerEngine::Oci(binary.to_path_buf())
                })),
        }
    }

    /// The OCI runtime binary of `handler`, `None` for the native runtime; fails, as
    /// containerd does, for a handler this node does not have.
    pub fn binary(&self, handler: &str) -> Result<Option<&Path>, String> {
        if handler.is_empty() || handler == NATIVE_HANDLER {
            return Ok(None);
        }
        self.oci
            .get(handler)
            .map(|binary| Some(binary.as_path()))
            .ok_or_else(|| format!("no runtime for {handler:?} is configured"))
    }
}

/// Parses `HANDLER=PATH` of `--oci-runtime`: a DNS-1123 label and an absolute path.
pub fn parse_oci_runtime(text: &str) -> Result<(String, PathBuf), String> {
    let (handler, path) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected HANDLER=PATH, such as runc=/usr/sbin/runc"))?;
    check_dns1123_label(handler)
        .map_err(|why| format!("a handler must be a DNS-1123 label: {why}"))?;
    if handler == NATIVE_HANDLER {
        return Err(format!("{handler:?} is the native runtime's handler"));
    }
    if handler == CRI_HANDLER {
        return Err(format!(
            "{handler:?} is the CRI runtime's handler (see --container-runtime-endpoint)"
        ));
    }
    let path = PathBuf::from(path);
    if !path.is_absolute() {
        return Err(format!(
            "{}: the runtime must be an absolute path",
            path.display()
        ));
    }
    Ok((handler.to_string(), path))
}

/// What runs `pod`'s image containers, or why the pod's sandbox cannot be made, in the
/// kubelet's words.
pub async fn engine(
    api: &ApiClient,
    handlers: &RuntimeHandlers,
    pod: &Pod,
) -> Result<ContainerEngine, String> {
    let Some(name) = pod.spec.runtime_class_name.as_deref() else {
        return handlers
            .engine(None)
            .map_err(|why| format!("failed to get sandbox runtime: {why}"));
    };
    let class = api
        .find::<RuntimeClass>("", name)
        .await
        .map_err(|error| format!("cannot read RuntimeClass {name:?}: {error}"))?
        .ok_or_else(|| format!("RuntimeClass {name:?} not found"))?;
    handlers
        .engine(Some(&class.handler))
        .map_err(|why| format!("failed to get sandbox runtime: {why}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn known_runtimes_on_the_path_are_found_and_configured_ones_win() {
        let dir = tempfile::tempdir().unwrap();
        let runc = dir.path().join("runc");
        std::fs::write(&runc, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().display().to_string();

        let found = RuntimeHandlers::detect(Some(&path), &[]);
        assert_eq!(found.names(), ["native", "runc"]);
        assert_eq!(found.binary("runc").unwrap(), Some(runc.as_path()));
        assert_eq!(found.binary("").unwrap(), None);
        assert_eq!(found.binary("native").unwrap(), None);
        assert_eq!(
            found.binary("kata").unwrap_err(),
            "no runtime for \"kata\" is configured"
        );
        assert_eq!(found.engine(None).unwrap(), ContainerEngine::Native);
        assert_eq!(
            found.engine(Some("runc")).unwrap(),
            ContainerEngine::Oci(runc.clone())
        );
        assert!(found.engine(Some(CRI_HANDLER)).is_err());

        let with_cri = found.clone().with_cri();
        assert_eq!(with_cri.names(), ["native", "cri", "runc"]);
        assert_eq!(with_cri.engine(None).unwrap(), ContainerEngine::Cri);
        assert_eq!(
            with_cri.engine(Some(CRI_HANDLER)).unwrap(),
            ContainerEngine::Cri
        );
        assert_eq!(
            with_cri.engine(Some("native")).unwrap(),
            ContainerEngine::Native
        );

        let configured = vec![
            ("runc".to_string(), PathBuf::from("/opt/runc")),
            ("gvisor".to_string(), PathBuf::from("/usr/bin/runsc")),
        ];
        let handlers = RuntimeHandlers::detect(Some(&path), &configured);
        assert_eq!(handlers.names(), ["native", "gvisor", "runc"]);
        assert_eq!(
            handlers.binary("runc").unwrap(),
            Some(Path::new("/opt/runc"))
        );
    }

    #[test]
    fn oci_runtime_flags_are_checked() {
        assert_eq!(
            parse_oci_runtime("crun=/usr/bin/crun").unwrap(),
            ("crun".to_string(), PathBuf::from("/usr/bin/crun"))
        );
        for (bad, says) in [
            ("runc", "expected HANDLER=PATH"),
            ("Runc=/usr/sbin/runc", "DNS-1123 label"),
            ("=/usr/sbin/runc", "DNS-1123 label"),
            ("native=/usr/sbin/runc", "native runtime"),
            ("cri=/usr/sbin/runc", "CRI runtime"),
            ("runc=runc", "absolute path"),
        ] {
            let error = parse_oci_runtime(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
