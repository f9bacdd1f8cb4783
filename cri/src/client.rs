//! The connection to a CRI runtime: one HTTP/2 channel over its unix socket, shared by the
//! runtime and image services.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::proto::image_service_client::ImageServiceClient;
use crate::proto::runtime_service_client::RuntimeServiceClient;
use crate::proto::{VersionRequest, VersionResponse};

/// How long connecting to the socket, and the runtime's first answer, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the CRI runtime could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error(
        "container runtime endpoint {0:?}: expected unix:///path/to/socket (or an absolute path)"
    )]
    Endpoint(String),
    #[error("cannot connect to the container runtime at {path}: {message}")]
    Connect { path: PathBuf, message: String },
    #[error("the container runtime at {path} does not speak CRI runtime.v1: {message}")]
    Version { path: PathBuf, message: String },
}

/// The socket of `endpoint`: `unix:///run/containerd/containerd.sock` as the kubelet's
/// `--container-runtime-endpoint` takes it, or the absolute path alone.
pub fn socket_path(endpoint: &str) -> Result<PathBuf, CriError> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if path.starts_with('/') && !path.contains('\0') {
        Ok(PathBuf::from(path))
    } else {
        Err(CriError::Endpoint(endpoint.to_string()))
    }
}

/// The runtime and image services of one CRI runtime.
#[derive(Clone)]
pub struct CriClient {
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl CriClient {
    /// Connects to the socket at `path` and checks that the runtime answers runtime.v1's
    /// `Version`.
    pub async fn connect(path: &Path) -> Result<(Self, VersionResponse), CriError> {
        let socket = path.to_path_buf();
        // The URI is not used to connect (the connector dials the socket); h2 needs one.
        let channel = Endpoint::from_static("http://cri.local")
            .connect_timeout(CONNECT_TIMEOUT)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let socket = socket.clone();
                async move {
                    let stream = tokio::net::UnixStream::connect(socket).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(stream))
                }
            }))
            .await
            .map_err(|error| CriError::Connect {
                path: path.to_path_buf(),
                message: error_chain(&error),
            })?;
        let mut client = Self {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        };
        let asked = client.runtime.version(VersionRequest {
            version: "v1".to_string(),
        });
        // A runtime that takes the connection but never answers must not hold up the agent.
        let version = match tokio::time::timeout(CONNECT_TIMEOUT, asked).await {
            Ok(answered) => answered.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(
                "no answer to Version in time",
            )),
        }
        .map_err(|status| CriError::Version {
            path: path.to_path_buf(),
            message: status.message().to_string(),
        })?;
        Ok((client, version))
    }
}

/// An error and its sources, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_unix_sockets() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").unwrap(),
            PathBuf::from("/run/containerd/containerd.sock")
        );
        assert_eq!(
            socket_path("/run/crio/crio.sock").unwrap(),
            PathBuf::from("/run/crio/crio.sock")
        );
        for bad in [
            "tcp://127.0.0.1:5000",
            "unix://relative.sock",
            "containerd.sock",
            "",
        ] {
            let error = socket_path(bad).unwrap_err().to_string();
            assert!(error.contains("expected unix:///"), "{bad}: {error}");
        }
    }
}
