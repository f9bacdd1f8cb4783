//! `flotilla store ...`: the raw store, for operators (like `etcdctl`) and benchmarks.
//! `serve` runs a store alone; `restore` works on a data dir offline; every other command is a
//! client of the store a cluster (or `store serve`) serves on its QUIC endpoint, admins only.

pub(crate) mod print;
mod serve;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;

use flotilla_actors::store_service::StoreClient;
use flotilla_store::{Expect, KeyRange, LeaseId, RangeRequest, Store, WatchItem, WatchRequest};

use crate::cli::report;
use crate::config::ClientConfig;

pub use serve::ServeArgs;

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Run a store alone on a QUIC endpoint (writes DATA_DIR/admin.conf to reach it).
    Serve(ServeArgs),
    /// Rebuild a store from a snapshot into an empty data dir (offline).
    Restore {
        file: PathBuf,
        /// The data dir of the store to create; its `store` directory must not exist yet.
        #[arg(long)]
        data_dir: PathBuf,
    },
    #[command(flatten)]
    Client(ClientCommand),
}

/// The commands that talk to a serving store.
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Read a key, or every key under a prefix.
    Get(GetArgs),
    /// Write a value (from the argument, or standard input with `-`).
    Put {
        key: String,
        value: String,
        /// Attach the key to this lease: it is deleted when the lease ends.
        #[arg(long)]
        lease: Option<u64>,
    },
    /// Delete a key, or every key under a prefix.
    Del {
        key: String,
        #[arg(long)]
        prefix: bool,
    },
    /// Print changes to a key or prefix as they happen, from a revision if given.
    Watch {
        key: String,
        #[arg(long)]
        prefix: bool,
        /// Print changes after this revision first (0: only new ones).
        #[arg(long, default_value_t = 0)]
        after: u64,
    },
    /// Drop the history through a revision and reclaim its space.
    Compact { revision: u64 },
    /// Write a snapshot of the live store to FILE.
    Snapshot { file: PathBuf },
    /// Revision, compaction (automatic included), disk use and alarms.
    Status,
    /// Rewrite the store's files so compacted history and deleted keys give their disk space
    /// back (etcdctl defrag).
    Defrag,
    /// Leases: keys attached to one are deleted when it expires or is revoked.
    #[command(subcommand)]
    Lease(LeaseCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum LeaseCommand {
    /// Grant a lease that lasts TTL (e.g. 30s, 5m) unless kept alive.
    Grant {
        #[arg(value_parser = crate::ttl::parse_ttl)]
        ttl: std::time::Duration,
    },
    /// Renew a lease to its full TTL from now.
    KeepAlive { id: u64 },
    /// End a lease now, deleting its keys.
    Revoke { id: u64 },
    /// A lease's TTL, time left and keys.
    Ttl { id: u64 },
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    key: String,
    /// Every key starting with KEY.
    #[arg(long)]
    prefix: bool,
    /// Read as of this revision (0: now).
    #[arg(long, default_value_t = 0)]
    rev: u64,
    /// At most this many keys (0: all).
    #[arg(long, default_value_t = 0)]
    limit: u64,
    /// Only the keys and their revisions.
    #[arg(long)]
    keys_only: bool,
    /// Only how many keys match.
    #[arg(long)]
    count_only: bool,
    /// `table` (default) or `json`.
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    output: String,
}

/// Runs a store command; client commands read the client config at `config`.
pub async fn run(command: StoreCommand, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Serve(args) => serve::run(args).await,
        StoreCommand::Restore { file, data_dir } => report(restore(&file, &data_dir)),
        StoreCommand::Client(command) => {
            let config = ClientConfig::load(&crate::config::resolve(config)?)?;
            let client = StoreClient::new(config.transport()?);
            let outcome = call(command, &client).await;
            client.transport().close().await;
            report(outcome)
        }
    }
}

async fn call(command: ClientCommand, client: &StoreClient) -> anyhow::Result<ExitCode> {
    match command {
        ClientCommand::Get(args) => {
            let range = key_range(&args.key, args.prefix);
            let request = RangeRequest {
                range,
                revision: args.rev,
                limit: args.limit,
                count_only: args.count_only,
                keys_only: args.keys_only,
            };
            let result = client.range(request).await?;
            let text = match args.output.as_str() {
                "json" => print::range_json(&result)?,
                _ => print::range_table(&result, args.count_only),
            };
            crate::cli::print(&text)?;
        }
        ClientCommand::Put { key, value, lease } => {
            let value = match value.as_str() {
                "-" => read_stdin()?,
                _ => value.into_bytes(),
            };
            let result = client
                .put_leased(key.as_bytes(), &value, Expect::Any, lease.map(LeaseId))
                .await?;
            crate::cli::print_line(format!("OK revision {}", result.revision))?;
        }
        ClientCommand::Del { key, prefix } => {
            let result = client.delete_range(key_range(&key, prefix)).await?;
            crate::cli::print_line(print::deleted(&result))?;
        }
        ClientCommand::Watch { key, prefix, after } => {
            let after = match after {
                0 => client.status().await?.revision,
                after => after,
            };
            let mut items = client
                .watch(WatchRequest::new(key_range(&key, prefix), after))
                .await?;
            while let Some(item) = items.next().await {
                if let WatchItem::Event(event) = item? {
                    crate::cli::print_line(print::event(&event))?;
                }
            }
        }
        ClientCommand::Compact { revision } => {
            client.compact(revision).await?;
            crate::cli::print_line(format!("compacted through revision {revision}"))?;
        }
        ClientCommand::Snapshot { file } => {
            let info = client.snapshot(&file).await?;
            crate::cli::print_line(print::snapshot(&file, &info))?;
        }
        ClientCommand::Status => {
            let status = client.status().await?;
            let auto = client.auto_compaction().await?;
            crate::cli::print(&print::status(&status, &auto, SystemTime::now()))?;
        }
        ClientCommand::Defrag => {
            let (before, after) = client.defragment().await?;
            crate::cli::print_line(print::defragmented(before, after))?;
        }
        ClientCommand::Lease(command) => lease(command, client).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn lease(command: LeaseCommand, client: &StoreClient) -> anyhow::Result<()> {
    let line = match command {
        LeaseCommand::Grant { ttl } => {
            let lease = client.grant_lease(ttl).await?;
            format!("lease {} granted with TTL {:?}", lease.id, lease.ttl)
        }
        LeaseCommand::KeepAlive { id } => {
            let lease = client.keep_alive(LeaseId(id)).await?;
            format!("lease {} renewed for {:?}", lease.id, lease.ttl)
        }
        LeaseCommand::Revoke { id } => {
            let revision = client.revoke_lease(LeaseId(id)).await?;
            format!("lease {id} revoked (revision {revision})")
        }
        LeaseCommand::Ttl { id } => print::lease(&client.lease_time_to_live(LeaseId(id)).await?),
    };
    crate::cli::print_line(line)?;
    Ok(())
}

fn key_range(key: &str, prefix: bool) -> KeyRange {
    if prefix {
        KeyRange::Prefix(key.as_bytes().to_vec())
    } else {
        KeyRange::Key(key.as_bytes().to_vec())
    }
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut value = Vec::new();
    std::io::stdin()
        .read_to_end(&mut value)
        .context("reading the value from standard input")?;
    Ok(value)
}

fn restore(file: &Path, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let info = Store::restore(file, &data_dir.join("store"))?;
    crate::cli::print_line(format!(
        "restored revision {} ({} records) into {}",
        info.revision,
        info.records,
        data_dir.join("store").display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
