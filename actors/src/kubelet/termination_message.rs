//! A container's termination message, as the kubelet gets it: an image container writes it to
//! `terminationMessagePath`, where the runtime mounts a host file beside the container's log
//! (emptied for each run); once the run has exited the agent reads the end of that file, or,
//! under `FallbackToLogsOnError` when it is empty and the container failed, the end of the log.
//!
//! Only the last few KiB of either file are read, whatever its size, so the agent reads them
//! in place rather than on the blocking pool.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flotilla_kernel::object::{Container, Pod};
use flotilla_node_os::ContainerState;
use flotilla_node_os::sandbox::FileMount;

use super::cri_log::decode;
use super::logs::{pod_log_path, written_log};
use super::sync::PodRecord;

/// Kubernetes' limit on the message from the file: its last 4096 bytes.
const FILE_MAX_BYTES: usize = 4096;
/// Kubernetes' limits on the message from the log: its last 80 lines, of them the last 2048
/// bytes.
const LOG_MAX_LINES: usize = 80;
const LOG_MAX_BYTES: usize = 2048;

/// The file `container`, whose log is at `log_path`, writes its termination message to: its
/// `terminationMessagePath` over a host file beside the log. None for image `host`: its
/// process runs on the host's root, where writing that path would write the host's file and
/// nothing can be mounted for it alone (Kubernetes has no such container).
pub fn mount(container: &Container, log_path: &Path) -> Option<FileMount> {
    if container.image == Container::HOST_IMAGE || container.termination_message_path.is_empty() {
        return None;
    }
    Some(FileMount {
        target: PathBuf::from(&container.termination_message_path),
        source: log_path.with_extension("termination-log"),
    })
}

/// Reads into `record` the termination message of each container of `pod` that `observed`
/// shows exited, for the plan that records the exit.
pub fn observe(
    log_dir: &Path,
    pod: &Pod,
    observed: &BTreeMap<String, ContainerState>,
    record: &mut PodRecord,
) {
    for container in pod.spec.all_containers() {
        let Some(ContainerState::Exited { exit_code, .. }) = observed.get(&container.name) else {
            continue;
        };
        let log = pod_log_path(log_dir, pod, &container.name);
        let message = read(container, &log, *exit_code);
        record
            .containers
            .entry(container.name.clone())
            .or_default()
            .termination_message = Some(message);
    }
}

/// The termination message of `container`'s run that ended with `exit_code`; a read error is
/// the message, as in Kubernetes.
fn read(container: &Container, log: &Path, exit_code: i32) -> String {
    let mut message = String::new();
    if let Some(file) = mount(container, log) {
        match read_end(&file.source, FILE_MAX_BYTES + 1) {
            Ok(bytes) => message = tail(&bytes, usize::MAX, FILE_MAX_BYTES),
            Err(error) => {
                return format!(
                    "Error on reading termination log {}: {error}",
                    file.source.display()
                );
            }
        }
    }
    let fallback = container.termination_message_policy
        == Container::TERMINATION_MESSAGE_FALLBACK_TO_LOGS
        && exit_code != 0;
    if !message.is_empty() || !fallback {
        return message;
    }
    let (written, in_cri_format) = written_log(log);
    let read = if in_cri_format {
        // Each entry's timestamp, stream and tag take about 40 bytes of its line.
        let max = LOG_MAX_BYTES + 1 + LOG_MAX_LINES * 48;
        read_end(&written, max).map(|bytes| {
            // A read that starts inside the file starts inside an entry: skip to the next.
            let whole = match bytes.iter().position(|byte| *byte == b'\n') {
                Some(newline) if bytes.len() == max => &bytes[newline + 1..],
                _ => &bytes[..],
            };
            decode(whole)
        })
    } else {
        read_end(&written, LOG_MAX_BYTES + 1)
    };
    match read {
        Ok(bytes) => tail(&bytes, LOG_MAX_LINES, LOG_MAX_BYTES),
        Err(error) => format!("Error on reading termination message from logs: {error}"),
    }
}

