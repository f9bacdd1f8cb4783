//! Container log files: the runtime appends a container's stdout and stderr to one file, and
//! the node agent serves `logs` requests from it, either the tail or a live follow.
//!
//! The tail is found by reading backwards from the end in fixed-size blocks, so asking for the
//! last lines of a large log reads only those. Following polls the file's length (every
//! 200 ms) instead of using inotify: it works on every file system, and a container log does
//! not need lower latency. A file that shrinks was truncated, and is followed from its start.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

/// Largest piece read (and sent) at once.
const BLOCK: usize = 64 * 1024;

/// How often a followed file is checked for new data.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Chunks a follower may buffer before it waits for the receiver.
const FOLLOW_BUFFER: usize = 16;

/// Why a log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open log file {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read log file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The whole log, or its last `tail_lines` lines (a last line without a newline counts).
pub fn read_log(path: &Path, tail_lines: Option<usize>) -> Result<Vec<u8>, LogError> {
    let read_error = |source| LogError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(|source| LogError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let start = match tail_lines {
        None => 0,
        Some(lines) => tail_start(&mut file, lines, BLOCK).map_err(read_error)?,
    };
    file.seek(SeekFrom::Start(start)).map_err(read_error)?;
    let mut content = Vec::new();
    file.read_to_end(&mut content).map_err(read_error)?;
    Ok(content)
}

/// Follows a log file from `from_offset`: sends chunks as the file grows, until the receiver
/// is dropped (that is how a caller stops it) or reading fails (the error is the last item).
///
/// Must be called inside a tokio runtime.
pub fn follow_log(path: PathBuf, from_offset: u64) -> mpsc::Receiver<Result<Vec<u8>, LogError>> {
    let (sender, receiver) = mpsc::channel(FOLLOW_BUFFER);
    tokio::spawn(follow(path, from_offset, sender));
    receiver
}

async fn follow(path: PathBuf, mut offset: u64, sender: mpsc::Sender<Result<Vec<u8>, LogError>>) {
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(source) => {
            // Nobody may be listening any more; then there is nobody to tell.
            let _ = sender.send(Err(LogError::Open { path, source })).await;
            return;
        }
    };
    let mut ticks = tokio::time::interval(FOLLOW_POLL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut block = vec![0; BLOCK];
    loop {
        tokio::select! {
            () = sender.closed() => return,
            _ = ticks.tick() => {}
        }
        match send_new_data(&mut file, &mut offset, &mut block, &sender).await {
            Ok(Delivery::Continue) => {}
            Ok(Delivery::ReceiverGone) => return,
            Err(source) => {
                let _ = sender.send(Err(LogError::Read { path, source })).await;
                return;
            }
        }
    }
}

enum Delivery {
    Continue,
    ReceiverGone,
}

/// Sends everything between `offset` and the end of the file, moving `offset` along.
async fn send_new_data(
    file: &mut tokio::fs::File,
    offset: &mut u64,
    block: &mut [u8],
    sender: &mpsc::Sender<Result<Vec<u8>, LogError>>,
) -> io::Result<Delivery> {
    let len = file.metadata().await?.len();
    if len < *offset {
        *offset = 0;
    }
    file.seek(SeekFrom::Start(*offset)).await?;
    loop {
        let read = file.read(block).await?;
        let Some(chunk) = block.get(..read).filter(|chunk| !chunk.is_empty()) else {
            return Ok(Delivery::Continue);
        };
        *offset += read as u64;
        if sender.send(Ok(chunk.to_vec())).await.is_err() {
            return Ok(Delivery::ReceiverGone);
        }
    }
}

/// The offset where the last `lines` lines of `reader` begin, reading backwards `block` bytes
/// at a time. The newline that ends the last line does not start another one.
fn tail_start<R: Read + Seek>(reader: &mut R, lines: usize, block: usize) -> io::Result<u64> {
    let len = reader.seek(SeekFrom::End(0))?;
    if lines == 0 {
        return Ok(len);
    }
    let mut buffer = vec![0; block];
    let mut newlines = 0;
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(block as u64);
        // At most `block` bytes: `start` is at most `block` below `end`.
        let piece = &mut buffer[..(end - start) as usize];
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(piece)?;
        for (index, byte) in piece.iter().enumerate().rev() {
            let at = start + index as u64;
            if *byte == b'\n' && at + 1 != len {
                newlines += 1;
                if newlines == lines {
                    return Ok(at + 1);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::io::{Cursor, Write};

    use tokio::time::timeout;

    use super::*;

    fn tail(text: &str, lines: usize, block: usize) -> String {
        let mut cursor = Cursor::new(text.as_bytes());
        let start = tail_start(&mut cursor, lines, block).unwrap() as usize;
        text[start..].to_string()
    }

    #[test]
    fn tail_counts_lines_from_the_end() {
        for block in [1, 2, 3, 64] {
            assert_eq!(tail("a\nb\nc\n", 2, block), "b\nc\n", "block {block}");
            assert_eq!(tail("a\nb\nc", 1, block), "c", "block {block}");
            assert_eq!(tail("a\nb\nc\n", 1, block), "c\n", "block {block}");
            assert_eq!(tail("a\nb\nc\n", 10, block), "a\nb\nc\n", "block {block}");
            assert_eq!(tail("a\n\n\nb\n", 3, block), "\n\nb\n", "block {block}");
            assert_eq!(tail("a\nb\n", 0, block), "", "block {block}");
            assert_eq!(tail("", 3, block), "", "block {block}");
        }
    }

    #[test]
    fn read_log_returns_all_or_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        fs::write(&path, "one\ntwo\nthree\n").unwrap();
        assert_eq!(read_log(&path, None).unwrap(), b"one\ntwo\nthree\n");
        assert_eq!(read_log(&path, Some(2)).unwrap(), b"two\nthree\n");
    }

    #[test]
    fn read_log_of_a_missing_file_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.log");
        match read_log(&path, None) {
            Err(LogError::Open { path: reported, .. }) => assert_eq!(reported, path),
            other => panic!("unexpected {other:?}"),
        }
    }

    async fn next_text(receiver: &mut mpsc::Receiver<Result<Vec<u8>, LogError>>) -> String {
        let chunk = timeout(Duration::from_secs(5), receiver.recv())
            .await
            .expect("data within 5 s")
            .expect("follower alive")
            .expect("no read error");
        String::from_utf8(chunk).unwrap()
    }

    #[tokio::test]
    async fn follow_sees_appended_data_from_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        fs::write(&path, "old\nnew\n").unwrap();
        let mut receiver = follow_log(path.clone(), 4);
        assert_eq!(next_text(&mut receiver).await, "new\n");

        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"more\n").unwrap();
        assert_eq!(next_text(&mut receiver).await, "more\n");
    }

    #[tokio::test]
    async fn follow_restarts_after_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        fs::write(&path, "0123456789").unwrap();
        let mut receiver = follow_log(path.clone(), 10);
        fs::write(&path, "x\n").unwrap();
        assert_eq!(next_text(&mut receiver).await, "x\n");
    }

    #[tokio::test]
    async fn follow_of_a_missing_file_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut receiver = follow_log(dir.path().join("missing.log"), 0);
        let item = timeout(Duration::from_secs(5), receiver.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(item, Err(LogError::Open { .. })));
        assert!(receiver.recv().await.is_none());
    }
}
