//! The seccomp filter of a container that asks for Kubernetes' `RuntimeDefault` profile:
//! containerd's default profile (`contrib/seccomp/seccomp_default.go`, the same list as moby's
//! `profiles/seccomp/default.json`) for x86_64, compiled to BPF in Rust by `seccompiler`.
//!
//! A system call the profile does not name fails with `EPERM`. Most are allowed outright; a
//! few only with some arguments (`personality`, `socket`, `clone`); and groups of them only
//! when the container keeps the capability that guards them (`mount` with `CAP_SYS_ADMIN`,
//! `reboot` with `CAP_SYS_BOOT`, ...): the kernel would refuse them anyway, and the filter
//! keeps their code out of the container's reach. Without `CAP_SYS_ADMIN`, `clone` may not
//! create namespaces and `clone3` fails with `ENOSYS`: its flags live in memory the filter
//! cannot read, and `ENOSYS` makes the C library fall back to `clone`, whose flags it can.
//!
//! Where this differs from containerd: it filters the x86_64 ABI only (`seccompiler` checks
//! one architecture), so a 32-bit x86 (`int 0x80`) call kills the process and an x32 call
//! fails, where containerd allows both ABIs. Like containerd on kernels from 4.8 on, `ptrace`
//! and `process_vm_*` are allowed to all. `seccompiler` gives a filter one action for matches,
//! so the `ENOSYS` of `clone3` is a short BPF prelude in front of the compiled filter.
//!
//! Building the filter is pure; [`install`] is the only system call, made by the container's
//! process just before it executes the container's program.

#[cfg(not(target_arch = "x86_64"))]
compile_error!("the RuntimeDefault seccomp profile is written for x86_64 only");

mod oci;
mod table;

use std::collections::BTreeMap;
use std::mem::offset_of;

use nix::libc;
use rustix::thread::CapabilitySet;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};

use table::{ALLOWED, BY_CAPABILITY};

pub(crate) use oci::profile;

/// `AUDIT_ARCH_X86_64` of `linux/audit.h`: `EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`.
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;

/// The namespace flags `clone` may not carry without `CAP_SYS_ADMIN`.
const NAMESPACE_FLAGS: libc::c_int = libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP;

