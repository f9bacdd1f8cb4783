//! QUIC clients made from an admin config (`DATA_DIR/admin.conf`), as an operator's tool
//! would make them: for the raw store of a `flotilla store serve` or of a cluster, and for a
//! cluster's API.

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

/// A new QUIC client (its own connection) for the server `config` names; must be called inside
/// a tokio runtime.
pub fn transport_client(config: &Path, options: ClientOptions) -> Result<Client> {
    let text = fs::read_to_string(config)
        .with_context(|| format!("could not read {}", config.display()))?;
    let config_file: AdminConfig = serde_saphyr::from_str(&text)
        .with_context(|| format!("could not parse {}", config.display()))?;
    let credentials = Credentials {
        cert_pem: config_file.cert,
        key_pem: config_file.key,
        ca_pem: config_file.ca,
    };
    Client::with_options(
        config_file.server,
        &config_file.server_name,
        &credentials,
        options,
    )
    .context("could not prepare a client")
}
