//! The store's small tables (`images.json`, `last-used.json`): JSON files replaced whole —
//! written aside, synced, renamed — so that a crash leaves the old or the new table.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ImageError;

/// The table in `root/file`, `None` if there is none yet.
pub fn load<T: DeserializeOwned>(root: &Path, file: &str) -> Result<Option<T>, ImageError> {
    let path = root.join(file);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ImageError::Io { path, source }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ImageError::InvalidDocument {
            what: path.display().to_string(),
            message: e.to_string(),
        })
}

/// Replaces `root/file` with `table`.
pub fn save<T: Serialize>(root: &Path, file: &str, table: &T) -> Result<(), ImageError> {
    let path = root.join(file);
    let staging = root.join(format!(".{file}.{}", std::process::id()));
    let text = serde_json::to_vec_pretty(table).map_err(io::Error::other);
    let written = text.and_then(|text| {
        let mut file = File::create(&staging)?;
        file.write_all(&text)?;
        file.sync_all()
    });
    written.map_err(ImageError::io(&staging))?;
    fs::rename(&staging, &path).map_err(ImageError::io(&path))
}
