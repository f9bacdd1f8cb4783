//! `flotilla user add|list|revoke`: operators' certificates. An admin asks the API server for
//! a certificate for a new operator (like approving a Kubernetes CSR): the key is made here and
//! only a signing request travels; the result is a client config for that operator. Every
//! certificate is recorded, so `user revoke` cuts its holder off at once, open connections too.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use flotilla_kernel::api::{ApiClient, Request};
use flotilla_kernel::object::check_dns1123_subdomain;
use flotilla_transport::{Credentials, new_csr};

use super::table::{Table, expiry, span};
use super::terminal;
use crate::config::ClientConfig;
use crate::ttl::parse_ttl;

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Write a client config for a new operator, with a certificate from the API server.
    Add(AddArgs),
    /// List operators' certificates that have not expired.
    List,
    /// Revoke every certificate of an operator; their open connections are closed.
    Revoke { name: String },
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The operator's name, as denials and logs will show it.
    name: String,
    /// admin may do everything; viewer may read everything but Secrets.
    #[arg(long, value_parser = ["admin", "viewer"])]
    role: String,
    /// Where to write the config (default: NAME.conf in the current directory).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// How long the certificate is valid, e.g. 8h for a short-lived one, 30d.
    #[arg(long, default_value = "365d", value_parser = parse_ttl)]
    ttl: Duration,
}

pub async fn run(
    command: UserCommand,
    api: &ApiClient,
    config: &ClientConfig,
) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add(args) => add(args, api, config).await,
        UserCommand::List => list(api).await,
        UserCommand::Revoke { name } => {
            let revoked = api
                .revoke_user(&name)
                .await
                .with_context(|| format!("revoking user {name:?}"))?;
            terminal::print_line(format!("user {name:?}: {revoked} certificate(s) revoked"))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn add(args: AddArgs, api: &ApiClient, config: &ClientConfig) -> anyhow::Result<ExitCode> {
    if let Err(why) = check_dns1123_subdomain(&args.name) {
        bail!("user name {:?}: {why}", args.name);
    }
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}.conf", args.name)));
    if output.exists() {
        bail!("{} exists; pick another --output", output.display());
    }
    let (key_pem, csr_pem) = new_csr(&args.name)?;
    let request = Request::IssueUser {
        name: args.name.clone(),
        role: args.role.clone(),
        validity_seconds: args.ttl.as_secs(),
        csr_pem,
    };
    let (cert_pem, ca_pem) = api
        .certificate(request)
        .await
        .with_context(|| format!("issuing a certificate for {:?}", args.name))?;
    let credentials = Credentials {
        cert_pem,
        key_pem,
        ca_pem,
    };
    ClientConfig::new(config.server, &config.server_name, credentials)
        .save(&output)
        .with_context(|| format!("writing {}", output.display()))?;
    terminal::print_line(format!(
        "wrote {} for {} (role {}, valid {}); use it with --config {0}",
        output.display(),
        args.name,
        args.role,
        span(args.ttl),
    ))?;
    Ok(ExitCode::SUCCESS)
}

async fn list(api: &ApiClient) -> anyhow::Result<ExitCode> {
    let records = api.list_users().await.context("listing users")?;
    let now = SystemTime::now();
    let mut table = Table::new(["NAME", "ROLE", "SERIAL", "EXPIRES", "STATUS"]);
    for record in records {
        let left = expiry(now, record.expires.system_time());
        let status = if record.revoked { "Revoked" } else { "Valid" };
        table.push(vec![
            record.name,
            record.role,
            record.serial,
            left,
            status.to_string(),
        ]);
    }
    terminal::print(&table.render())?;
    Ok(ExitCode::SUCCESS)
}
