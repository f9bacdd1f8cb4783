//! The same RuntimeDefault profile as the compiled filter, written as an OCI runtime spec's
//! `linux.seccomp` for an OCI runtime (runc) to compile with libseccomp: the calls by name,
//! `EPERM` for the rest, the same argument conditions and the `ENOSYS` of `clone3`.

use nix::libc;
use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use rustix::thread::CapabilitySet;

use super::table::{ALLOWED, BY_CAPABILITY};
use super::{NAMESPACE_FLAGS, PERSONALITIES};

/// The profile of a container that keeps `capabilities` (its bounding set).
pub(crate) fn profile(capabilities: CapabilitySet) -> Result<LinuxSeccomp, OciSpecError> {
    let admin = capabilities.contains(CapabilitySet::SYS_ADMIN);
    let mut allowed: Vec<&str> = ALLOWED
        .iter()
        .chain(
            BY_CAPABILITY
                .iter()
                .filter(|(capability, _)| capabilities.contains(*capability))
                .flat_map(|(_, calls)| calls.iter()),
        )
        .map(|call| call.name())
        .collect();
    allowed.sort_unstable();
    allowed.dedup();
    let mut syscalls = vec![allow(&allowed, Vec::new())?];
    for persona in PERSONALITIES {
        syscalls.push(allow(
            &["personality"],
            vec![arg(LinuxSeccompOperator::ScmpCmpEq, persona, None)?],
        )?);
    }
    let (alg, vsock) = (libc::AF_ALG as u64, libc::AF_VSOCK as u64);
    for (op, family) in [
        (LinuxSeccompOperator::ScmpCmpLt, alg),
        (LinuxSeccompOperator::ScmpCmpEq, alg + 1),
        (LinuxSeccompOperator::ScmpCmpGt, vsock),
    ] {
        syscalls.push(allow(&["socket"], vec![arg(op, family, None)?])?);
    }
    if !admin {
        let mask = NAMESPACE_FLAGS as u64;
        syscalls.push(allow(
            &["clone"],
            vec![arg(LinuxSeccompOperator::ScmpCmpMaskedEq, mask, Some(0))?],
        )?);
        syscalls.push(
            LinuxSyscallBuilder::default()
                .names(vec!["clone3".to_string()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(libc::ENOSYS as u32)
                .build()?,
        );
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(libc::EPERM as u32)
        .architectures(vec![Arch::ScmpArchX86_64])
        .syscalls(syscalls)
        .build()
}

fn allow(names: &[&str], args: Vec<LinuxSeccompArg>) -> Result<LinuxSyscall, OciSpecError> {
    let builder = LinuxSyscallBuilder::default()
        .names(
            names
                .iter()
                .map(|name| name.to_string())
                .collect::<Vec<_>>(),
        )
        .action(LinuxSeccompAction::ScmpActAllow);
    if args.is_empty() {
        builder.build()
    } else {
        builder.args(args).build()
    }
}

/// A condition on argument 0, the only one the profile compares.
fn arg(
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> Result<LinuxSeccompArg, OciSpecError> {
    let builder = LinuxSeccompArgBuilder::default()
        .index(0usize)
        .value(value)
        .op(op);
    match value_two {
        Some(two) => builder.value_two(two).build(),
        None => builder.build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_allowed_outright(profile: &LinuxSeccomp) -> Vec<String> {
        profile
            .syscalls()
            .iter()
            .flatten()
            .filter(|call| {
                call.action() == LinuxSeccompAction::ScmpActAllow && call.args().is_none()
            })
            .flat_map(|call| call.names().clone())
            .collect()
    }

    #[test]
    fn names_the_same_calls_as_the_compiled_filter() {
        let profile = profile(CapabilitySet::CHOWN).unwrap();
        let names = names_allowed_outright(&profile);
        assert!(names.contains(&"read".to_string()));
        assert!(names.contains(&"arch_prctl".to_string()));
        assert!(!names.contains(&"mount".to_string()));
        assert!(!names.iter().any(|name| name.starts_with("SYS_")));
        assert_eq!(profile.default_errno_ret(), Some(libc::EPERM as u32));
        let clone3 = profile
            .syscalls()
            .iter()
            .flatten()
            .find(|call| call.names() == &["clone3".to_string()])
            .unwrap();
        assert_eq!(clone3.errno_ret(), Some(libc::ENOSYS as u32));
    }

    #[test]
    fn sys_admin_allows_mount_and_any_clone() {
        let profile = profile(CapabilitySet::SYS_ADMIN).unwrap();
        let names = names_allowed_outright(&profile);
        assert!(names.contains(&"mount".to_string()));
        assert!(names.contains(&"clone3".to_string()));
        assert!(
            !profile
                .syscalls()
                .iter()
                .flatten()
                .any(|call| call.action() == LinuxSeccompAction::ScmpActErrno)
        );
    }

    #[test]
    fn serialises_as_the_runtime_spec_spells_it() {
        let json = serde_json::to_value(profile(CapabilitySet::empty()).unwrap()).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["architectures"][0], "SCMP_ARCH_X86_64");
        let clone = json["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|call| call["names"][0] == "clone")
            .unwrap();
        assert_eq!(clone["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(clone["args"][0]["valueTwo"], 0);
    }
}
