//! What the container's first process does before it becomes the container: in a new mount
//! namespace, mount the overlay root and pivot into it, give it /proc, a read-only /sys, a
//! minimal /dev, /dev/shm and the sandbox's /etc files, mask the kernel files containers must
//! not read, then become the image's user with only the allowed capabilities and exec.
//!
//! It runs in the forked child of the container init, which is single-threaded, so it may
//! allocate freely. Mounts are made after `pivot_root`, so a symbolic link in the image
//! resolves inside the container's root, never on the host.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::stat::{Mode, SFlag, makedev, mknod, umask};
use nix::unistd::{Gid, Uid, chdir, execve, pivot_root, setgroups, setresgid, setresuid};
use rustix::thread::{CapabilitySet, CapabilitySets};

use super::config::InitConfig;
use super::seccomp;
use super::security::Security;
use super::user::{Identity, resolve};
use crate::runtime::{DEFAULT_PATH, find_in_path};

/// Where the host's root stays reachable between `pivot_root` and its unmount.
const OLD_ROOT: &str = "/.flotilla-old-root";

/// The kernel's file systems every container gets: (type, target, flags, options).
const KERNEL_MOUNTS: [(&str, &str, MsFlags, &str); 5] = [
    (
        "proc",
        "/proc",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NOEXEC)
            .union(MsFlags::MS_NODEV),
        "",
    ),
    (
        "tmpfs",
        "/dev",
        MsFlags::MS_NOSUID.union(MsFlags::MS_STRICTATIME),
        "mode=755,size=65536k",
    ),
    (
        "devpts",
        "/dev/pts",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    ),
    (
        "tmpfs",
        "/dev/shm",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NOEXEC)
            .union(MsFlags::MS_NODEV),
        "mode=1777,size=65536k",
    ),
    (
        "sysfs",
        "/sys",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NOEXEC)
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_RDONLY),
        "",
    ),
];

/// The device nodes of a container's /dev: (name, major, minor).
const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The links every /dev has.
const DEV_LINKS: [(&str, &str); 5] = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
];

/// Kernel files hidden from containers (containerd's defaults): files get /dev/null over
/// them, directories an empty read-only tmpfs.
pub(crate) const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Kernel files containers may read but not write.
pub(crate) const READ_ONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Sets the container up and executes its command; returns only with the reason it could not.
pub(crate) fn enter(config: &InitConfig) -> Result<Infallible, String> {
    umask(Mode::from_bits_truncate(0o022));
    root(config)?;
    let working_dir = &config.working_dir;
    fs::create_dir_all(working_dir)
        .and_then(|()| chdir(working_dir).map_err(Into::into))
        .map_err(|error| format!("working directory {}: {error}", working_dir.display()))?;
    if config.security.read_only_root {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(|errno| format!("making the root file system read-only: {errno}"))?;
    }
    run_as(
        &config.argv,
        &config.env,
        config.user.as_deref(),
        &config.security,
    )
}

/// In the container's root and working directory: becomes its user under its restrictions
/// (the image's USER unless `security` overrides it) and executes `argv`.
pub(crate) fn run_as(
    argv: &[String],
    env: &[(String, String)],
    user: Option<&str>,
    security: &Security,
) -> Result<Infallible, String> {
    let capabilities = security.capability_set()?;
    let identity = identity(user, security)?;
    let env = environment(env, &identity);
    let program = program(argv, &env)?;
    become_user(&identity, capabilities, security)?;
    execute(&program, argv, &env)
}

/// Executes `program` with `argv` and `env`; returns only with the reason it could not.
pub(crate) fn execute(
    program: &Path,
    argv: &[String],
    env: &[(String, String)],
) -> Result<Infallible, String> {
    let argv = c_strings(argv.iter().map(String::as_str))?;
    let pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let envp = c_strings(pairs.iter().map(String::as_str))?;
    let path = CString::new(program.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("program path {} contains a NUL byte", program.display()))?;
    close_inherited_on_exec()?;
    let errno = match execve(&path, &argv, &envp) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    Err(format!(
        "exec: {:?}: {}",
        program.display().to_string(),
        errno.desc()
    ))
}

