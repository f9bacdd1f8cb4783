//! The admin config a flotilla server writes (`DATA_DIR/admin.conf`), read as an operator's tool
//! reads it: where the API is and the admin's mutual-TLS credentials.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use flotilla_transport::{Client, ClientOptions, Credentials};

/// The parts of the admin config a client needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminConfig {
    server: SocketAddr,
    server_name: String,
    ca: String,
    cert: String,
    key: String,
}

/// A QUIC client of the server the admin config at `path` names, with its credentials; nothing
/// is sent until the first call (which must be made inside a tokio runtime).
pub fn admin_transport(path: &Path, options: ClientOptions) -> Result<Client> {
    let text =
        fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    let config: AdminConfig = serde_saphyr::from_str(&text)
        .with_context(|| format!("could not parse {}", path.display()))?;
    let credentials = Credentials {
        cert_pem: config.cert,
        key_pem: config.key,
        ca_pem: config.ca,
    };
    Client::with_options(config.server, &config.server_name, &credentials, options)
        .with_context(|| format!("could not prepare a client of {}", config.server))
}
