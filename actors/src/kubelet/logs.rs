//! Serving container logs to the API server: a snapshot (optionally the last lines) and, when
//! followed, what is appended until the caller goes away.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use flotilla_kernel::api::{ApiError, ErrorCode, Response};
use flotilla_node_os::{follow_log, read_log};

/// Largest log chunk in one response frame.
const CHUNK: usize = 64 * 1024;

/// Where a container's log lives under the agent's log directory.
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

pub async fn serve(
    path: PathBuf,
    follow: bool,
    tail_lines: Option<u64>,
    reply: mpsc::Sender<Response>,
) {
    if let Err(error) = stream(&path, follow, tail_lines, &reply).await {
        let _ = reply.send(Response::Error(error)).await;
    }
}

async fn stream(
    path: &Path,
    follow: bool,
    tail_lines: Option<u64>,
    reply: &mpsc::Sender<Response>,
) -> Result<(), ApiError> {
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
        for chunk in bytes.chunks(CHUNK) {
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
                    if reply.send(Response::Log(bytes)).await.is_err() {
                        return Ok(());
                    }
                }
                Some(Err(e)) => return Err(unavailable(&e)),
                None => return Ok(()),
            },
        }
    }
}
