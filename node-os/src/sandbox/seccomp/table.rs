//! The profile's lists of x86_64 system calls. containerd's names that x86_64 lacks (the
//! 32-bit `*32`, `*64` and `*_time64` variants, `socketcall`, `ipc`, `send`, `recv`, ...) are
//! left out.

#![allow(non_upper_case_globals)]

use nix::libc::*;
use rustix::thread::CapabilitySet;

/// One system call: its x86_64 number and its name as seccomp profiles spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Call {
    pub(crate) nr: c_long,
    /// `SYS_` and the name, as `stringify!` gives it.
    constant: &'static str,
}

impl Call {
    pub(crate) fn name(&self) -> &'static str {
        self.constant.trim_start_matches("SYS_")
    }
}

/// The [`Call`]s named by `libc`'s (or this file's) `SYS_` constants.
macro_rules! calls {
    ($($call:ident),* $(,)?) => {
        &[$(Call { nr: $call, constant: stringify!($call) }),*]
    };
}

/// Allowed to every container: containerd's list, in its order, then its additions for
/// recent kernels and for x86_64.
#[rustfmt::skip]
pub(crate) const ALLOWED: &[Call] = calls![
    SYS_accept, SYS_accept4, SYS_access, SYS_adjtimex, SYS_alarm, SYS_bind, SYS_brk,
    SYS_cachestat, SYS_capget, SYS_capset, SYS_chdir, SYS_chmod, SYS_chown, SYS_clock_adjtime,
    SYS_clock_getres, SYS_clock_gettime, SYS_clock_nanosleep, SYS_close, SYS_close_range,
    SYS_connect, SYS_copy_file_range, SYS_creat, SYS_dup, SYS_dup2, SYS_dup3, SYS_epoll_create,
    SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_ctl_old, SYS_epoll_pwait, SYS_epoll_pwait2,
    SYS_epoll_wait, SYS_epoll_wait_old, SYS_eventfd, SYS_eventfd2, SYS_execve, SYS_execveat,
    SYS_exit, SYS_exit_group, SYS_faccessat, SYS_faccessat2, SYS_fadvise64, SYS_fallocate,
    SYS_fanotify_mark, SYS_fchdir, SYS_fchmod, SYS_fchmodat, SYS_fchmodat2, SYS_fchown,
    SYS_fchownat, SYS_fcntl, SYS_fdatasync, SYS_fgetxattr, SYS_flistxattr, SYS_flock, SYS_fork,
    SYS_fremovexattr, SYS_fsetxattr, SYS_fstat, SYS_fstatfs, SYS_fsync, SYS_ftruncate,
    SYS_futex, SYS_futex_requeue, SYS_futex_wait, SYS_futex_waitv, SYS_futex_wake,
    SYS_futimesat, SYS_getcpu, SYS_getcwd, SYS_getdents, SYS_getdents64, SYS_getegid,
    SYS_geteuid, SYS_getgid, SYS_getgroups, SYS_getitimer, SYS_getpeername, SYS_getpgid,
    SYS_getpgrp, SYS_getpid, SYS_getppid, SYS_getpriority, SYS_getrandom, SYS_getresgid,
    SYS_getresuid, SYS_getrlimit, SYS_get_robust_list, SYS_getrusage, SYS_getsid,
    SYS_getsockname, SYS_getsockopt, SYS_get_thread_area, SYS_gettid, SYS_gettimeofday,
    SYS_getuid, SYS_getxattr, SYS_getxattrat, SYS_inotify_add_watch, SYS_inotify_init,
    SYS_inotify_init1, SYS_inotify_rm_watch, SYS_io_cancel, SYS_ioctl, SYS_io_destroy,
    SYS_io_getevents, SYS_io_pgetevents, SYS_ioprio_get, SYS_ioprio_set, SYS_io_setup,
    SYS_io_submit, SYS_kill, SYS_landlock_add_rule, SYS_landlock_create_ruleset,
    SYS_landlock_restrict_self, SYS_lchown, SYS_lgetxattr, SYS_link, SYS_linkat, SYS_listen,
    SYS_listmount, SYS_listxattr, SYS_listxattrat, SYS_llistxattr, SYS_lremovexattr, SYS_lseek,
    SYS_lsetxattr, SYS_lsm_get_self_attr, SYS_lsm_list_modules, SYS_lsm_set_self_attr,
    SYS_lstat, SYS_madvise, SYS_membarrier, SYS_memfd_create, SYS_memfd_secret, SYS_mincore,
    SYS_mkdir, SYS_mkdirat, SYS_mknod, SYS_mknodat, SYS_mlock, SYS_mlock2, SYS_mlockall,
    SYS_map_shadow_stack, SYS_mmap, SYS_mprotect, SYS_mq_getsetattr, SYS_mq_notify, SYS_mq_open,
    SYS_mq_timedreceive, SYS_mq_timedsend, SYS_mq_unlink, SYS_mremap, SYS_mseal, SYS_msgctl,
    SYS_msgget, SYS_msgrcv, SYS_msgsnd, SYS_msync, SYS_munlock, SYS_munlockall, SYS_munmap,
    SYS_name_to_handle_at, SYS_nanosleep, SYS_newfstatat, SYS_open, SYS_openat, SYS_openat2,
    SYS_pause, SYS_pidfd_open, SYS_pidfd_send_signal, SYS_pipe, SYS_pipe2, SYS_pkey_alloc,
    SYS_pkey_free, SYS_pkey_mprotect, SYS_poll, SYS_ppoll, SYS_prctl, SYS_pread64, SYS_preadv,
    SYS_preadv2, SYS_prlimit64, SYS_process_mrelease, SYS_pselect6, SYS_pwrite64, SYS_pwritev,
    SYS_pwritev2, SYS_read, SYS_readahead, SYS_readlink, SYS_readlinkat, SYS_readv,
    SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg, SYS_remap_file_pages, SYS_removexattr,
    SYS_removexattrat, SYS_rename, SYS_renameat, SYS_renameat2, SYS_restart_syscall, SYS_rmdir,
    SYS_rseq, SYS_rt_sigaction, SYS_rt_sigpending, SYS_rt_sigprocmask, SYS_rt_sigqueueinfo,
    SYS_rt_sigreturn, SYS_rt_sigsuspend, SYS_rt_sigtimedwait, SYS_rt_tgsigqueueinfo,
    SYS_sched_getaffinity, SYS_sched_getattr, SYS_sched_getparam, SYS_sched_get_priority_max,
    SYS_sched_get_priority_min, SYS_sched_getscheduler, SYS_sched_rr_get_interval,
    SYS_sched_setaffinity, SYS_sched_setattr, SYS_sched_setparam, SYS_sched_setscheduler,
    SYS_sched_yield, SYS_seccomp, SYS_select, SYS_semctl, SYS_semget, SYS_semop, SYS_semtimedop,
    SYS_sendfile, SYS_sendmmsg, SYS_sendmsg, SYS_sendto, SYS_setfsgid, SYS_setfsuid, SYS_setgid,
    SYS_setgroups, SYS_setitimer, SYS_setpgid, SYS_setpriority, SYS_setregid, SYS_setresgid,
    SYS_setresuid, SYS_setreuid, SYS_setrlimit, SYS_set_robust_list, SYS_setsid, SYS_setsockopt,
    SYS_set_thread_area, SYS_set_tid_address, SYS_setuid, SYS_setxattr, SYS_setxattrat,
    SYS_shmat, SYS_shmctl, SYS_shmdt, SYS_shmget, SYS_shutdown, SYS_sigaltstack, SYS_signalfd,
    SYS_signalfd4, SYS_socketpair, SYS_splice, SYS_stat, SYS_statfs, SYS_statmount, SYS_statx,
    SYS_symlink, SYS_symlinkat, SYS_sync, SYS_sync_file_range, SYS_syncfs, SYS_sysinfo, SYS_tee,
    SYS_tgkill, SYS_time, SYS_timer_create, SYS_timer_delete, SYS_timer_getoverrun,
    SYS_timer_gettime, SYS_timer_settime, SYS_timerfd_create, SYS_timerfd_gettime,
    SYS_timerfd_settime, SYS_times, SYS_tkill, SYS_truncate, SYS_umask, SYS_uname, SYS_unlink,
    SYS_unlinkat, SYS_uretprobe, SYS_utime, SYS_utimensat, SYS_utimes, SYS_vfork, SYS_vmsplice,
    SYS_wait4, SYS_waitid, SYS_write, SYS_writev,
    // Kernels from 4.8 on.
    SYS_process_vm_readv, SYS_process_vm_writev, SYS_ptrace,
    // x86_64 only.
    SYS_arch_prctl, SYS_modify_ldt,
];

