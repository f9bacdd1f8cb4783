//! Where a pull puts what it downloads before the store records it: `pulls/PID.N/` under the
//! store's root, one directory a pull, named by the process that pulls.
//!
//! A pull downloads without holding the store's lock (a large image takes minutes, and the
//! node's other images stay usable meanwhile), so its files cannot live in `ingest/`, which the
//! lock holder clears when it opens the store. Its directory is removed when the pull is
//! recorded or dropped; one left by a process that died is removed by the next opener of the
//! store, which knows it is stale because no process has that PID any more (a directory of a
//! live process is never removed; one whose PID was reused waits until that process ends).
//! The directory is on the store's file system, so recording renames files into `blobs/`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

use crate::digest::Digest;
use crate::error::ImageError;

const DIR: &str = "pulls";

static NEXT: AtomicU64 = AtomicU64::new(0);

/// One pull's download directory, removed when dropped.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// Makes a new download directory in the store at `root`.
    pub fn create(root: &Path) -> Result<Staging, ImageError> {
        let pulls = root.join(DIR);
        fs::create_dir_all(&pulls).map_err(ImageError::io(&pulls))?;
        let pid = std::process::id();
        loop {
            let dir = pulls.join(format!("{pid}.{}", NEXT.fetch_add(1, Ordering::Relaxed)));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(Staging { dir }),
                // Left by an earlier process with this PID: take the next number.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(ImageError::Io { path: dir, source }),
            }
        }
    }

    /// Where the download of blob `digest` goes.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // What is left is what recording did not take; a directory that cannot be removed now
        // is removed by an opener of the store once this process has ended.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes the download directories of processes that ended. Called by the store's lock
/// holder when it opens the store.
pub fn clear_stale(root: &Path) -> Result<(), ImageError> {
    let pulls = root.join(DIR);
    let entries = match fs::read_dir(&pulls) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ImageError::Io {
                path: pulls,
                source,
            });
        }
    };
    for entry in entries {
        let entry = entry.map_err(ImageError::io(&pulls))?;
        let name = entry.file_name();
        let owner = name
            .to_str()
            .and_then(|name| name.split_once('.'))
            .and_then(|(pid, _)| pid.parse::<i32>().ok());
        if owner.is_some_and(alive) {
            continue;
        }
        let path = entry.path();
        fs::remove_dir_all(&path).map_err(ImageError::io(&path))?;
    }
    Ok(())
}

/// Whether a process `pid` exists (one of another user counts).
fn alive(pid: i32) -> bool {
    pid > 0 && !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_directory_goes_with_its_pull_or_its_process() {
        let root = tempfile::tempdir().unwrap();
        let staging = Staging::create(root.path()).unwrap();
        let file = staging.path(&Digest::of(b"x"));
        fs::write(&file, b"x").unwrap();
        // A live pull's directory stays; a dead process's and a foreign name go.
        let pulls = root.path().join(DIR);
        let dead = pulls.join(format!("{}.0", i32::MAX));
        fs::create_dir(&dead).unwrap();
        fs::create_dir(pulls.join("junk")).unwrap();
        clear_stale(root.path()).unwrap();
        assert!(file.is_file());
        assert!(!dead.exists() && !pulls.join("junk").exists());
        drop(staging);
        assert_eq!(fs::read_dir(&pulls).unwrap().count(), 0);
    }
}
