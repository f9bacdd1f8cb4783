//! Disks and network interfaces from sysfs, for the Node's hardware facts. Best effort: an
//! entry whose files cannot be read is left out rather than failing the inventory, because
//! sysfs lists devices that vanish or refuse reads (a NIC's speed while its link is down).

use std::fs;
use std::path::Path;

/// A block device that stores data (not a loop, RAM or optical device).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub name: String,
    pub size_bytes: u64,
    /// Spinning disk, as the kernel's `queue/rotational` says.
    pub rotational: bool,
}

/// A network interface backed by a device (not loopback, bridges, veths or tunnels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    /// Link speed; `None` while the link is down or the driver does not say.
    pub speed_mbps: Option<u64>,
}

/// Bytes in a sysfs `size` file, which counts 512-byte sectors whatever the device's own.
pub fn parse_sectors(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok()?.checked_mul(512)
}

/// A sysfs `speed` file: megabits per second, `-1` or unreadable when unknown.
pub fn parse_speed(text: &str) -> Option<u64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(|speed| u64::try_from(speed).ok())
}

/// Whether a `/sys/block` entry is a disk worth reporting.
pub fn is_storage(name: &str) -> bool {
    const VIRTUAL: [&str; 5] = ["loop", "ram", "zram", "sr", "fd"];
    !VIRTUAL.iter().any(|prefix| name.starts_with(prefix))
}

/// The disks under `<sys_root>/block`.
pub fn read_disks(sys_root: &Path) -> Vec<Disk> {
    let mut disks: Vec<Disk> = entries(&sys_root.join("block"))
        .into_iter()
        .filter(|name| is_storage(name))
        .filter_map(|name| {
            let dir = sys_root.join("block").join(&name);
            let size_bytes = parse_sectors(&fs::read_to_string(dir.join("size")).ok()?)?;
            let rotational = fs::read_to_string(dir.join("queue/rotational"))
                .is_ok_and(|text| text.trim() == "1");
            (size_bytes > 0).then_some(Disk {
                name,
                size_bytes,
                rotational,
            })
        })
        .collect();
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    disks
}

/// The device-backed interfaces under `<sys_root>/class/net`.
pub fn read_nics(sys_root: &Path) -> Vec<Nic> {
    let net = sys_root.join("class/net");
    let mut nics: Vec<Nic> = entries(&net)
        .into_iter()
        .filter(|name| net.join(name).join("device").exists())
        .map(|name| {
            let dir = net.join(&name);
            let mac = fs::read_to_string(dir.join("address"))
                .map(|text| text.trim().to_string())
                .unwrap_or_default();
            let speed_mbps = fs::read_to_string(dir.join("speed"))
                .ok()
                .and_then(|text| parse_speed(&text));
            Nic {
                name,
                mac,
                speed_mbps,
            }
        })
        .collect();
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    nics
}

fn entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_sectors("41943040\n"), Some(21_474_836_480));
        assert_eq!(parse_sectors("x"), None);
        assert_eq!(parse_speed("1000\n"), Some(1000));
        assert_eq!(parse_speed("-1\n"), None);
        assert!(is_storage("nvme0n1") && is_storage("vda") && is_storage("sda"));
        assert!(!is_storage("loop0") && !is_storage("ram1") && !is_storage("sr0"));
    }

    #[test]
    fn disks_and_nics_from_a_sysfs_tree() {
        let sys = tempfile::tempdir().unwrap();
        let root = sys.path();
        write(&root.join("block/sda/size"), "2048\n");
        write(&root.join("block/sda/queue/rotational"), "1\n");
        write(&root.join("block/nvme0n1/size"), "4096\n");
        write(&root.join("block/nvme0n1/queue/rotational"), "0\n");
        write(&root.join("block/loop0/size"), "100\n");
        write(&root.join("block/empty/size"), "0\n");
        write(&root.join("class/net/eth0/address"), "52:54:00:12:34:56\n");
        write(&root.join("class/net/eth0/speed"), "10000\n");
        fs::create_dir_all(root.join("class/net/eth0/device")).unwrap();
        write(&root.join("class/net/eth1/address"), "52:54:00:12:34:57\n");
        write(&root.join("class/net/eth1/speed"), "-1\n");
        fs::create_dir_all(root.join("class/net/eth1/device")).unwrap();
        write(&root.join("class/net/br0/address"), "02:00:00:00:00:01\n");
        write(&root.join("class/net/lo/address"), "00:00:00:00:00:00\n");

        let disks = read_disks(root);
        assert_eq!(
            disks,
            [
                Disk {
                    name: "nvme0n1".into(),
                    size_bytes: 4096 * 512,
                    rotational: false
                },
                Disk {
                    name: "sda".into(),
                    size_bytes: 2048 * 512,
                    rotational: true
                },
            ]
        );
        let nics = read_nics(root);
        assert_eq!(
            nics,
            [
                Nic {
                    name: "eth0".into(),
                    mac: "52:54:00:12:34:56".into(),
                    speed_mbps: Some(10000)
                },
                Nic {
                    name: "eth1".into(),
                    mac: "52:54:00:12:34:57".into(),
                    speed_mbps: None
                },
            ]
        );
        assert!(read_disks(&root.join("missing")).is_empty());
    }
}
