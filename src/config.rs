//! The client configuration file: where the API is and the credentials to reach it. `flotilla
//! up` writes one for the admin; every other command reads one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};

use flotilla_kernel::api::ApiClient;
use flotilla_transport::{Client, Credentials};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// `HOST:PORT` of the API (QUIC).
    pub server: SocketAddr,
    /// The name the API's certificate must be valid for.
    pub server_name: String,
    pub ca: String,
    pub cert: String,
    pub key: String,
}

impl ClientConfig {
    pub fn new(server: SocketAddr, server_name: &str, credentials: Credentials) -> Self {
        Self {
            server,
            server_name: server_name.to_string(),
            ca: credentials.ca_pem,
            cert: credentials.cert_pem,
            key: credentials.key_pem,
        }
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the client config {}", path.display()))?;
        serde_saphyr::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
    }

    /// Writes the config readable only by its owner (it holds a private key).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = serde_saphyr::to_string(self).context("encoding the client config")?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        file.write_all(text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// A client of the API this config names; nothing is sent until the first call.
    pub fn connect(&self) -> anyhow::Result<ApiClient> {
        Ok(ApiClient::remote(self.transport()?))
    }

    /// The QUIC client underneath [`ClientConfig::connect`], for callers that swap
    /// credentials (a node renewing its certificate).
    pub fn transport(&self) -> anyhow::Result<Client> {
        Client::new(self.server, &self.server_name, &self.credentials())
            .with_context(|| format!("preparing a connection to {}", self.server))
    }

    pub fn credentials(&self) -> Credentials {
        Credentials {
            cert_pem: self.cert.clone(),
            key_pem: self.key.clone(),
            ca_pem: self.ca.clone(),
        }
    }
}

/// `~/.flotilla/config`, the default for operators.
pub fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".flotilla").join("config"))
}

/// The config to use: `--config`, else `$FLOTILLA_CONFIG` (clap fills the flag from it), else
/// `~/.flotilla/config`.
pub fn resolve(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = flag {
        return Ok(path);
    }
    match default_path() {
        Some(path) if path.exists() => Ok(path),
        _ => bail!(
            "no client config: pass --config FILE, set FLOTILLA_CONFIG, or run `flotilla up`, \
             which writes ~/.flotilla/config"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config");
        let config = ClientConfig::new(
            "127.0.0.1:7443".parse().unwrap(),
            "localhost",
            Credentials {
                cert_pem: "C\nD\n".into(),
                key_pem: "K".into(),
                ca_pem: "A".into(),
            },
        );
        config.save(&path).unwrap();
        let back = ClientConfig::load(&path).unwrap();
        assert_eq!(back.server, config.server);
        assert_eq!(back.cert, "C\nD\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_broken_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "server: [unclosed\n").unwrap();
        let error = ClientConfig::load(&path).unwrap_err().to_string();
        assert!(error.contains("config"), "{error}");
    }
}