/// Marks every descriptor above standard error close-on-exec, so none the agent or the init
/// held open (a terminal's controlling side, pipes) reaches the container's program, as runc
/// does.
fn close_inherited_on_exec() -> Result<(), String> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC closes nothing and reads no memory; it
    // only sets the close-on-exec flag of the descriptors in the range.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if done != 0 {
        return Err(format!(
            "marking inherited descriptors close-on-exec: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The mount namespace, overlay root and kernel file systems.
fn root(config: &InitConfig) -> Result<(), String> {
    let fail = |what: String| move |errno: Errno| format!("{what}: {}", errno.desc());
    unshare(CloneFlags::CLONE_NEWNS).map_err(fail("new mount namespace".into()))?;
    // Nothing mounted from here on propagates back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(fail("making mounts private".into()))?;
    let overlay = &config.rootfs;
    overlay.mount()?;
    let old_root = overlay.merged.join(OLD_ROOT.trim_start_matches('/'));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&old_root)
        .map_err(|error| format!("creating {}: {error}", old_root.display()))?;
    pivot_root(&overlay.merged, &old_root).map_err(fail("pivot_root".into()))?;
    chdir("/").map_err(fail("chdir /".into()))?;

    let privileged = config.security.privileged;
    for (fstype, target, mut flags, options) in KERNEL_MOUNTS {
        make_dir(target)?;
        if privileged && target == "/dev" {
            // The host's devices, as a privileged container has them.
            let host_dev = Path::new(OLD_ROOT).join("dev");
            mount(
                Some(&host_dev),
                target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(fail("bind-mounting the host's /dev".into()))?;
            continue;
        }
        if privileged && target == "/sys" {
            flags.remove(MsFlags::MS_RDONLY);
        }
        mount(
            Some(fstype),
            target,
            Some(fstype),
            flags,
            (!options.is_empty()).then_some(options),
        )
        .map_err(fail(format!("mounting {fstype} at {target}")))?;
        if target == "/dev" {
            devices()?;
        }
    }
    for (name, source) in &config.etc {
        bind_host_file(source, &PathBuf::from("/etc").join(name))?;
    }
    // Under a privileged container's /dev, the host's, its mount point is made on the host,
    // as runc makes it.
    if let Some(file) = &config.termination_log {
        bind_host_file(&file.source, &file.target)?;
    }
    umount2(OLD_ROOT, MntFlags::MNT_DETACH).map_err(fail("unmounting the host root".into()))?;
    fs::remove_dir(OLD_ROOT).map_err(|error| format!("removing {OLD_ROOT}: {error}"))?;
    if privileged {
        return Ok(());
    }
    mask_kernel_files()
}

/// Bind-mounts the host's file `source`, reached through the old root, over `target`, making
/// its directory and mount point when missing.
fn bind_host_file(source: &Path, target: &Path) -> Result<(), String> {
    let source = Path::new(OLD_ROOT).join(source.strip_prefix("/").unwrap_or(source));
    if let Some(dir) = target.parent() {
        make_dir(dir)?;
    }
    mount_point_file(target)?;
    mount(
        Some(&source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|errno| format!("bind-mounting {}: {}", target.display(), errno.desc()))
}

fn make_dir(path: impl AsRef<Path>) -> Result<(), String> {
    let path = path.as_ref();
    fs::create_dir_all(path).map_err(|error| format!("creating {}: {error}", path.display()))
}

/// An empty regular file to mount over; a symbolic link there (`/etc/resolv.conf` often is
/// one) is replaced in the container's own layer.
fn mount_point_file(path: &Path) -> Result<(), String> {
    let error = |error: std::io::Error| format!("preparing {}: {error}", path.display());
    if path
        .symlink_metadata()
        .is_ok_and(|meta| meta.file_type().is_symlink())
    {
        fs::remove_file(path).map_err(error)?;
    }
    if !path.exists() {
        fs::write(path, "").map_err(error)?;
    }
    Ok(())
}

fn devices() -> Result<(), String> {
    for (name, major, minor) in DEVICES {
        let path = Path::new("/dev").join(name);
        mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(major, minor),
        )
        .map_err(|errno| format!("creating {}: {}", path.display(), errno.desc()))?;
        // mknod's mode is masked by the umask.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666))
            .map_err(|error| format!("chmod {}: {error}", path.display()))?;
    }
    for (target, link) in DEV_LINKS {
        symlink(target, link).map_err(|error| format!("creating {link}: {error}"))?;
    }
    Ok(())
}

fn mask_kernel_files() -> Result<(), String> {
    for path in MASKED_PATHS {
        let Ok(meta) = Path::new(path).symlink_metadata() else {
            continue;
        };
        let masked = if meta.is_dir() {
            mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        masked.map_err(|errno| format!("masking {path}: {}", errno.desc()))?;
    }
    for path in READ_ONLY_PATHS {
        if !Path::new(path).exists() {
            continue;
        }
        mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .and_then(|()| {
            mount(
                None::<&str>,
                path,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None::<&str>,
            )
        })
        .map_err(|errno| format!("making {path} read-only: {}", errno.desc()))?;
    }
    Ok(())
}

/// The image's user, or `runAsUser`, looked up in the container's root; then `runAsGroup`
/// and the supplemental groups.
fn identity(user: Option<&str>, security: &Security) -> Result<Identity, String> {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    identity_in(&passwd, &group, user, security)
}

/// [`identity`] from the text of the container's `/etc/passwd` and `/etc/group`.
pub(crate) fn identity_in(
    passwd: &str,
    group: &str,
    user: Option<&str>,
    security: &Security,
) -> Result<Identity, String> {
    let user = match security.run_as_user {
        Some(uid) => Some(uid.to_string()),
        None => user.map(str::to_string),
    };
    let mut identity = resolve(user.as_deref(), passwd, group)?;
    if let Some(gid) = security.run_as_group {
        identity.gid = gid;
    }
    identity.groups.extend(&security.supplemental_groups);
    Ok(identity)
}

/// The process's environment: `env`, with `PATH` and `HOME` when it has none.
pub(crate) fn environment(env: &[(String, String)], identity: &Identity) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    let has = |env: &[(String, String)], name: &str| env.iter().any(|(key, _)| key == name);
    if !has(&env, "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    if !has(&env, "HOME") {
        env.push(("HOME".into(), identity.home.clone()));
    }
    env
}

/// argv[0] as a path in the container: looked up in its `PATH` unless it holds a `/`.
pub(crate) fn program(argv: &[String], env: &[(String, String)]) -> Result<PathBuf, String> {
    let name = argv.first().map_or("", String::as_str);
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let search_path = env
        .iter()
        .rev()
        .find(|(key, _)| key == "PATH")
        .map_or(DEFAULT_PATH, |(_, value)| value.as_str());
    find_in_path(name, search_path)
        .ok_or_else(|| format!("exec: {name:?}: executable file not found in $PATH"))
}

/// Drops every capability outside `allowed` for good, installs the seccomp filter while it
/// still may, takes the user's ids, and keeps `allowed` effective only for root (a non-root
/// user's exec gains none, as in containerd).
fn become_user(
    identity: &Identity,
    allowed: CapabilitySet,
    security: &Security,
) -> Result<(), String> {
    for capability in CapabilitySet::all().iter() {
        if allowed.contains(capability) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(capability) {
            // A capability this kernel does not know.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(errno) => return Err(format!("dropping capability {capability:?}: {errno}")),
        }
    }
    if security.seccomp && !security.privileged {
        seccomp::install(&seccomp::runtime_default(allowed)?)?;
    }
    let groups: Vec<Gid> = identity.groups.iter().copied().map(Gid::from_raw).collect();
    setgroups(&groups).map_err(|errno| format!("setgroups: {}", errno.desc()))?;
    let gid = Gid::from_raw(identity.gid);
    setresgid(gid, gid, gid)
        .map_err(|errno| format!("setgid {}: {}", identity.gid, errno.desc()))?;
    let uid = Uid::from_raw(identity.uid);
    setresuid(uid, uid, uid)
        .map_err(|errno| format!("setuid {}: {}", identity.uid, errno.desc()))?;
    let kept = if identity.uid == 0 {
        allowed
    } else {
        CapabilitySet::empty()
    };
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: kept,
            permitted: kept,
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(|errno| format!("setting capabilities: {errno}"))?;
    rustix::thread::clear_ambient_capability_set()
        .map_err(|errno| format!("clearing ambient capabilities: {errno}"))?;
    if security.no_new_privs {
        rustix::thread::set_no_new_privs(true)
            .map_err(|errno| format!("setting no_new_privs: {errno}"))?;
    }
    Ok(())
}

fn c_strings<'a>(items: impl Iterator<Item = &'a str>) -> Result<Vec<CString>, String> {
    items
        .map(|item| CString::new(item).map_err(|_| format!("{item:?} contains a NUL byte")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::config::Overlay;

    fn config(argv: &[&str], env: &[(&str, &str)]) -> InitConfig {
        InitConfig {
            id: "c".into(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            working_dir: PathBuf::from("/"),
            join: Vec::new(),
            rootfs: Overlay::in_dir(Path::new("/c"), &[]),
            etc: Vec::new(),
            termination_log: None,
            user: None,
            security: Security::default(),
        }
    }

    #[test]
    fn path_and_home_are_added_only_when_missing() {
        let identity = Identity {
            uid: 33,
            gid: 33,
            groups: Vec::new(),
            home: "/var/www".into(),
        };
        let env = environment(&config(&["x"], &[("A", "1")]).env, &identity);
        assert!(env.contains(&("PATH".into(), DEFAULT_PATH.into())));
        assert!(env.contains(&("HOME".into(), "/var/www".into())));
        let env = environment(
            &config(&["x"], &[("PATH", "/opt"), ("HOME", "/h")]).env,
            &identity,
        );
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn programs_are_found_on_the_containers_path() {
        let c = config(&["sh"], &[]);
        let env = vec![("PATH".to_string(), "/bin".to_string())];
        assert_eq!(program(&c.argv, &env).unwrap(), Path::new("/bin/sh"));
        let missing = config(&["no-such-program-flotilla"], &[]);
        assert_eq!(
            program(&missing.argv, &env).unwrap_err(),
            "exec: \"no-such-program-flotilla\": executable file not found in $PATH"
        );
        let absolute = config(&["/opt/x"], &[]);
        assert_eq!(program(&absolute.argv, &env).unwrap(), Path::new("/opt/x"));
    }

    #[test]
    fn masked_and_read_only_paths_are_kernel_files() {
        for path in MASKED_PATHS.iter().chain(&READ_ONLY_PATHS) {
            assert!(
                path.starts_with("/proc/") || path.starts_with("/sys/"),
                "{path}"
            );
        }
    }
}
