//! The node's hardware and OS inventory, as reported in the Node object's capacity and info.
//!
//! Everything comes from procfs under a caller-chosen root (`/proc` on a real node, a fixture
//! directory in tests, `/host/proc` for an agent that sees the host through a mount). The
//! parsers are pure functions over the files' text so they are tested on fixture strings; only
//! [`read_inventory`] touches the file system.

use std::fs;
use std::path::{Path, PathBuf};

use procfs::{CpuInfo, FromRead};

use crate::hardware::{Disk, Nic, read_disks, read_nics};

/// What the node reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub hostname: String,
    /// Online CPUs times 1000, in Kubernetes millicores.
    pub cpu_millis: u64,
    /// `MemTotal` in bytes.
    pub memory_bytes: u64,
    pub cpu_model: String,
    pub kernel_version: String,
    /// `PRETTY_NAME` from os-release, empty when no os-release file is readable.
    pub os_image: String,
    pub boot_id: String,
    /// From sysfs beside the procfs (`<proc_root>/../sys`).
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
}

/// What one `/proc/cpuinfo` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuSummary {
    /// Number of `processor` entries: the kernel lists the online CPUs.
    pub online: u64,
    /// The first CPU's model, empty if the architecture reports none.
    pub model: String,
}

/// Why a procfs file's text could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// procfs could not split the cpuinfo text into CPU entries.
    #[error("cannot split into CPU entries")]
    CpuEntries(#[source] procfs::ProcError),
    /// The cpuinfo text has no `processor` entry at all.
    #[error("no processor entries")]
    NoProcessors,
    /// A required `Key:` line is absent.
    #[error("no {field} line")]
    MissingField { field: &'static str },
    /// A field's value is not what the kernel writes there.
    #[error("{field} has unexpected value {value:?}")]
    BadValue { field: &'static str, value: String },
}

/// Why the inventory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// A procfs file could not be read.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A procfs file was read but its text is not what the kernel writes.
    #[error("cannot parse {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
}

/// Fields of cpuinfo that name the CPU model, in order of preference: x86 and most others
/// write `model name`, MIPS `cpu model`, POWER `cpu`.
const MODEL_FIELDS: [&str; 3] = ["model name", "cpu model", "cpu"];

/// Reads the inventory from the procfs mounted at `proc_root`.
///
/// The os-release file is looked up beside that procfs: `<proc_root>/../etc/os-release`, then
/// `<proc_root>/../usr/lib/os-release` (for `/proc` that is the host's own `/etc/os-release`).
pub fn read_inventory(proc_root: &Path) -> Result<Inventory, InventoryError> {
    let cpuinfo_path = proc_root.join("cpuinfo");
    let cpu = parse_cpuinfo(&read(&cpuinfo_path)?).map_err(|source| InventoryError::Parse {
        path: cpuinfo_path,
        source,
    })?;
    let meminfo_path = proc_root.join("meminfo");
    let memory_bytes =
        parse_mem_total(&read(&meminfo_path)?).map_err(|source| InventoryError::Parse {
            path: meminfo_path,
            source,
        })?;
    let kernel = proc_root.join("sys/kernel");
    let sys_root = proc_root.parent().unwrap_or(Path::new("/")).join("sys");
    Ok(Inventory {
        hostname: read_single_line(&kernel.join("hostname"))?,
        cpu_millis: cpu.online.saturating_mul(1000),
        memory_bytes,
        cpu_model: cpu.model,
        kernel_version: read_single_line(&kernel.join("osrelease"))?,
        os_image: read_os_image(proc_root),
        boot_id: read_single_line(&kernel.join("random/boot_id"))?,
        disks: read_disks(&sys_root),
        nics: read_nics(&sys_root),
    })
}

/// Counts the online CPUs and names the model from the text of `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> Result<CpuSummary, ParseError> {
    let info = CpuInfo::from_read(text.as_bytes()).map_err(ParseError::CpuEntries)?;
    // procfs moves fields shared by all CPUs out of the per-CPU maps; `get_field` looks in
    // both, so a block counts when it has a `processor` line either way.
    let online = (0..info.cpus.len())
        .filter(|&cpu| info.get_field(cpu, "processor").is_some())
        .count();
    if online == 0 {
        return Err(ParseError::NoProcessors);
    }
    let model = MODEL_FIELDS
        .iter()
        .find_map(|field| info.get_field(0, field))
        .unwrap_or_default()
        .to_string();
    Ok(CpuSummary {
        online: online as u64,
        model,
    })
}

