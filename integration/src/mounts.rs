//! Mounts a test or benchmark left under its own directory — a pod sandbox's namespace files,
//! say, when `flotilla up` was killed — found in `/proc/self/mountinfo` and detached, so the
//! directory can be removed.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, umount2};

/// Detaches every mount at or under `dir` (deepest first); how many there were.
pub fn unmount_under(dir: &Path) -> usize {
    let mut points = mounts_under(dir);
    points.sort_by_key(|point| std::cmp::Reverse(point.as_os_str().len()));
    for point in &points {
        // Already gone with a mount above it, or never ours to remove: nothing to do.
        let _ = umount2(point, MntFlags::MNT_DETACH);
    }
    points.len()
}

/// The mount points at or under `dir` in this process's mount namespace.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|mountinfo| mount_points_under(&mountinfo, dir))
        .unwrap_or_default()
}

/// The mount points of `/proc/self/mountinfo` text that are `dir` or under it.
fn mount_points_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|point| PathBuf::from(unescape_octal(point)))
        .filter(|point| point.starts_with(dir))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|digits| u8::from_str_radix(digits, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounts_under_a_dir_with_escaped_names() {
        let mountinfo = "\
22 1 0:21 / / rw - ext4 /dev/vda rw
90 22 0:50 / /tmp/bench-x/root/snap\\0401 rw - overlay overlay rw
91 22 0:51 / /tmp/bench-xy rw - tmpfs tmpfs rw
92 90 0:52 / /tmp/bench-x/root/snap\\0401/proc rw - proc proc rw
";
        let points = mount_points_under(mountinfo, Path::new("/tmp/bench-x"));
        assert_eq!(
            points,
            [
                PathBuf::from("/tmp/bench-x/root/snap 1"),
                PathBuf::from("/tmp/bench-x/root/snap 1/proc"),
            ]
        );
    }
}
