//! Serving container logs to the API server: a snapshot (optionally the last lines) and, when
//! followed, what is appended until the caller goes away.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, Response};
use flotilla_kernel::object::Pod;
use flotilla_node_os::{follow_log, read_log};

use super::cri_log::CriLogDecoder;

/// Largest log chunk in one response frame.
const CHUNK: usize = 64 * 1024;

/// Where a container's log lives under the agent's log directory; a CRI runtime writes it
/// beside, in its own format, at [`cri_log_path`].
pub fn log_path(
    log_dir: &Path,
    namespace: &str,
    pod: &str,
    pod_uid: &str,
    container: &str,
) -> PathBuf {
    log_dir
        .join(format!("{namespace}_{pod}_{pod_uid}"))
        .join(format!("{container}.log"))
}

/// [`log_path`] of `container` of `pod`.
pub fn pod_log_path(log_dir: &Path, pod: &Pod, container: &str) -> PathBuf {
    let meta = &pod.metadata;
    log_path(log_dir, &meta.namespace, &meta.name, &meta.uid, container)
}

/// Where a CRI runtime writes the log of the container whose own log would be at `log`.
pub fn cri_log_path(log: &Path) -> PathBuf {
    log.with_extension("cri.log")
}

/// The file holding the log of the container whose own log would be at `log`: that file, or
/// the one a CRI runtime wrote instead (`true`: in the CRI's format).
pub fn written_log(log: &Path) -> (PathBuf, bool) {
    let cri = cri_log_path(log);
    if !log.exists() && cri.exists() {
        (cri, true)
    } else {
        (log.to_path_buf(), false)
    }
}

/// Serves the log of the container whose log is at `path` (see [`written_log`]).
pub async fn serve(
    path: PathBuf,
    follow: bool,
    tail_lines: Option<u64>,
    reply: mpsc::Sender<Response>,
) {
    let (path, in_cri_format) = written_log(&path);
    let decoder = in_cri_format.then(CriLogDecoder::default);
    if let Err(error) = stream(&path, follow, tail_lines, decoder, &reply).await {
        let _ = reply.send(Response::Error(error)).await;
    }
}

async fn stream(
    path: &Path,
    follow: bool,
    tail_lines: Option<u64>,
    mut decoder: Option<CriLogDecoder>,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ApiError> {
    let mut output = |bytes: Vec<u8>| match &mut decoder {
        Some(decoder) => decoder.feed(&bytes),
        None => bytes,
    };
    let unavailable = |e: &dyn std::fmt::Display| ApiError::new(ErrorCode::NotFound, e.to_string());
    let length = match tokio::fs::metadata(path).await {
        Ok(meta) => meta.len(),
        Err(_) if follow => 0,
        Err(e) => {
            return Err(unavailable(&format_args!(
                "no logs yet at {}: {e}",
                path.display()
            )));
        }
    };
    if length > 0 {
        let tail = tail_lines.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let owned = path.to_path_buf();
        let bytes = tokio::task::spawn_blocking(move || read_log(&owned, tail))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| unavailable(&e))?;
        for chunk in output(bytes).chunks(CHUNK) {
            if reply.send(Response::Log(chunk.to_vec())).await.is_err() {
                return Ok(());
            }
        }
    }
    if !follow {
        return Ok(());
    }
    let mut appended = follow_log(path.to_path_buf(), length);
    loop {
        tokio::select! {
            _ = reply.closed() => return Ok(()),
            chunk = appended.recv() => match chunk {
                Some(Ok(bytes)) => {
                    let bytes = output(bytes);
                    if !bytes.is_empty() && reply.send(Response::Log(bytes)).await.is_err() {
                        return Ok(());
                    }
                }
                Some(Err(e)) => return Err(unavailable(&e)),
                None => return Ok(()),
            },
        }
    }
}
