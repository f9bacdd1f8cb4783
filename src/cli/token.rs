//! `flotilla token create|list|delete`: bootstrap tokens with which new machines join. The
//! token is made here and only its hash is stored (a Secret in `flotilla-system`); `create`
//! prints it once, with the CA pin a joining node checks the server against.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use flotilla_kernel::api::ApiClient;
use flotilla_kernel::object::{
    BOOTSTRAP_TOKEN_TYPE, BootstrapToken, Kind, SYSTEM_NAMESPACE, Secret, Time, TokenRecord,
};

use super::table::{Table, expiry, span};
use super::terminal;
use crate::config::ClientConfig;

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a single-use token and print it with the command that joins a node.
    Create {
        /// How long the token may be used, e.g. 30m, 24h, 7d.
        #[arg(long, default_value = "24h", value_parser = crate::ttl::parse_ttl)]
        ttl: Duration,
        /// A note shown by `token list`.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List tokens with their expiry and the node that used each.
    List,
    /// Delete a token by its id (the part before the dot).
    Delete { id: String },
}

pub async fn run(
    command: TokenCommand,
    api: &ApiClient,
    config: &ClientConfig,
) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create { ttl, description } => create(api, config, ttl, &description).await,
        TokenCommand::List => list(api).await,
        TokenCommand::Delete { id } => {
            let name = BootstrapToken::secret_name(&id);
            api.delete(Kind::Secret, SYSTEM_NAMESPACE, &name, None)
                .await
                .with_context(|| format!("deleting token {id}"))?;
            terminal::print_line(format!("token {id} deleted"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn create(
    api: &ApiClient,
    config: &ClientConfig,
    ttl: Duration,
    description: &str,
) -> anyhow::Result<ExitCode> {
    let token = BootstrapToken::generate()?;
    let expires = Time::from(SystemTime::now() + ttl);
    api.create(&token.record(expires, description))
        .await
        .context("storing the token")?;
    let pin = flotilla_transport::ca_pin(&config.ca).context("reading the cluster CA")?;
    terminal::print(&format!(
        "{token}\n\nJoin a machine, within {} (the token works once):\n  \
         flotilla node --server {} --token {token} --ca-hash {pin}\n",
        span(ttl),
        config.server
    ))?;
    Ok(ExitCode::SUCCESS)
}

async fn list(api: &ApiClient) -> anyhow::Result<ExitCode> {
    let (secrets, _) = api
        .list::<Secret>(Some(SYSTEM_NAMESPACE), None)
        .await
        .context("listing tokens")?;
    let now = SystemTime::now();
    let mut table = Table::new(["ID", "EXPIRES", "USED BY", "DESCRIPTION"]);
    for secret in secrets
        .iter()
        .filter(|s| s.secret_type == BOOTSTRAP_TOKEN_TYPE)
    {
        let row = match TokenRecord::from_secret(secret) {
            Ok(record) => vec![
                record.id,
                expiry(now, record.expires.system_time()),
                record.used_by.unwrap_or_else(|| "<unused>".to_string()),
                record.description,
            ],
            Err(error) => vec![
                secret.metadata.name.clone(),
                "?".to_string(),
                "?".to_string(),
                error.to_string(),
            ],
        };
        table.push(row);
    }
    terminal::print(&table.render())?;
    Ok(ExitCode::SUCCESS)
}
