//! `flotilla store serve`: one store on its own QUIC endpoint, for benchmarks, tests and tools
//! that want flotilla's etcd without a cluster. Same PKI, admin config and wire as a cluster's
//! API, so `flotilla store --config DATA_DIR/admin.conf ...` works against it unchanged.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use flotilla_actors::store_service::{StoreFront, StoreService};
use flotilla_store::{Store, StoreOptions};
use flotilla_transport::{ClusterPki, Server, ServerOptions};

use crate::boot::{CERT_VALIDITY, hostname, server_names, write_admin_config};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Where the store and its certificates live.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Address to serve on (QUIC, mutual TLS).
    #[arg(long, default_value = "127.0.0.1:7444")]
    pub listen: SocketAddr,
    /// Size of the data dir at which writes stop with a `no space` alarm (bytes).
    #[arg(long, default_value_t = StoreOptions::default().quota_bytes)]
    pub quota_bytes: u64,
    /// Largest transaction accepted (key and value bytes).
    #[arg(long, default_value_t = StoreOptions::default().max_request_bytes)]
    pub max_request_bytes: usize,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data dir {}", args.data_dir.display()))?;
    let pki = ClusterPki::load_or_create(&args.data_dir.join("pki"))?;
    let credentials = pki.issue_server(
        &server_names(&args.listen, &hostname()?, &[]),
        CERT_VALIDITY,
    )?;
    write_admin_config(&args.data_dir, &args.listen, &pki, false)?;
    let options = StoreOptions {
        quota_bytes: args.quota_bytes,
        max_request_bytes: args.max_request_bytes,
        ..StoreOptions::default()
    };
    let store = Store::open_with(&args.data_dir.join("store"), options)?;
    let service = Arc::new(StoreService::new(store, args.data_dir.clone()));
    let server = Server::bind_with(args.listen, &credentials, ServerOptions::default())
        .with_context(|| format!("serving the store on {}", args.listen))?;
    tracing::info!(
        addr = %server.local_addr(),
        config = %args.data_dir.join("admin.conf").display(),
        "store serving"
    );
    let mut terminate = signal(SignalKind::terminate())?;
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    server.serve(Arc::new(StoreFront(service)), stop).await?;
    tracing::info!("store stopped");
    Ok(ExitCode::SUCCESS)
}
