//! Who a container runs as and what it may do: its user and groups (overriding the image's),
//! capabilities, `no_new_privs`, the RuntimeDefault seccomp filter, a read-only root, or all of
//! it lifted for a privileged container. The defaults are containerd's with seccomp on: the
//! fourteen capabilities every mainstream runtime grants, no privilege gain through
//! set-user-id files, a writable root.

use rustix::thread::CapabilitySet;
use serde::{Deserialize, Serialize};

/// containerd's and Docker's default capabilities, without the `CAP_` prefix.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// The restrictions on one container's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// The capabilities it keeps (bounding set; also effective and permitted when it runs
    /// as root), named as Kubernetes names them: `NET_ADMIN` or `CAP_NET_ADMIN`.
    pub capabilities: Vec<String>,
    /// Set `no_new_privs`: exec of a set-user-id file or one with file capabilities gains
    /// nothing.
    pub no_new_privs: bool,
    pub read_only_root: bool,
    /// Every capability, no masked or read-only kernel files, a writable /sys and the host's
    /// devices; no seccomp filter.
    pub privileged: bool,
    /// Run under the RuntimeDefault seccomp filter.
    pub seccomp: bool,
    /// `runAsUser`, instead of the image's USER.
    pub run_as_user: Option<u32>,
    /// `runAsGroup`, instead of the user's primary group.
    pub run_as_group: Option<u32>,
    /// Groups added to those the container's /etc/group gives the user.
    pub supplemental_groups: Vec<u32>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            capabilities: DEFAULT_CAPABILITIES.map(str::to_string).to_vec(),
            no_new_privs: true,
            read_only_root: false,
            privileged: false,
            seccomp: true,
            run_as_user: None,
            run_as_group: None,
            supplemental_groups: Vec::new(),
        }
    }
}

impl Security {
    /// The capability set named by `capabilities` (every one when privileged), or the first
    /// name the kernel does not know.
    pub(crate) fn capability_set(&self) -> Result<CapabilitySet, String> {
        if self.privileged {
            return Ok(CapabilitySet::all());
        }
        self.capabilities
            .iter()
            .try_fold(CapabilitySet::empty(), |set, name| {
                capability(name)
                    .map(|cap| set | cap)
                    .ok_or_else(|| format!("unknown capability {name:?}"))
            })
    }
}

/// One capability by name, with or without `CAP_`, in any case.
pub(crate) fn capability(name: &str) -> Option<CapabilitySet> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CapabilitySet::from_name(bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_is_known_and_leaves_out_sys_admin() {
        let set = Security::default().capability_set().unwrap();
        assert_eq!(set.bits().count_ones(), 14);
        assert!(set.contains(CapabilitySet::CHOWN | CapabilitySet::NET_BIND_SERVICE));
        assert!(!set.contains(CapabilitySet::SYS_ADMIN));
        assert!(!set.contains(CapabilitySet::NET_ADMIN));
    }

    #[test]
    fn names_take_either_form_and_unknown_ones_are_named() {
        assert_eq!(capability("cap_net_admin"), Some(CapabilitySet::NET_ADMIN));
        assert_eq!(capability("SYS_TIME"), Some(CapabilitySet::SYS_TIME));
        let security = Security {
            capabilities: vec!["NET_ADMIN".into(), "FLY".into()],
            ..Security::default()
        };
        assert_eq!(
            security.capability_set().unwrap_err(),
            "unknown capability \"FLY\""
        );
    }
}