/// Allowed to a container that keeps the capability.
pub(crate) const BY_CAPABILITY: &[(CapabilitySet, &[Call])] = &[
    (
        CapabilitySet::DAC_READ_SEARCH,
        calls![SYS_open_by_handle_at],
    ),
    (
        CapabilitySet::SYS_ADMIN,
        calls![
            SYS_bpf,
            SYS_clone,
            SYS_clone3,
            SYS_fanotify_init,
            SYS_fsconfig,
            SYS_fsmount,
            SYS_fsopen,
            SYS_fspick,
            SYS_lookup_dcookie,
            SYS_mount,
            SYS_mount_setattr,
            SYS_move_mount,
            SYS_open_tree,
            SYS_perf_event_open,
            SYS_quotactl,
            SYS_quotactl_fd,
            SYS_setdomainname,
            SYS_sethostname,
            SYS_setns,
            SYS_syslog,
            SYS_umount2,
            SYS_unshare,
        ],
    ),
    (CapabilitySet::SYS_BOOT, calls![SYS_reboot]),
    (CapabilitySet::SYS_CHROOT, calls![SYS_chroot]),
    (
        CapabilitySet::SYS_MODULE,
        calls![SYS_delete_module, SYS_init_module, SYS_finit_module],
    ),
    (CapabilitySet::SYS_PACCT, calls![SYS_acct]),
    (
        CapabilitySet::SYS_PTRACE,
        calls![
            SYS_kcmp,
            SYS_pidfd_getfd,
            SYS_process_madvise,
            SYS_process_vm_readv,
            SYS_process_vm_writev,
            SYS_ptrace,
        ],
    ),
    (CapabilitySet::SYS_RAWIO, calls![SYS_iopl, SYS_ioperm]),
    (
        CapabilitySet::SYS_TIME,
        calls![SYS_settimeofday, SYS_clock_settime],
    ),
    (CapabilitySet::SYS_TTY_CONFIG, calls![SYS_vhangup]),
    (
        CapabilitySet::SYS_NICE,
        calls![
            SYS_get_mempolicy,
            SYS_mbind,
            SYS_set_mempolicy,
            SYS_set_mempolicy_home_node,
        ],
    ),
    (CapabilitySet::SYSLOG, calls![SYS_syslog]),
    (CapabilitySet::BPF, calls![SYS_bpf]),
    (CapabilitySet::PERFMON, calls![SYS_perf_event_open]),
];

// x86_64 calls newer than the libc crate's table, numbered as in the kernel's
// arch/x86/entry/syscalls/syscall_64.tbl; each can go once libc has it.
const SYS_io_pgetevents: c_long = 333;
const SYS_uretprobe: c_long = 335;
const SYS_cachestat: c_long = 451;
const SYS_map_shadow_stack: c_long = 453;
const SYS_futex_wake: c_long = 454;
const SYS_futex_wait: c_long = 455;
const SYS_futex_requeue: c_long = 456;
const SYS_statmount: c_long = 457;
const SYS_listmount: c_long = 458;
const SYS_lsm_get_self_attr: c_long = 459;
const SYS_lsm_set_self_attr: c_long = 460;
const SYS_lsm_list_modules: c_long = 461;
const SYS_setxattrat: c_long = 463;
const SYS_getxattrat: c_long = 464;
const SYS_listxattrat: c_long = 465;
const SYS_removexattrat: c_long = 466;