/// The last `max` bytes of the file at `path`; none when there is no file (a run that never
/// wrote its log, or a runtime that mounts nothing).
fn read_end(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut file = match File::open(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        opened => opened?,
    };
    let max = u64::try_from(max).unwrap_or(u64::MAX);
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// What a message keeps of `bytes`: the last `max_lines` lines (a final newline ends the last
/// line, it does not start one), then of them the last `max_bytes` bytes, from the start of a
/// UTF-8 character. Given a file's last `max_bytes + 1` bytes, it keeps what it would keep of
/// the whole file.
fn tail(bytes: &[u8], max_lines: usize, max_bytes: usize) -> String {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, byte)| **byte == b'\n')
        .nth(max_lines.saturating_sub(1))
        .map_or(0, |(newline, _)| newline + 1);
    let lines = &bytes[start..];
    let cut = lines.len().saturating_sub(max_bytes);
    let mut kept = &lines[cut..];
    if cut > 0 {
        // At most three continuation bytes of a character whose start was cut off.
        let partial = kept
            .iter()
            .take(3)
            .take_while(|byte| **byte & 0xC0 == 0x80)
            .count();
        kept = &kept[partial..];
    }
    String::from_utf8_lossy(kept).into_owned()
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn container(image: &str, policy: &str) -> Container {
        Container {
            name: "c".into(),
            image: image.into(),
            termination_message_path: Container::DEFAULT_TERMINATION_MESSAGE_PATH.into(),
            termination_message_policy: policy.into(),
            ..Container::default()
        }
    }

    #[test]
    fn the_tail_keeps_the_last_lines_then_the_last_bytes() {
        let log: String = (1..=100).map(|n| format!("line {n}\n")).collect();
        let kept = tail(log.as_bytes(), 80, 2048);
        assert!(kept.starts_with("line 21\n"), "{kept}");
        assert!(kept.ends_with("line 100\n"));
        assert_eq!(tail(b"a\nb", 1, 2048), "b");
        assert_eq!(tail(b"a\nb\n", 1, 2048), "b\n");
        assert_eq!(tail(b"a\nb\n", 5, 2048), "a\nb\n");
        assert_eq!(tail(b"", 80, 2048), "");

        let long = "x".repeat(3000) + "\nend\n";
        let kept = tail(long.as_bytes(), 80, 2048);
        assert_eq!(kept.len(), 2048);
        assert!(kept.ends_with("x\nend\n"));

        // "é" is two bytes: the cut would leave half of one.
        let accents = "é".repeat(10);
        assert_eq!(tail(accents.as_bytes(), usize::MAX, 5), "éé");
    }

    #[test]
    fn the_end_of_a_file_gives_what_the_whole_file_would() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        for content in [
            (1..=500).map(|n| format!("line {n}\n")).collect::<String>(),
            "é".repeat(3000),
            "short\n".to_string(),
        ] {
            fs::write(&path, &content).unwrap();
            let end = read_end(&path, LOG_MAX_BYTES + 1).unwrap();
            assert_eq!(
                tail(&end, LOG_MAX_LINES, LOG_MAX_BYTES),
                tail(content.as_bytes(), LOG_MAX_LINES, LOG_MAX_BYTES)
            );
        }
        assert!(read_end(&dir.path().join("none"), 10).unwrap().is_empty());
    }

    #[test]
    fn the_file_is_the_message_and_a_failure_falls_back_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c.log");
        fs::write(&log, "starting\noops\n").unwrap();
        let file = dir.path().join("c.termination-log");
        let file_policy = container("busybox", Container::TERMINATION_MESSAGE_FILE);
        let fallback = container("busybox", Container::TERMINATION_MESSAGE_FALLBACK_TO_LOGS);
        assert_eq!(mount(&file_policy, &log).unwrap().source, file);

        assert_eq!(read(&file_policy, &log, 1), "", "no file yet");
        assert_eq!(read(&fallback, &log, 1), "starting\noops\n");
        assert_eq!(read(&fallback, &log, 0), "", "only a failure falls back");
        fs::write(&file, "bye").unwrap();
        assert_eq!(read(&file_policy, &log, 0), "bye");
        assert_eq!(read(&fallback, &log, 1), "bye");
        fs::write(&file, "y".repeat(5000)).unwrap();
        assert_eq!(read(&file_policy, &log, 0).len(), FILE_MAX_BYTES);
    }

    #[test]
    fn host_processes_have_no_file_but_may_fall_back_to_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("c.log");
        fs::write(&log, "oops\n").unwrap();
        fs::write(dir.path().join("c.termination-log"), "stale").unwrap();
        let host = container(
            Container::HOST_IMAGE,
            Container::TERMINATION_MESSAGE_FALLBACK_TO_LOGS,
        );
        assert_eq!(mount(&host, &log), None);
        assert_eq!(read(&host, &log, 2), "oops\n");
        let mut unset = container("busybox", Container::TERMINATION_MESSAGE_FILE);
        unset.termination_message_path.clear();
        assert_eq!(mount(&unset, &log), None);
    }
}
