//! Damaged data directories: opening them fails with an error naming the file, never with a
//! silently empty store.

use std::path::{Path, PathBuf};

use flotilla_store::{Store, StoreError};

use crate::{chain, open, put};

/// A store with data in SST files (flushed) and a WAL.
fn populated(dir: &Path) {
    let store = open(dir);
    for i in 0..50u32 {
        put(&store, format!("key/{i}").as_bytes(), &[i as u8; 100]);
    }
    store.defragment().expect("flush to SST files");
    put(&store, b"after-flush", b"v");
}

fn files(dir: &Path, matching: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| matching(&path.file_name().expect("name").to_string_lossy()))
        .collect();
    found.sort();
    found
}

fn open_error(dir: &Path) -> String {
    match Store::open(dir) {
        Err(error) => chain(&error),
        Ok(store) => panic!("damaged store opened at revision {}", store.revision()),
    }
}

fn name(path: &Path) -> String {
    path.file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn garbage_in_current_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    populated(dir.path());
    std::fs::write(dir.path().join("CURRENT"), b"garbage\n").expect("damage");
    let error = open_error(dir.path());
    assert!(error.contains(&dir.path().display().to_string()), "{error}");
    assert!(error.contains("CURRENT"), "{error}");
}

#[test]
fn a_missing_current_is_not_a_fresh_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    populated(dir.path());
    std::fs::remove_file(dir.path().join("CURRENT")).expect("remove");
    match Store::open(dir.path()) {
        Err(
            error @ StoreError::MissingFile {
                file: "CURRENT", ..
            },
        ) => {
            assert!(error.to_string().contains("CURRENT"), "{error}");
        }
        other => panic!(
            "expected a missing CURRENT, got {:?}",
            other.map(|s| s.revision())
        ),
    }
}

#[test]
fn a_truncated_manifest_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    populated(dir.path());
    let current = std::fs::read_to_string(dir.path().join("CURRENT")).expect("CURRENT");
    let manifest = dir.path().join(current.trim());
    let bytes = std::fs::read(&manifest).expect("read");
    std::fs::write(&manifest, &bytes[..bytes.len() / 3]).expect("truncate");
    let error = open_error(dir.path());
    assert!(error.contains(&name(&manifest)), "{error}");
}

#[test]
fn a_truncated_sst_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    populated(dir.path());
    let tables = files(dir.path(), |name| name.ends_with(".sst"));
    assert!(!tables.is_empty());
    for table in &tables {
        let bytes = std::fs::read(table).expect("read");
        std::fs::write(table, &bytes[..bytes.len() / 2]).expect("truncate");
    }
    let error = open_error(dir.path());
    assert!(tables.iter().any(|t| error.contains(&name(t))), "{error}");
}

#[test]
fn flipped_bits_in_an_sst_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    populated(dir.path());
    let table = files(dir.path(), |name| name.ends_with(".sst"))
        .into_iter()
        .max_by_key(|path| std::fs::metadata(path).expect("stat").len())
        .expect("an sst");
    let mut bytes = std::fs::read(&table).expect("read");
    for byte in bytes.iter_mut().take(200).skip(20) {
        *byte ^= 0x5a;
    }
    std::fs::write(&table, &bytes).expect("damage");
    let error = open_error(dir.path());
    assert!(error.contains(&name(&table)), "{error}");
}
