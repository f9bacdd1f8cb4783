//! `flotilla user add NAME --role admin|viewer`: a client config for an operator, signed with
//! the cluster CA on the machine that holds it (like `kubeadm kubeconfig user`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use flotilla_kernel::object::check_dns1123_subdomain;
use flotilla_transport::{ClusterPki, Identity};

use super::terminal;
use crate::config::ClientConfig;
use crate::ttl::parse_ttl;

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Write a client config for a new operator.
    Add(AddArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The operator's name, as denials and logs will show it.
    name: String,
    /// admin may do everything; viewer may read everything but Secrets.
    #[arg(long, value_parser = ["admin", "viewer"])]
    role: String,
    /// The data dir of the server (its CA and admin.conf live there).
    #[arg(long, default_value = "/var/lib/flotilla")]
    data_dir: PathBuf,
    /// Where to write the config (default: NAME.conf in the current directory).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// How long the certificate is valid, e.g. 30d.
    #[arg(long, default_value = "365d", value_parser = parse_ttl)]
    ttl: Duration,
}

pub fn run(command: UserCommand) -> anyhow::Result<ExitCode> {
    let UserCommand::Add(args) = command;
    if let Err(why) = check_dns1123_subdomain(&args.name) {
        bail!("user name {:?}: {why}", args.name);
    }
    let pki_dir = args.data_dir.join("pki");
    if !pki_dir.exists() {
        bail!(
            "no cluster CA in {}: run this on the server, or pass its --data-dir",
            pki_dir.display()
        );
    }
    let pki = ClusterPki::load_or_create(&pki_dir)?;
    let admin = ClientConfig::load(&args.data_dir.join("admin.conf"))?;
    let credentials = pki.issue_client(&Identity::new(&args.name, &args.role), args.ttl)?;
    let config = ClientConfig::new(admin.server, &admin.server_name, credentials);
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}.conf", args.name)));
    if output.exists() {
        bail!("{} exists; pick another --output", output.display());
    }
    config
        .save(&output)
        .with_context(|| format!("writing {}", output.display()))?;
    terminal::print_line(format!(
        "wrote {} for {} (role {}); use it with --config {0}",
        output.display(),
        args.name,
        args.role
    ))?;
    Ok(ExitCode::SUCCESS)
}