/// The `personality` values allowed: `PER_LINUX`, `UNAME26`, `PER_LINUX32`, both of the last
/// two, and the query `0xffffffff`.
const PERSONALITIES: [u64; 5] = [0x0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// The filter of `RuntimeDefault` for a container that keeps `capabilities` (its bounding
/// set).
pub(crate) fn runtime_default(capabilities: CapabilitySet) -> Result<BpfProgram, String> {
    let admin = capabilities.contains(CapabilitySet::SYS_ADMIN);
    let mut rules = BTreeMap::from([
        (libc::SYS_personality, personality_rules()?),
        (libc::SYS_socket, socket_rules()?),
    ]);
    if !admin {
        rules.insert(libc::SYS_clone, clone_rules()?);
    }
    // An unconditional allowance replaces any conditional one of the same call.
    let granted = BY_CAPABILITY
        .iter()
        .filter(|(capability, _)| capabilities.contains(*capability))
        .flat_map(|(_, calls)| calls.iter());
    for call in ALLOWED.iter().chain(granted) {
        rules.insert(call.nr, Vec::new());
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        TargetArch::x86_64,
    )
    .map_err(|error| format!("building the seccomp filter: {error}"))?;
    let program = BpfProgram::try_from(filter)
        .map_err(|error| format!("compiling the seccomp filter: {error}"))?;
    Ok(if admin {
        program
    } else {
        clone3_fails_with_enosys(program)
    })
}

/// Applies `program` to the calling thread, for good: it is inherited across `execve` and
/// by every child. Called while the process still holds `CAP_SYS_ADMIN` (before it becomes
/// the container's user), so `no_new_privs` is not needed to install it: a container that may
/// gain privileges keeps that, as under runc. The filter allows what follows it (setgroups,
/// setresuid, capset, prctl, execve).
pub(crate) fn install(program: &BpfProgram) -> Result<(), String> {
    let filters: Vec<libc::sock_filter> = program
        .iter()
        .map(|f| libc::sock_filter {
            code: f.code,
            jt: f.jt,
            jf: f.jf,
            k: f.k,
        })
        .collect();
    let len = u16::try_from(filters.len())
        .map_err(|_| format!("the seccomp filter has {} instructions", filters.len()))?;
    let fprog = libc::sock_fprog {
        len,
        filter: filters.as_ptr().cast_mut(),
    };
    // SAFETY: PR_SET_SECCOMP reads `fprog` and the `len` instructions it points to, which live
    // until the call returns; the kernel copies them.
    let done = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &raw const fprog,
        )
    };
    if done != 0 {
        return Err(format!(
            "installing the seccomp filter: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// `personality` only with the values of [`PERSONALITIES`].
fn personality_rules() -> Result<Vec<SeccompRule>, String> {
    PERSONALITIES
        .iter()
        .map(|&persona| rule(0, SeccompCmpOp::Eq, persona))
        .collect()
}

/// `socket` for every address family but `AF_ALG` (kernel crypto) and `AF_VSOCK` (the
/// hypervisor's sockets): below, between and above them.
fn socket_rules() -> Result<Vec<SeccompRule>, String> {
    let (alg, vsock) = (libc::AF_ALG as u64, libc::AF_VSOCK as u64);
    vec![
        rule(0, SeccompCmpOp::Lt, alg),
        rule(0, SeccompCmpOp::Eq, alg + 1),
        rule(0, SeccompCmpOp::Gt, vsock),
    ]
    .into_iter()
    .collect()
}

/// `clone` only when its flags (argument 0 on x86_64) create no namespace.
fn clone_rules() -> Result<Vec<SeccompRule>, String> {
    let mask = NAMESPACE_FLAGS as u64;
    Ok(vec![rule(0, SeccompCmpOp::MaskedEq(mask), 0)?])
}

/// One condition on the low 32 bits of argument `index`: enough for every argument compared
/// here, and the kernel reads no more of an `int` argument.
fn rule(index: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompRule, String> {
    SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value)
        .and_then(|condition| SeccompRule::new(vec![condition]))
        .map_err(|error| format!("building a seccomp rule: {error}"))
}

/// `program` behind a prelude that answers `clone3` on x86_64 with `ENOSYS`; every other call
/// goes on to `program`, which checks the architecture itself.
fn clone3_fails_with_enosys(program: BpfProgram) -> BpfProgram {
    let load = |offset: usize| statement(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset as u32);
    let mut prelude = vec![
        load(offset_of!(libc::seccomp_data, arch)),
        // Another architecture skips the next three instructions.
        jump_if_equal(AUDIT_ARCH_X86_64, 0, 3),
        load(offset_of!(libc::seccomp_data, nr)),
        jump_if_equal(libc::SYS_clone3 as u32, 0, 1),
        statement(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
    ];
    prelude.extend(program);
    prelude
}

fn statement(code: u32, k: u32) -> sock_filter {
    jump(code, k, 0, 0)
}

fn jump_if_equal(k: u32, if_equal: u8, otherwise: u8) -> sock_filter {
    jump(
        libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
        k,
        if_equal,
        otherwise,
    )
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
    // BPF operation codes are 16 bits wide; libc declares them as u32.
    let code = code as u16;
    sock_filter { code, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use nix::errno::Errno;
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork, getpid};

    use super::*;

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    /// `AUDIT_ARCH_I386`: `EM_386 | __AUDIT_ARCH_LE`.
    const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;

    /// containerd's and Docker's fourteen default capabilities.
    fn default_capabilities() -> CapabilitySet {
        CapabilitySet::CHOWN
            | CapabilitySet::DAC_OVERRIDE
            | CapabilitySet::FSETID
            | CapabilitySet::FOWNER
            | CapabilitySet::MKNOD
            | CapabilitySet::NET_RAW
            | CapabilitySet::SETGID
            | CapabilitySet::SETUID
            | CapabilitySet::SETFCAP
            | CapabilitySet::SETPCAP
            | CapabilitySet::NET_BIND_SERVICE
            | CapabilitySet::SYS_CHROOT
            | CapabilitySet::KILL
            | CapabilitySet::AUDIT_WRITE
    }

    /// What `program` answers to the x86_64 call `nr` with `args`.
    fn verdict(program: &[sock_filter], nr: libc::c_long, args: &[u64]) -> u32 {
        verdict_on(program, AUDIT_ARCH_X86_64, nr, args)
    }

    /// A BPF interpreter for the instructions that seccompiler and the prelude emit.
    fn verdict_on(program: &[sock_filter], arch: u32, nr: libc::c_long, args: &[u64]) -> u32 {
        const LOAD: u32 = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        const AND: u32 = libc::BPF_ALU | libc::BPF_AND | libc::BPF_K;
        const JUMP: u32 = libc::BPF_JMP | libc::BPF_JA;
        const JEQ: u32 = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
        const JGT: u32 = libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K;
        const JGE: u32 = libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K;
        const RETURN: u32 = libc::BPF_RET | libc::BPF_K;
        // struct seccomp_data as 32-bit words; x86_64 is little-endian.
        let mut data = [0u32; size_of::<libc::seccomp_data>() / 4];
        data[offset_of!(libc::seccomp_data, nr) / 4] = nr as u32;
        data[offset_of!(libc::seccomp_data, arch) / 4] = arch;
        let first_arg = offset_of!(libc::seccomp_data, args) / 4;
        for (index, &arg) in args.iter().enumerate() {
            data[first_arg + 2 * index] = arg as u32;
            data[first_arg + 2 * index + 1] = (arg >> 32) as u32;
        }
        let (mut pc, mut accumulator) = (0, 0);
        loop {
            let sock_filter { code, jt, jf, k } = program[pc];
            pc += 1;
            let branch = |taken: bool| usize::from(if taken { jt } else { jf });
            match u32::from(code) {
                LOAD => accumulator = data[k as usize / 4],
                AND => accumulator &= k,
                JUMP => pc += k as usize,
                JEQ => pc += branch(accumulator == k),
                JGT => pc += branch(accumulator > k),
                JGE => pc += branch(accumulator >= k),
                RETURN => return k,
                other => panic!("unexpected BPF instruction {other:#x}"),
            }
        }
    }

    #[test]
    fn the_filter_compiles_for_the_default_capabilities_and_with_sys_admin() {
        for capabilities in [
            default_capabilities(),
            default_capabilities() | CapabilitySet::SYS_ADMIN,
        ] {
            let program = runtime_default(capabilities).unwrap();
            assert!(
                !program.is_empty() && program.len() < 4096,
                "{}",
                program.len()
            );
        }
    }

    #[test]
    fn the_default_capabilities_run_programs_but_create_no_namespace() {
        let program = runtime_default(default_capabilities()).unwrap();
        let fork = libc::SIGCHLD as u64;
        let allowed: [(libc::c_long, &[u64]); 9] = [
            (libc::SYS_getpid, &[]),
            (libc::SYS_execve, &[]),
            (libc::SYS_clone, &[fork | libc::CLONE_VM as u64]),
            (libc::SYS_chroot, &[]),
            (libc::SYS_ptrace, &[]),
            (libc::SYS_personality, &[0xffff_ffff]),
            (libc::SYS_personality, &[0x2_0008]),
            (libc::SYS_socket, &[libc::AF_INET as u64]),
            (libc::SYS_socket, &[libc::AF_XDP as u64]),
        ];
        for (nr, args) in allowed {
            assert_eq!(verdict(&program, nr, args), ALLOW, "{nr} {args:?}");
        }
        let refused: [(libc::c_long, &[u64]); 10] = [
            (libc::SYS_unshare, &[libc::CLONE_NEWUTS as u64]),
            (libc::SYS_setns, &[]),
            (libc::SYS_mount, &[]),
            (libc::SYS_clone, &[fork | libc::CLONE_NEWNET as u64]),
            (libc::SYS_clone, &[fork | libc::CLONE_NEWUSER as u64]),
            (libc::SYS_personality, &[libc::ADDR_NO_RANDOMIZE as u64]),
            (libc::SYS_socket, &[libc::AF_ALG as u64]),
            (libc::SYS_socket, &[libc::AF_VSOCK as u64]),
            (libc::SYS_kexec_load, &[]),
            (libc::SYS_clock_settime, &[]),
        ];
        for (nr, args) in refused {
            assert_eq!(verdict(&program, nr, args), EPERM, "{nr} {args:?}");
        }
        assert_eq!(verdict(&program, libc::SYS_clone3, &[]), ENOSYS);
    }

    #[test]
    fn sys_admin_unlocks_namespaces_and_mounts() {
        let program = runtime_default(default_capabilities() | CapabilitySet::SYS_ADMIN).unwrap();
        let new_net = (libc::SIGCHLD | libc::CLONE_NEWNET) as u64;
        for (nr, args) in [
            (libc::SYS_unshare, &[libc::CLONE_NEWUTS as u64][..]),
            (libc::SYS_clone, &[new_net]),
            (libc::SYS_clone3, &[]),
            (libc::SYS_mount, &[]),
            (libc::SYS_umount2, &[]),
            (libc::SYS_setns, &[]),
            (libc::SYS_bpf, &[]),
        ] {
            assert_eq!(verdict(&program, nr, args), ALLOW, "{nr}");
        }
        // Still not what other capabilities guard.
        assert_eq!(verdict(&program, libc::SYS_reboot, &[]), EPERM);
    }

    #[test]
    fn each_capability_unlocks_its_calls_only() {
        let without = runtime_default(CapabilitySet::empty()).unwrap();
        for (capability, nr) in [
            (CapabilitySet::DAC_READ_SEARCH, libc::SYS_open_by_handle_at),
            (CapabilitySet::SYS_BOOT, libc::SYS_reboot),
            (CapabilitySet::SYS_CHROOT, libc::SYS_chroot),
            (CapabilitySet::SYS_MODULE, libc::SYS_finit_module),
            (CapabilitySet::SYS_PACCT, libc::SYS_acct),
            (CapabilitySet::SYS_PTRACE, libc::SYS_kcmp),
            (CapabilitySet::SYS_RAWIO, libc::SYS_iopl),
            (CapabilitySet::SYS_TIME, libc::SYS_clock_settime),
            (CapabilitySet::SYS_TIME, libc::SYS_settimeofday),
            (CapabilitySet::SYS_TTY_CONFIG, libc::SYS_vhangup),
            (CapabilitySet::SYS_NICE, libc::SYS_mbind),
            (CapabilitySet::SYSLOG, libc::SYS_syslog),
            (CapabilitySet::BPF, libc::SYS_bpf),
            (CapabilitySet::PERFMON, libc::SYS_perf_event_open),
        ] {
            let with = runtime_default(capability).unwrap();
            assert_eq!(verdict(&without, nr, &[]), EPERM, "{nr} without");
            assert_eq!(verdict(&with, nr, &[]), ALLOW, "{nr} with");
            assert_eq!(verdict(&with, libc::SYS_mount, &[]), EPERM, "{nr}");
        }
    }

    #[test]
    fn another_architecture_is_killed_even_for_clone3() {
        let program = runtime_default(default_capabilities()).unwrap();
        for nr in [libc::SYS_getpid, libc::SYS_clone3] {
            assert_eq!(verdict_on(&program, AUDIT_ARCH_I386, nr, &[]), KILL);
        }
    }

    /// In a forked child with the default capabilities' filter: `unshare` fails with `EPERM`
    /// (as root, only the filter can refuse it), `clone3` with `ENOSYS` (the kernel would say
    /// `EINVAL`), while `getpid` and `fork` still work. The child's exit code says which
    /// check failed.
    #[test]
    fn a_filtered_process_runs_but_cannot_unshare() {
        let program = runtime_default(default_capabilities()).unwrap();
        // SAFETY: the child only makes system calls (no allocation on the success path, no
        // lock the parent's other threads may hold) and leaves with _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let code = filtered_child(&program);
                // SAFETY: _exit ends the child at once, without the test harness's atexit
                // handlers or unwinding into the harness.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                let status = waitpid(child, None).unwrap();
                assert_eq!(
                    status,
                    WaitStatus::Exited(child, 0),
                    "1: no_new_privs, 2: install, 3: unshare not EPERM, 4: getpid, \
                     5: clone3 not ENOSYS, 6: fork, 7: forked child"
                );
            }
        }
    }

    fn filtered_child(program: &BpfProgram) -> i32 {
        let pid = getpid();
        if rustix::thread::set_no_new_privs(true).is_err() {
            return 1;
        }
        if install(program).is_err() {
            return 2;
        }
        if unshare(CloneFlags::CLONE_NEWUTS) != Err(Errno::EPERM) {
            return 3;
        }
        if getpid() != pid {
            return 4;
        }
        // SAFETY: with a size of 0 the kernel reads no clone_args; it fails either way.
        let clone3 = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
        if clone3 != -1 || Errno::last() != Errno::ENOSYS {
            return 5;
        }
        // SAFETY: the grandchild only calls _exit.
        match unsafe { fork() } {
            Err(_) => 6,
            // SAFETY: as above, _exit leaves at once.
            Ok(ForkResult::Child) => unsafe { libc::_exit(0) },
            Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => 0,
                _ => 7,
            },
        }
    }
}