/// Reads `MemTotal` in bytes from the text of `/proc/meminfo`.
///
/// Parsed here rather than with procfs's `Meminfo`, which insists on some twenty other fields
/// being present and slices field names by byte, which can panic on malformed input.
pub fn parse_mem_total(text: &str) -> Result<u64, ParseError> {
    meminfo_bytes(text, "MemTotal")
}

/// The `field` of `/proc/meminfo`'s text in bytes.
pub(crate) fn meminfo_bytes(text: &str, field: &'static str) -> Result<u64, ParseError> {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .ok_or(ParseError::MissingField { field })?;
    let bad = || ParseError::BadValue {
        field,
        value: line.trim().to_string(),
    };
    let mut words = line.split_whitespace();
    let amount: u64 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
    let multiplier = match words.next() {
        None => 1,
        Some("kB") => 1024,
        Some(_) => return Err(bad()),
    };
    amount.checked_mul(multiplier).ok_or_else(bad)
}

/// The `PRETTY_NAME` of an os-release file's text, without its shell quoting.
pub fn parse_os_release_pretty_name(text: &str) -> Option<String> {
    let value = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("PRETTY_NAME="))?;
    Some(unquote(value.trim()))
}

/// Removes the shell quoting os-release(5) allows: double quotes with backslash escapes,
/// single quotes taken literally, or a bare word.
fn unquote(value: &str) -> String {
    if let Some(inner) = value
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
    {
        return inner.to_string();
    }
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

fn read_os_image(proc_root: &Path) -> String {
    let host_root = proc_root.parent().unwrap_or(Path::new("/"));
    ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .filter_map(|file| fs::read_to_string(host_root.join(file)).ok())
        .find_map(|text| parse_os_release_pretty_name(&text))
        .unwrap_or_default()
}

pub(crate) fn read(path: &Path) -> Result<String, InventoryError> {
    fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_single_line(path: &Path) -> Result<String, InventoryError> {
    Ok(read(path)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO_TWO_X86: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu vme\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu vme\n\n";

    const CPUINFO_ONE_POWER: &str = "processor\t: 0\ncpu\t\t: POWER9 (raw), altivec supported\nclock\t\t: 2166.000000MHz\n\ntimebase\t: 512000000\nplatform\t: PowerNV\n";

    const MEMINFO: &str =
        "MemTotal:       24609148 kB\nMemFree:        20000000 kB\nMemAvailable:   22000000 kB\n";

    #[test]
    fn cpuinfo_counts_processors_and_names_the_model() {
        let cpu = parse_cpuinfo(CPUINFO_TWO_X86).unwrap();
        assert_eq!(
            cpu,
            CpuSummary {
                online: 2,
                model: "AMD EPYC 7B13".to_string()
            }
        );
    }

    #[test]
    fn cpuinfo_of_one_cpu_with_trailing_platform_block() {
        let cpu = parse_cpuinfo(CPUINFO_ONE_POWER).unwrap();
        assert_eq!(cpu.online, 1);
        assert_eq!(cpu.model, "POWER9 (raw), altivec supported");
    }

    #[test]
    fn cpuinfo_without_processors_is_an_error() {
        assert!(matches!(parse_cpuinfo(""), Err(ParseError::NoProcessors)));
        assert!(matches!(
            parse_cpuinfo("garbage\nä: 1\n"),
            Err(ParseError::NoProcessors)
        ));
    }

    #[test]
    fn cpuinfo_without_model_has_an_empty_model() {
        let cpu = parse_cpuinfo("processor : 0\nBogoMIPS : 50.00\n").unwrap();
        assert_eq!(cpu.online, 1);
        assert_eq!(cpu.model, "");
    }

    #[test]
    fn mem_total_is_converted_to_bytes() {
        assert_eq!(parse_mem_total(MEMINFO).unwrap(), 24_609_148 * 1024);
    }

    #[test]
    fn mem_total_errors_name_the_problem() {
        assert!(matches!(
            parse_mem_total("MemFree: 1 kB\n"),
            Err(ParseError::MissingField { field: "MemTotal" })
        ));
        assert!(matches!(
            parse_mem_total("MemTotal: lots kB\n"),
            Err(ParseError::BadValue { .. })
        ));
        assert!(matches!(
            parse_mem_total("MemTotal: 1 MB\n"),
            Err(ParseError::BadValue { .. })
        ));
        assert!(matches!(
            parse_mem_total(&format!("MemTotal: {} kB\n", u64::MAX)),
            Err(ParseError::BadValue { .. })
        ));
    }

    #[test]
    fn os_release_pretty_name_is_unquoted() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release_pretty_name(text).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            parse_os_release_pretty_name("PRETTY_NAME='It''s'\n").as_deref(),
            Some("It''s")
        );
        assert_eq!(
            parse_os_release_pretty_name("PRETTY_NAME=\"say \\\"hi\\\"\"").as_deref(),
            Some("say \"hi\"")
        );
        assert_eq!(
            parse_os_release_pretty_name("PRETTY_NAME=Alpine").as_deref(),
            Some("Alpine")
        );
        assert_eq!(parse_os_release_pretty_name("NAME=x\n"), None);
    }

    #[test]
    fn reads_a_fixture_tree() {
        let root = tempfile::tempdir().unwrap();
        let proc_root = root.path().join("proc");
        fs::create_dir_all(proc_root.join("sys/kernel/random")).unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(proc_root.join("cpuinfo"), CPUINFO_TWO_X86).unwrap();
        fs::write(proc_root.join("meminfo"), MEMINFO).unwrap();
        fs::write(proc_root.join("sys/kernel/hostname"), "node-7\n").unwrap();
        fs::write(proc_root.join("sys/kernel/osrelease"), "6.1.0-test\n").unwrap();
        fs::write(proc_root.join("sys/kernel/random/boot_id"), "abc-123\n").unwrap();
        fs::write(
            root.path().join("etc/os-release"),
            "PRETTY_NAME=\"Fixture OS 1\"\n",
        )
        .unwrap();

        std::fs::create_dir_all(root.path().join("sys/block/vda")).unwrap();
        std::fs::write(root.path().join("sys/block/vda/size"), "1024\n").unwrap();

        let inventory = read_inventory(&proc_root).unwrap();
        assert_eq!(
            inventory,
            Inventory {
                hostname: "node-7".to_string(),
                cpu_millis: 2000,
                memory_bytes: 24_609_148 * 1024,
                cpu_model: "AMD EPYC 7B13".to_string(),
                kernel_version: "6.1.0-test".to_string(),
                os_image: "Fixture OS 1".to_string(),
                boot_id: "abc-123".to_string(),
                disks: vec![Disk {
                    name: "vda".to_string(),
                    size_bytes: 1024 * 512,
                    rotational: false,
                }],
                nics: vec![],
            }
        );
    }

    #[test]
    fn missing_file_is_reported_with_its_path() {
        let root = tempfile::tempdir().unwrap();
        let err = read_inventory(root.path()).unwrap_err();
        match err {
            InventoryError::Read { path, .. } => assert_eq!(path, root.path().join("cpuinfo")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reads_this_machine() {
        let inventory = read_inventory(Path::new("/proc")).unwrap();
        assert!(inventory.cpu_millis >= 1000);
        assert_eq!(inventory.cpu_millis % 1000, 0);
        assert!(inventory.memory_bytes > 0);
        assert!(!inventory.hostname.is_empty());
        assert!(!inventory.kernel_version.is_empty());
        assert_eq!(inventory.boot_id.len(), 36, "{}", inventory.boot_id);
    }
}
